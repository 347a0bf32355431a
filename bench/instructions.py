"""The engine's cost per record in machine instructions: a figure that does not move with the
machine's load or speed, unlike records per second (a shared machine runs Python twice as fast
on one day as on another).

Runs `bench/engine.py`'s full load (accounts with a contact each, memory systems, SQLite store)
under valgrind's callgrind, which counts the instructions executed, for a small and a larger N;
the difference divided by the records in between is the cost of one record, start-up excluded.
With `--compare DIR` (another checkout, e.g. `git worktree add /tmp/old <commit>`) the same is
measured for that code, and the ratio printed: the way to tell whether a change made the engine
cheaper when timings differ by ±15 % between runs.

Usage: python bench/instructions.py [--sizes 200,2200] [--compare DIR]
Prints one JSON line: {"instructions_per_record": …, "sizes": […], ["compared": …, "ratio": …]}.
Takes about two minutes per checkout (valgrind runs Python some fifty times slower).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def collected(tree: Path, n: int) -> int:
    """Instructions callgrind counted for one full load of `n` accounts with `tree`'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "PYTHONHASHSEED": "0"}  # the same work each time
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           sys.executable, __file__, "--child", str(n), "--tree", str(tree)],
                          capture_output=True, text=True, env=env, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_record(tree: Path, sizes: tuple[int, int]) -> float:
    small, large = sizes
    counts = [collected(tree, n) for n in sizes]
    return (counts[1] - counts[0]) / (2 * (large - small))  # two records (account, contact) each


def child(n: int, tree: Path) -> None:
    sys.path.insert(0, str(tree / "bench"))
    import engine  # that checkout's bench/engine.py
    from koppel.cli import logs

    logs.configure("json", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        engine.run(n, f"sqlite:///{tmp}/instructions.db", Path(tmp), incremental=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="200,2200", help="the two N (accounts) whose difference is measured")
    parser.add_argument("--compare", help="another checkout's root, measured the same way")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.tree))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    small, large = (int(s) for s in args.sizes.split(","))
    mine = per_record(HERE.parent, (small, large))
    result: dict[str, object] = {"sizes": [small, large], "instructions_per_record": round(mine)}
    if args.compare:
        other = per_record(Path(args.compare).resolve(), (small, large))
        result.update(compared=args.compare, compared_per_record=round(other), ratio=round(mine / other, 4))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
