"""This module contains the config-loading benchmark: what the line-aware, duplicate- and
alias-checking YAML loader costs over plain `yaml.safe_load`, and how fast it refuses alias bombs.

Run: ``.venv/bin/python benchmarks/config_load.py [--repeat 5]``

1. The bundled files (entities, topics, example config): safe_load vs `bot.yamlio.load_yaml`.
2. `check_config` on the example config, first call (loads the watchlists) and cached.
3. Alias bombs of 6 to 12 levels of nine aliases each (9**7 to 9**13 values): time to refuse.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.checks import check_config  # noqa: E402
from bot.errors import ConfigError  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.yamlio import load_yaml  # noqa: E402
from config import path as bundled  # noqa: E402


def best(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def bomb(levels: int) -> str:
    names = "abcdefghijklmnopqrstuvwxyz"
    lines = [f'a: &a [{",".join(["x"] * 9)}]']
    for i in range(1, levels + 1):
        lines.append(f"{names[i]}: &{names[i]} [" + ",".join([f"*{names[i - 1]}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'file':28} {'safe_load':>10} {'load_yaml':>10}")
    for name in ("entities.yaml", "topics.yaml", "wirewatch.example.yaml"):
        text = Path(bundled(name)).read_text(encoding="utf-8")
        plain = best(lambda t=text: yaml.safe_load(t), args.repeat)
        ours = best(lambda t=text, n=name: load_yaml(t, n), args.repeat)
        print(f"{name:28} {plain * 1000:8.1f}ms {ours * 1000:8.1f}ms")
    settings = load_settings(bundled("wirewatch.example.yaml"))
    start = time.perf_counter()
    check_config(settings, env={})
    first = time.perf_counter() - start
    cached = best(lambda: check_config(settings, env={}), args.repeat)
    print(f"check_config(example): first {first * 1000:.0f} ms, cached {cached * 1000:.1f} ms")
    for levels in (6, 9, 12):
        text = bomb(levels)

        def refuse(t: str = text) -> None:
            try:
                load_yaml(t, "bomb.yaml")
            except ConfigError:
                return
            raise AssertionError("an alias bomb was accepted")

        print(f"alias bomb of 9**{levels + 1} values: refused in "
              f"{best(refuse, args.repeat) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
