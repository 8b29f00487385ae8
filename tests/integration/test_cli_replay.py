"""`wirewatch replay` (and `analyze`) against bad input, store faults, signals and history:
the real entry point, a real SQLite store in a tmp dir."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import random
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from bot.cli import main
from bot.replay import replay
from bot.settings import load_settings
from bot.storage import open_store
from config import path as bundled

WIREWATCH = [sys.executable, "-m", "bot"]
WORDS = ("Kursk troops North Korea Moscow Kyiv drone strike village border report army region "
         "weather football market").split()


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def post(i: int, text: str | None = None, **extra) -> dict:
    rng = random.Random(i)
    return {"source_id": "src", "platform": "rss", "chat": "c", "message_id": str(i),
            "date": "2024-11-04T10:00:00+00:00",
            "text": text if text is not None else
            " ".join(rng.choice(WORDS) for _ in range(25)) + f" #{i}", **extra}


def jsonl(rows) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


def write_config(tmp_path: Path) -> Path:
    """The demo config's rooms and subscriptions, with the store in tmp_path."""
    text = Path(bundled("demo.yaml")).read_text(encoding="utf-8")
    text = text.replace("./data/demo.db", str(tmp_path / "store.db"))
    config = tmp_path / "c.yaml"
    config.write_text(text, encoding="utf-8")
    return config


def stored_keys(tmp_path: Path) -> list[str]:
    db = sqlite3.connect(tmp_path / "store.db")
    try:
        return [r[0] for r in db.execute("SELECT key FROM posts ORDER BY id")]
    finally:
        db.close()


