"""Time around the messages: per stack, a cell's wall time (everything `execute` does: the
queue, the consumer or worker, the producer process, the drain, the stop, the judging)
against the window in which it published and delivered (from its own journals), median
of `--rounds`; then, with `--preset`, a whole matrix's wall time against the sum of its
runs' windows (what `mqcompare matrix` prints at its end).

    .venv/bin/python bench/cell_overhead.py [--rounds 3] [--messages 300] [--preset quick]

Target (issue 29): the quick preset's overhead at most 15 %.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mqcompare.brokers.factory import open_broker
from mqcompare.matrix.overhead import matrix_overhead, work_s
from mqcompare.runner import execute
from mqcompare.spec import RunSpec
from mqcompare.stacks import all_stacks


def cell(stack: str, mode: str, messages: int, out: Path, broker: object) -> tuple[float, float]:
    """(wall, work) seconds of one run of 10 producers x `messages`, no fault."""
    spec = RunSpec(stack=stack, mode=mode, producers=10, messages=messages)
    began = time.perf_counter()
    result = execute(spec, out, broker, say=lambda _m: None)  # type: ignore[arg-type]
    wall = time.perf_counter() - began
    c = result["counts"]
    assert c["lost"] == 0 and c["unique"] == c["attempted"], (stack, c)
    return wall, work_s(result)


def per_stack(rounds: int, messages: int, tmp: Path) -> None:
    broker = open_broker("local", "bench-overhead", 1, "")
    try:
        print(f"{'stack':<10} {'wall s':>7} {'work s':>7} {'overhead':>9}   (median of {rounds})")
        for stack in all_stacks():
            if stack.min_rabbitmq > 3:
                continue  # not on this machine's RabbitMQ 3
            walls, works = [], []
            for r in range(rounds):
                out = tmp / f"{stack.name}-{r}"
                wall, work = cell(stack.name, stack.default_mode, messages, out, broker)
                shutil.rmtree(out)
                walls.append(wall)
                works.append(work)
            wall, work = statistics.median(walls), statistics.median(works)
            print(f"{stack.name:<10} {wall:>7.2f} {work:>7.2f} {1 - work / wall:>9.0%}", flush=True)
    finally:
        broker.close()


def preset(name: str, tmp: Path) -> None:
    out = tmp / name
    began = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "mqcompare.cli", "matrix", "--preset", name, "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    spent = matrix_overhead(json.loads((out / "results.json").read_text()))
    assert spent is not None
    print(f"--preset {name}: {spent.text()} ({time.monotonic() - began:.0f} s with reports)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--preset", default="", help="also a whole matrix, e.g. quick")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        per_stack(args.rounds, args.messages, Path(tmp))
        if args.preset:
            preset(args.preset, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
