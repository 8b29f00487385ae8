"""Nothing we print can drive the terminal: stored posts with ESC/BEL/C0/C1 controls, OSC
window titles and OSC-8 links, U+009B CSI and bidi overrides, and rich markup in stored or
error text, through `search`, `--json`, `replay`, `analyze`, console panels and errors."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from bot.cli import main
from bot.model import Alert, Analysis, Mention, Post, Room
from bot.platforms.console import ConsolePlatform
from bot.render import Renderer

# What a terminal acts on: C0 but tab and newline, DEL, C1, and the bidi controls.
HAZARD_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

HOSTILE_TEXT = ("Kursk \x1b]0;pwned\x07 title \x1b[2J\x1b[H clear \x9b31m csi "
                "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\ \u202egnp.exe\u202c "
                "[/x] [link=https://evil.example]click[/link] [bold]loud[/bold] \x00\x08\x7f")


def hazards(text: str) -> list[str]:
    return sorted({f"U+{ord(c):04X}" for c in HAZARD_RE.findall(text)})


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def hostile_store(tmp_path, capsys) -> Path:
    """A store holding a post whose every field is hostile, made by `replay --config`."""
    config = tmp_path / "c.yaml"
    config.write_text(f"storage: {{path: {tmp_path / 'store.db'}}}\n")
    row = {"source_id": "\x1b]0;src\x07\u202esrc", "platform": "rss", "chat": "c\x1b[2J",
           "message_id": "1", "date": "2024-11-04T10:00:00+00:00", "text": HOSTILE_TEXT,
           "url": "https://example.org/\x1b]8;;https://evil.example\x07a\x9b",
           "author": "\x1b[31mRed\u202e [/x]"}
    path = tmp_path / "posts.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    assert main(["replay", str(path), "--config", str(config)]) == 0
    capsys.readouterr()
    return config


def test_search_prints_stored_controls_as_nothing_harmful(hostile_store, capsys):
    assert main(["search", "kursk", "--config", str(hostile_store)]) == 0
    out = capsys.readouterr().out
    assert hazards(out) == []
    assert "title" in out and "clear" in out and "gnp.exe" in out  # the text is still shown
    assert "[/x]" in out and "[link=https://evil.example]" in out  # markup shown as text
    assert "Red" in out  # the author names the source
    assert len(out.rstrip("\n").splitlines()) == 2  # one hit: header line and text line


def test_search_json_escapes_controls_and_loses_nothing(hostile_store, capsys):
    assert main(["search", "kursk", "--config", str(hostile_store), "--json"]) == 0
    out = capsys.readouterr().out
    assert hazards(out) == []
    (hit,) = [json.loads(line) for line in out.splitlines()]
    assert hit["text"] == HOSTILE_TEXT.replace("\x00", "\ufffd")  # the store keeps no NUL
    assert hit["source"] == "\x1b]0;src\x07\u202esrc"
    assert hit["url"].startswith("https://example.org/\x1b]8;;")


def test_replay_shows_markup_in_bad_lines_and_file_names_as_text(tmp_path, capsys):
    (tmp_path / "[red]posts[").mkdir()
    path = tmp_path / "[red]posts[" / "x].jsonl.gz"  # the path holds "[red]posts[/x]"
    good = json.dumps({"channel_id": 1, "message_id": 1, "date": "2024-11-04T10:00:00Z",
                       "text": "hello"})
    bad = json.dumps({"channel_id": 1, "message_id": 2, "date": "[/x] bad", "text": "x"})
    data = gzip.compress(f"{good}\n{bad}\n{good}\n".encode())
    path.write_bytes(data[:-12])  # the gzip trailer is cut off: a damage message names the file
    assert main(["replay", str(path)]) == 1
    captured = capsys.readouterr()
    assert "line 2: 'date' is not a date" in captured.err
    assert "[red]posts[/x].jsonl.gz is damaged after line" in captured.err
    assert "Traceback" not in captured.err


def test_analyze_output_and_errors_are_terminal_safe(capsys, monkeypatch):
    lines = [json.dumps({"id": "\x9b2J\u202eid\x1b]0;t\x07", "text": HOSTILE_TEXT}),
             json.dumps({"id": 2, "text": ["\x1b[2J"]})]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["analyze"]) == 1
    captured = capsys.readouterr()
    assert hazards(captured.out) == [] and hazards(captured.err) == []
    first = json.loads(captured.out.splitlines()[0])
    assert first["id"] == "\x9b2J\u202eid\x1b]0;t\x07"  # escaped in JSON, not lost
    assert "kursk" in [e["id"] for e in first["entities"]]


def test_error_messages_and_usage_errors_are_terminal_safe(tmp_path, capsys):
    assert main(["check-config", str(tmp_path / "\x1b]0;pwned\x07\u202e.yaml")]) == 2
    err = capsys.readouterr().err
    assert "cannot read config" in err and "pwned" in err and hazards(err) == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("rooms:\n  - id: \"r\\e[2J\\u202e\"\n    platform: console\n"
                   "    language: \"\\e]0;x\\a\"\n")
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "rooms[0]" in err and hazards(err) == []
    assert main(["search", "\x1b]0;x\x07 AND (", "--config", str(bad)]) != 0
    assert hazards(capsys.readouterr().err) == []
    with pytest.raises(SystemExit):
        main(["\x1b]0;pwned\x07"])
    err = capsys.readouterr().err
    assert "invalid choice" in err and hazards(err) == []


def test_log_lines_are_terminal_safe(tmp_path, capsys):
    import logging

    from bot.terminal import SafeFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("test.terminal")
    log.addHandler(handler)
    try:
        log.error("post %s failed", "\x1b]0;pwned\x07\u202e")
    finally:
        log.removeHandler(handler)
    assert "pwned" in stream.getvalue() and hazards(stream.getvalue()) == []


# -- console panels ---------------------------------------------------------------------------


def render_panel(text: str, width: int = 70, **post_kw) -> str:
    buf = io.StringIO()
    platform = ConsolePlatform(Renderer(), Console(file=buf, width=width, color_system=None))
    post = Post("gur", "telegram", "-1001", "1", text,
                date=datetime(2024, 11, 4, 18, 0, tzinfo=UTC), **post_kw)
    alert = Alert(post, "newsroom", "nk-kursk",
                  Analysis(mentions=(Mention("kursk", "Kursk", 0, 5),), lang="en"))
    asyncio.run(platform.send(Room("newsroom", "console", "", None, "en"), alert))
    return buf.getvalue()


def test_console_panel_drops_bidi_overrides_and_shows_markup_as_text():
    out = render_panel("Kursk \u202egnp.exe\u2066 [link=https://evil.example]x[/link] [/x]",
                       origin="\u202eevil origin")
    assert hazards(out) == []
    assert "gnp.exe" in out and "[link=https://evil.example]x[/link] [/x]" in out
    assert "evil origin" in out


def test_console_panel_title_does_not_repeat_the_text_or_run_into_the_border():
    first = "North Korean troops have arrived in the Kursk region of Russia, officials said"
    out = render_panel(first + "\nsecond line", width=70,
                       origin="A very long channel title that goes on and on and on forever")
    top = out.splitlines()[0]
    assert "North Korean" not in top  # the body shows it already
    assert "newsroom" in top  # where the alert goes stays visible
    assert re.fullmatch(r"╭─ .+ ─+╮", top), top  # a gap of border before the corner
    assert len(top) == 70