def stored_count(db_path: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM posts").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


# -- item 4: one absurd line does not stop the stream ---------------------------------------


def test_absurd_lines_are_skipped_with_their_number_and_the_rest_is_stored(tmp_path, capsys):
    config = write_config(tmp_path)
    path = tmp_path / "posts.jsonl"
    path.write_bytes(
        jsonl([post(1)])
        + b"[" * 100_000 + b"]" * 100_000 + b"\n"  # RecursionError in json
        + b'{"source_id": "src", "text": "caf\xe9"}\n'  # latin-1, not UTF-8
        + b'{"a":\n'
        + jsonl([post(5)])
        + b"[1, 2]\n"
        + jsonl([post(7)])
    )
    assert main(["replay", str(path), "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert "3 posts" in captured.out and "4 bad lines" in captured.out
    assert "line 2: nested too deeply" in captured.err
    assert "line 3: not valid UTF-8 (byte 0xe9 at column 34)" in captured.err
    assert "line 4: not valid JSON (cut off at column 6)" in captured.err
    assert "line 6: not a JSON object" in captured.err
    assert "Traceback" not in captured.err and "Error" not in captured.err
    assert stored_keys(tmp_path) == ["src:c:1", "src:c:5", "src:c:7"]


def test_analyze_goes_on_after_deep_and_undecodable_lines(capsys, monkeypatch):
    data = (b'{"id": "a", "text": "Kursk"}\n' + b"[" * 50_000 + b"\n"
            + b'{"id": "b", "text": "\xff Kursk"}\n' + b'{"id": "c", "text": "Kyiv"}\n')
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    assert main(["analyze"]) == 1
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r.get("id") for r in rows] == ["a", None, None, "c"]
    assert rows[1] == {"line": 2, "error": "nested too deeply"}
    assert rows[2]["line"] == 3 and "not valid UTF-8" in rows[2]["error"]
    assert "line 2: nested too deeply" in captured.err and "Traceback" not in captured.err


def test_truncated_gzip_keeps_every_line_before_the_damage(tmp_path, capsys):
    config = write_config(tmp_path)
    whole = gzip.compress(jsonl(post(i) for i in range(1, 3001)))
    path = tmp_path / "posts.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    assert main(["replay", str(path), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    found = re.search(r"damaged after line (\d+) \(the compressed data ends early\)", err)
    assert found, err
    last_good = int(found[1])
    assert 1000 < last_good < 3000
    # every line before the damage is stored, the partial batch included
    assert stored_keys(tmp_path) == [f"src:c:{i}" for i in range(1, last_good + 1)]
    assert "Traceback" not in err


def test_corrupt_gzip_middle_is_reported_not_a_traceback(tmp_path, capsys):
    whole = bytearray(gzip.compress(jsonl(post(i) for i in range(1, 2001))))
    middle = len(whole) // 2
    whole[middle:middle + 64] = bytes(64)
    path = tmp_path / "posts.jsonl.gz"
    path.write_bytes(bytes(whole))
    code = main(["replay", str(path)])
    captured = capsys.readouterr()
    assert code == 1
    assert re.search(r"damaged after line \d+", captured.err), captured.err
    assert "Traceback" not in captured.err


# -- minor items: the summary, --errors, exit codes, stdin, --limit -------------------------


def test_many_bad_lines_are_summarised_and_kept_in_errors_file(tmp_path, capsys):
    rows = [post(1)] + [{"source_id": "src", "message_id": str(i)} for i in range(2, 14)]
    path = tmp_path / "posts.jsonl"
    path.write_bytes(jsonl(rows))
    errors = tmp_path / "errors.txt"
    assert main(["replay", str(path), "--errors", str(errors)]) == 1
    err = capsys.readouterr().err
    assert "line 2: 'platform' is missing" in err
    assert "and 7 more (written to" in err and "line 13" not in err
    kept = errors.read_text(encoding="utf-8").splitlines()
    assert kept == [f"line {i}: 'platform' is missing" for i in range(2, 14)]


def test_a_clean_replay_exits_zero_and_says_what_it_did_not_do(tmp_path, capsys):
    path = tmp_path / "posts.jsonl"
    path.write_bytes(jsonl([post(1, "Северокорейские войска в Курской области"), post(2)]))
    assert main(["replay", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 posts" in out and "0 bad lines" in out
    assert "not stored: no --config given; a following search will not find these posts" in out
    assert "alerts were not delivered (use --deliver)" in out
    assert not (tmp_path / "data").exists()  # in memory: nothing written


def test_replay_reads_stdin_and_rejects_a_limit_below_one(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path)
    data = jsonl(post(i) for i in range(1, 6))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    assert main(["replay", "-", "--config", str(config), "--limit", "3"]) == 0
    assert "3 posts" in capsys.readouterr().out
    assert stored_keys(tmp_path) == ["src:c:1", "src:c:2", "src:c:3"]
    for bad in ("0", "-2"):
        with pytest.raises(SystemExit) as exit_:
            main(["replay", "-", "--limit", bad])
        assert exit_.value.code == 2
        assert "--limit: must be at least 1" in capsys.readouterr().err


def test_gzipped_stdin_is_read_too(tmp_path, capsys, monkeypatch):
    data = gzip.compress(jsonl(post(i) for i in range(1, 4)))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    assert main(["replay", "-"]) == 0
    assert "3 posts" in capsys.readouterr().out


# -- item 7: replay without --deliver queues nothing for the next run -----------------------


def test_replay_without_deliver_leaves_nothing_for_the_relay(tmp_path, capsys):
    config = write_config(tmp_path)
    path = tmp_path / "history.jsonl"
    path.write_bytes(jsonl([post(1, "Северокорейские войска в Курской области"),
                            post(2, "North Korean troops fight in the Kursk region"),
                            post(3, "Курс рубля")]))
    assert main(["replay", str(path), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "2 alerts" in out and "alerts were not delivered (use --deliver)" in out
    assert "newsroom" in out  # the matches are still counted by room
    store = open_store(load_settings(str(config)).storage.path)
    try:
        assert store.claim_alerts("next-run", limit=100) == []
        assert store.outbox_counts()["pending"] == 0
        assert store.count_posts() == 3  # the history is stored and searchable
    finally:
        store.close()
    # replaying again (or the live source seeing the same posts) does not alert them either
    assert main(["replay", str(path), "--config", str(config)]) == 0
    assert "0 alerts" in capsys.readouterr().out


def test_replay_with_deliver_delivers(tmp_path, capsys):
    config = write_config(tmp_path)
    path = tmp_path / "posts.jsonl"
    path.write_bytes(jsonl([post(1, "Северокорейские войска в Курской области")]))
    assert main(["replay", str(path), "--config", str(config), "--deliver"]) == 0
    out = capsys.readouterr().out
    assert "1 alerts" in out and "not delivered" not in out
    store = open_store(load_settings(str(config)).storage.path)
    try:
        assert store.outbox_counts()["sent"] == 1 and store.claim_alerts("w") == []
    finally:
        store.close()


# -- item 3: a store that fails mid-replay --------------------------------------------------


def _small_file_limit(max_bytes: int):
    def apply() -> None:
        # Writes past the limit fail with EFBIG (the signal would kill the process instead).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def test_a_store_that_fills_up_aborts_with_what_was_stored(tmp_path):
    config = write_config(tmp_path)
    path = tmp_path / "posts.jsonl"
    path.write_bytes(jsonl(post(i, f"report {i} " + "Kursk border village " * 20)
                           for i in range(1, 3001)))
    # The schema and the first batches fit (with their story links), the whole file does not.
    result = subprocess.run([*WIREWATCH, "replay", str(path), "--config", str(config)],
                            capture_output=True, text=True, timeout=120,
                            preexec_fn=_small_file_limit(2_500_000))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    found = re.search(r"stored: (\d+) posts, input lines 1–(\d+)", result.stderr)
    assert found, result.stderr
    posts, last_line = int(found[1]), int(found[2])
    assert 0 < posts < 3000 and posts == last_line
    assert re.search(rf"not stored: the \d+ posts read after line {last_line}", result.stderr)
    # what was reported stored is there, and nothing else
    assert stored_keys(tmp_path) == [f"src:c:{i}" for i in range(1, posts + 1)]
    # once space is back, a second replay completes without storing anything twice
    assert main(["replay", str(path), "--config", str(config)]) == 0
    assert stored_keys(tmp_path) == [f"src:c:{i}" for i in range(1, 3001)]


# -- item 11: signals stop at a batch boundary with a summary -------------------------------


def _wait_for_posts(db: Path, at_least: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while stored_count(db) < at_least:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "replay stored nothing in time"
        time.sleep(0.05)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_a_large_replay_stops_with_a_summary(tmp_path, signum, code):
    config = write_config(tmp_path)
    path = tmp_path / "big.jsonl"
    path.write_bytes(jsonl(post(i) for i in range(1, 20_001)))
    proc = subprocess.Popen([*WIREWATCH, "replay", str(path), "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_posts(tmp_path / "store.db", 500, proc)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    name = signal.Signals(signum).name
    found = re.search(rf"interrupted \({name}\): stored (\d+) posts, input lines 1–(\d+);", err)
    assert found, err
    posts, last_line = int(found[1]), int(found[2])
    assert 500 <= posts < 20_000 and last_line == posts  # stopped early, all it read stored
    assert f"{posts} posts in" in out and "posts by topic" in out  # the summary
    assert stored_count(tmp_path / "store.db") == posts
    assert "Traceback" not in err


def test_sigint_while_waiting_on_stdin_stores_what_was_read(tmp_path):
    config = write_config(tmp_path)
    proc = subprocess.Popen([*WIREWATCH, "replay", "-", "--config", str(config)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(jsonl(post(i) for i in range(1, 701)))
        proc.stdin.flush()
        _wait_for_posts(tmp_path / "store.db", 500, proc)
        time.sleep(0.3)  # the last 200 lines are read; replay waits for more
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted (SIGINT): stored 700 posts, input lines 1–700;" in err.decode()
    assert stored_count(tmp_path / "store.db") == 700



def test_a_full_database_mid_batch_loses_nothing_reported_stored(tmp_path):
    """SQLITE_FULL (SQLite's own page limit, as a full disk would): the failed batch is rolled
    back whole, the batches before it stay, and the message says which lines are which."""
    config = write_config(tmp_path)
    path = tmp_path / "posts.jsonl"
    path.write_bytes(jsonl(post(i, f"report {i} " + "Kursk border village " * 20)
                           for i in range(1, 3001)))
    settings = load_settings(str(config))
    store = open_store(settings.storage.path)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 400}")  # ~1.6 MB more: a few batches
    err = io.StringIO()
    code = asyncio.run(replay(settings, str(path), store=store,
                              console=Console(file=err, soft_wrap=True),
                              out=Console(file=io.StringIO())))
    text = err.getvalue()
    assert code == 1, text
    found = re.search(r"stored: (\d+) posts, input lines 1–(\d+) \(committed, safe\)", text)
    assert found, text
    posts = int(found[1])
    assert 0 < posts < 3000 and posts % 500 == 0
    assert "full" in text  # SQLite's reason, not the failed ROLLBACK's
    assert stored_keys(tmp_path) == [f"src:c:{i}" for i in range(1, posts + 1)]


def outbox_states(db_path: Path) -> dict[str, int]:
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            return dict(db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
        finally:
            db.close()
    except sqlite3.Error:
        return {}


def test_sigint_while_delivering_leaves_the_rest_queued(tmp_path):
    config = write_config(tmp_path)
    path = tmp_path / "posts.jsonl"
    path.write_bytes(jsonl(post(i, f"Северокорейские войска в Курской области, сводка {i}")
                           for i in range(1, 3001)))
    db = tmp_path / "store.db"
    proc = subprocess.Popen([*WIREWATCH, "replay", str(path), "--config", str(config),
                             "--deliver"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        end = time.monotonic() + 60
        while outbox_states(db).get("sent", 0) < 20:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < end, "nothing was delivered in time"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted (SIGINT) while delivering" in err and "Traceback" not in err
    states = outbox_states(db)
    assert states.get("pending", 0) + states.get("sending", 0) > 0  # left for the next run
    assert sum(states.values()) == 3000  # every alert is still there, none lost
