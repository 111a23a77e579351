"""Time around the messages: per stack, the wall time of `--rounds` runs back to back, as a
matrix runs them (everything each run does: the queue, the consumer or worker, the
producer process, the drain, the stop, the judging, each run ending while the next boots)
against the windows in which they published and delivered (from their own journals);
then, with `--preset`, a whole matrix's wall time against the sum of its runs' windows
(what `mqcompare matrix` prints at its end).

    .venv/bin/python bench/cell_overhead.py [--rounds 3] [--messages 300] [--preset quick]

Target (issue 29): the quick preset's overhead at most 15 %.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mqcompare.brokers.base import BrokerControl
from mqcompare.brokers.factory import open_broker
from mqcompare.handover import Handover
from mqcompare.matrix.overhead import matrix_overhead, work_s
from mqcompare.result import RunResult
from mqcompare.runner import execute_back_to_back
from mqcompare.spec import RunSpec
from mqcompare.stacks import all_stacks


def back_to_back(
    stack: str, mode: str, rounds: int, messages: int, tmp: Path, broker: BrokerControl
) -> tuple[float, float]:
    """(wall, work) seconds of `rounds` runs of 10 producers x `messages`, no fault, run
    back to back as a matrix runs them (each ends while the next boots)."""
    handover: Handover[RunResult] = Handover()
    results: list[RunResult] = []

    def report(result: RunResult | None, error: BaseException | None) -> None:
        if error is not None:
            raise error
        assert result is not None
        c = result["counts"]
        assert c["lost"] == 0 and c["unique"] == c["attempted"], (stack, c)
        results.append(result)

    began = time.perf_counter()
    for r in range(rounds):
        spec = RunSpec(stack=stack, mode=mode, producers=10, messages=messages)
        done = execute_back_to_back(
            spec,
            tmp / f"{stack}-{r}",
            broker,
            lambda _m: None,
            lambda _c: None,
            handover,
            report,
            before_go=handover.settle,
        )
        if done is not None:
            report(done, None)
    handover.settle()
    wall = time.perf_counter() - began
    return wall, sum(work_s(r) for r in results)


def per_stack(rounds: int, messages: int, tmp: Path) -> None:
    broker = open_broker("local", "bench-overhead", 1, "")
    try:
        print(
            f"{'stack':<10} {'wall s':>7} {'work s':>7} {'overhead':>9}   "
            f"({rounds} runs back to back)"
        )
        for stack in all_stacks():
            if stack.min_rabbitmq > 3:
                continue  # not on this machine's RabbitMQ 3
            wall, work = back_to_back(stack.name, stack.default_mode, rounds, messages, tmp, broker)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(exist_ok=True)
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
