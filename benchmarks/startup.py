"""This module contains the start-up benchmark: wall clock of whole `wirewatch search` and
`analyze` processes from a cold interpreter, and where their import time goes.

A demo store is made first in a fresh folder (`wirewatch demo`), then each command runs
`--runs` times; the least and the median wall time are reported, with the biggest imports of
one run (`python -X importtime`, cumulative microseconds).

    .venv/bin/python -m benchmarks.startup
    .venv/bin/python -m benchmarks.startup --runs 10 --imports 15

Targets (issue 14): search ≤ 0.3 s, analyze on one line ≤ 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

BIN = Path(sys.executable).parent
ONE_LINE = json.dumps({"id": 1, "text": "Северокорейские военные прибыли в Курскую область"},
                      ensure_ascii=False) + "\n"
COMMANDS = {
    "search": (["search", "entity:kursk", "--limit", "3"], "", 0.3),
    "analyze": (["analyze"], ONE_LINE, 0.5),
}


def wall(argv: list[str], stdin: str, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, input=stdin, cwd=cwd, capture_output=True, text=True, check=True)
    return time.perf_counter() - start


def imports(args: list[str], stdin: str, cwd: Path, top: int) -> list[tuple[int, str]]:
    """The `top` imports with the largest cumulative time, outermost first among equals."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "bot.cli", *args],
                          input=stdin, cwd=cwd, capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit():
                rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:top]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--imports", type=int, default=10, help="imports listed per command")
    args = parser.parse_args(argv)
    failed = False
    with tempfile.TemporaryDirectory(prefix="wirewatch-startup-") as tmp:
        work = Path(tmp)
        subprocess.run([str(BIN / "wirewatch"), "demo"], cwd=work, capture_output=True, check=True)
        print("| command | least s | median s | target |\n|---|---:|---:|---|")
        details = []
        for name, (cli_args, stdin, target) in COMMANDS.items():
            times = [wall([str(BIN / "wirewatch"), *cli_args], stdin, work)
                     for _ in range(args.runs)]
            ok = min(times) <= target
            failed |= not ok
            print(f"| {name} | {min(times):.3f} | {statistics.median(times):.3f} | "
                  f"{'PASS' if ok else 'FAIL'} ≤ {target} s |")
            details.append((name, imports(cli_args, stdin, work, args.imports)))
        for name, rows in details:
            print(f"\nlargest imports of `{name}` (cumulative ms):")
            for cumulative, module in rows:
                print(f"  {cumulative / 1000:8.1f}  {module}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
