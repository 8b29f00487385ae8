"""This module contains the end-to-end tests that no secret reaches the terminal or a log.

`wirewatch run` runs as a real child process against loopback servers that refuse its token
in every way a server can: the fake Bot API with another token (401), a wrong `base_url`
(404), servers whose error bodies echo the request path (JSON and plain text, so that
python-telegram-bot logs the body at ERROR), a 502 echoing the path, and the fake Discord
refusing the token. Neither stdout nor stderr may contain the token, with `-v` or without.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import yaml
from aiohttp import web

from bot import logsafe
from tests.fakes.botapi import FakeBotApi
from tests.fakes.loopback import serve
from tests.integration.discord_helpers import TOKEN_ENV, fake_discord

REPO = Path(__file__).resolve().parents[2]
TOKEN = "7000000002:AAsecretTokenThatMustNeverBePrinted12345"
ODD_TOKEN = "not-token-shaped-secret-value"  # only its registration can redact it
DISCORD_TOKEN = "MTAwMDAwMDAwMDAwMDAwMDAx.GsEcRt.ThisDiscordTokenMustNeverBePrinted00"
WEBHOOK = "https://hooks.example.org/services/T000/B000/secretwebhookpath"


def echo_server() -> web.Application:
    """A misconfigured proxy: every answer quotes the path it was asked for."""

    async def handle(request: web.Request) -> web.Response:
        mode = request.match_info["mode"]
        if mode == "json404":
            return web.json_response({"ok": False, "error_code": 404,
                                      "description": f"Not Found: {request.path}"}, status=404)
        if mode == "json401":
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": f"Unauthorized: {request.path}"}, status=401)
        if mode == "text404":
            return web.Response(status=404, text=f"404 page not found: {request.path}")
        return web.Response(status=502, text=f"bad gateway while fetching {request.url}")

    app = web.Application()
    app.router.add_route("*", "/{mode}/bot{token}/{method}", handle)
    return app


async def wirewatch_run(tmp: Path, name: str, config: dict, env: dict[str, str],
                        verbose: bool) -> tuple[int, str]:
    path = tmp / f"{name}.yaml"
    config = {"storage": {"path": str(tmp / f"{name}.db")}, **config}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    args = [sys.executable, "-m", "bot", *(["-v"] if verbose else []), "run", "--config", str(path)]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=REPO, env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode()


def telegram(base_url: str) -> dict:
    return {"telegram": {"base_url": base_url},
            "rooms": [{"id": "desk", "platform": "telegram", "chat": -1002000000001},
                      {"id": "hook", "platform": "webhook", "url_env": "WW_TEST_WEBHOOK"}]}


async def test_a_refused_token_is_never_printed(tmp_path) -> None:
    runner, echo = await serve(echo_server())
    try:
        async with FakeBotApi() as api, fake_discord(token="the-right-discord-token") as discord:
            env = {"TELEGRAM_BOT_TOKEN": TOKEN, "WW_TEST_WEBHOOK": WEBHOOK, TOKEN_ENV: DISCORD_TOKEN}
            discord_config = {"discord": {"token_env": TOKEN_ENV, "api_base": discord.api_base},
                              "rooms": [{"id": "d", "platform": "discord", "channel": 3003}]}
            cases = {
                "revoked": (telegram(api.base_url), env, True),  # the fake has another token
                "wrong-base-url": (telegram(f"{api.url}/no/such/bot"), env, False),
                "echo-json-404": (telegram(f"{echo}/json404/bot"), env, True),
                "echo-json-401": (telegram(f"{echo}/json401/bot"), env, False),
                "echo-text-404": (telegram(f"{echo}/text404/bot"), env, True),
                "echo-502": (telegram(f"{echo}/bad/bot"), env, True),
                "odd-token": (telegram(f"{echo}/text404/bot"),
                              {**env, "TELEGRAM_BOT_TOKEN": ODD_TOKEN}, True),
                "discord": (discord_config, env, True),
            }
            results = await asyncio.gather(*(
                wirewatch_run(tmp_path, name, config, case_env, verbose)
                for name, (config, case_env, verbose) in cases.items()))
    finally:
        await runner.cleanup()
    outputs = dict(zip(cases, results, strict=True))
    for name, (code, output) in outputs.items():
        assert code != 0, (name, output)
        for secret in (TOKEN, ODD_TOKEN, DISCORD_TOKEN, WEBHOOK, "secretTokenThat"):
            assert secret not in output, (name, output)
        assert "Traceback" not in output.split("error:")[-1], (name, output)
    # Each error names the variable, and what to check.
    assert "TELEGRAM_BOT_TOKEN was refused by Telegram (401 Unauthorized)" in outputs["revoked"][1]
    assert "TELEGRAM_BOT_TOKEN was refused by Telegram (401 Unauthorized)" in outputs["echo-json-401"][1]
    for name in ("wrong-base-url", "echo-json-404", "echo-text-404", "odd-token"):
        assert "404 Not Found" in outputs[name][1] and "telegram.base_url" in outputs[name][1]
        assert "TELEGRAM_BOT_TOKEN" in outputs[name][1]
    # The library's own ERROR line about the body is there, with the token cut out of it.
    assert "Can not load invalid JSON data" in outputs["echo-text-404"][1]
    assert "page not found: /text404/bot[REDACTED]/getMe" in outputs["echo-text-404"][1]
    assert "could not start telegram" in outputs["echo-502"][1]
    assert f"{TOKEN_ENV} was refused by Discord (401 Unauthorized)" in outputs["discord"][1]
    # discord.py's voice warnings are silenced (wirewatch never joins voice).
    assert "voice will NOT be supported" not in outputs["discord"][1]


def test_the_filter_redacts_messages_arguments_and_tracebacks(caplog) -> None:
    logsafe.add_secret("a-configured-secret-value")
    record_logger = logging.getLogger("tests.secrets")
    handler = logging.StreamHandler()
    caplog.handler.addFilter(logsafe.RedactingFilter())
    try:
        raise RuntimeError(f"GET http://x/bot{TOKEN}/getMe failed with a-configured-secret-value")
    except RuntimeError:
        record_logger.exception("request to %s failed", f"/bot{TOKEN}/getMe")
    record_logger.warning("Authorization: Bot %s", DISCORD_TOKEN)
    handler.close()
    text = caplog.text
    assert TOKEN not in text and DISCORD_TOKEN not in text
    assert "a-configured-secret-value" not in text
    assert "request to /bot[REDACTED]/getMe failed" in text
    assert "RuntimeError: GET http://x/bot[REDACTED]/getMe failed with [REDACTED]" in text
    # Ordinary text keeps its shape: times, ids, paths without a token.
    assert logsafe.redact("12:30:45 chat -1001000000001 /botanists/ t.me/s/bot_news") == \
        "12:30:45 chat -1001000000001 /botanists/ t.me/s/bot_news"


def test_uncaught_exceptions_are_printed_redacted() -> None:
    import subprocess

    code = (
        "import threading\n"
        "from bot import logsafe\n"
        "logsafe.install()\n"
        f"t = threading.Thread(target=lambda: exec(\"raise OSError('{TOKEN}')\"))\n"
        "t.start(); t.join()\n"
        f"raise RuntimeError('GET /bot{TOKEN[:12]}/getMe')\n"  # token-shaped only in a URL
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert TOKEN not in result.stderr and TOKEN[:12] not in result.stderr, result.stderr
    assert "OSError: [REDACTED]" in result.stderr
    assert "RuntimeError: GET /bot[REDACTED]/getMe" in result.stderr
