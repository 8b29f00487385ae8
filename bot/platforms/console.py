"""This module contains the console platform: alerts printed to a terminal with rich.

It is a real platform (the demo and `run` with `platform: console` rooms use it), so every
alert passes through the same outbox and relay as on Telegram or Discord.
"""

from __future__ import annotations

import itertools

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from bot.model import Alert, Room
from bot.render import AlertView, Renderer, truncate
from bot.terminal import safe, safe_line

_TOPIC_STYLE = {"conflict": "red", "nk_troops": "magenta"}


class ConsolePlatform:
    name = "console"

    def __init__(self, renderer: Renderer, console: Console | None = None) -> None:
        self.renderer = renderer
        self.console = console or Console(highlight=False)
        self._ids = itertools.count(1)
        self.sent: list[AlertView] = []
        self._shown_sources: dict[str, int] = {}  # ref -> later reports already printed

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, room: Room, alert: Alert) -> str | None:
        view = self.renderer.view(alert)
        self.sent.append(view)
        self.console.print(self.panel(room, alert, view))
        return str(next(self._ids))

    async def edit(self, room: Room, ref: str, alert: Alert) -> None:
        shown = self._shown_sources.get(ref, 0)
        if len(alert.also) > shown:  # later reports of the alert's story
            self._shown_sources[ref] = len(alert.also)
            for extra in alert.also[shown:]:
                line = Text(f"story update, alert #{ref}: +{alert.extra_sources} sources; new: ",
                            style="dim")
                line.append(safe_line(extra.source), style="bold")
                if extra.link:
                    line.append(" " + safe_line(extra.link))
                self.console.print(line)
            if not alert.translation:
                return
        view = self.renderer.view(alert)
        what = "translation arrived for" if view.translation else "post edited, updated"
        body = Text(f"{what} alert #{ref}: ", style="dim")
        body.append(safe(view.translation or view.original), style="bold")
        self.console.print(body)

    def panel(self, room: Room, alert: Alert, view: AlertView) -> Panel:
        body = Text()
        if view.translation:
            body.append(_highlight(view.translation, []))
            body.append("\n\n")
            body.append("original: ", style="dim")
        spans = [(m.start, m.end) for m in alert.analysis.mentions]
        body.append(_highlight(view.original, spans))
        if view.note:
            body.append(f"\n\n⚠ {safe(view.note)}", style="yellow")
        body.append("\n\n")
        meta = [
            ("room", f"{room.id} ({room.language})"),
            ("source", view.source),
            ("link", view.link or "—"),
            ("language", view.language_label + f", {alert.analysis.lang_confidence:.2f}"),
            ("entities", ", ".join(e.name for e in view.entities) or "—"),
            ("topics", ", ".join(view.topics) or "—"),
            ("matched", view.subscription),
        ]
        if view.extra_sources:
            more = f": {view.also_names()}" if view.also else ""
            meta.append(("also", f"+{view.extra_sources} sources{more}"))
        for i, (key, value) in enumerate(meta):
            body.append(f"{key:>9}: ", style="dim")
            # Source names (a forward's origin title) and the rest come from outside too.
            body.append(safe_line(value), style="bold cyan" if key == "entities" else "")
            if i < len(meta) - 1:
                body.append("\n")
        style = next((_TOPIC_STYLE[t] for t in view.topics if t in _TOPIC_STYLE), "blue")
        # The body starts with the headline: the title says where the alert comes from and
        # goes, short enough to leave the border's corner and the date visible.
        to = f" → {room.id}" + (" (edited)" if view.edited else "")
        room_for_source = max(10, min(self.console.width - 30, 72) - len(to))
        title = Text(safe_line(truncate(view.source, room_for_source) + to), style="bold")
        return Panel(body, title=title, title_align="left", border_style=style,
                     subtitle=view.date.strftime("%Y-%m-%d %H:%M UTC"), subtitle_align="right")


def _highlight(text: str, spans: list[tuple[int, int]]) -> Text:
    """Plain text (terminal controls and bidi overrides removed) with entity spans highlighted."""
    out = Text(safe(text))
    for start, end in spans:
        out.stylize("bold yellow", start, end)
    return out
