"""`make demo`: experiments 1 and 2 of the write-up, and the consumer-crash question,
through every stack on one private broker node; a table and report.md."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from mqcompare.broker import LocalNode
from mqcompare.report import headline, markdown_table, summary_table
from mqcompare.runner import execute
from mqcompare.spec import Fault, RunSpec, new_run_id
from mqcompare.stacks import STACKS, load_stack

RESTARTS = ("restart@1s:2s", "restart@4s:2s")
CRASH = ("kill@1s:2s",)

# experiment 1 runs every mode of a stack at the write-up's size (10 x 1000); the others
# run the stack's default (documented-safe) mode, 10 producers
LATER: list[tuple[str, dict[str, Any]]] = [
    ("2: confirms under graceful restarts", {"messages": 3000, "faults": RESTARTS}),
    (
        "2: confirms under graceful restarts",
        {"messages": 3000, "faults": RESTARTS, "confirms": True},
    ),
    ("2: confirms under a broker crash", {"messages": 3000, "faults": CRASH}),
    ("2: confirms under a broker crash", {"messages": 3000, "faults": CRASH, "confirms": True}),
]
CONSUMER_CRASH: list[tuple[str, dict[str, Any]]] = [
    (
        "3: a consumer crash",
        {
            "messages": 1000,
            "confirms": True,
            "ack": ack,
            "faults": ("consumer-kill@1s",),
            "work_ms": 1,
        },
    )
    for ack in ("auto", "after")
]
# celery: the consumer is the worker; SIGKILL a pool process mid-task, per ack policy
WORKER_KILL: list[tuple[str, dict[str, Any]]] = [
    (
        "3: a worker's pool process killed",
        {
            "producers": 4,
            "messages": 300,
            "confirms": True,
            "work_ms": 20,
            "faults": ("worker-kill@2s", "worker-kill@4s"),
            "celery": celery,
        },
    )
    for celery in (
        {"acks_late": False},
        {"acks_late": True},
        {"acks_late": True, "reject_on_worker_lost": True},
    )
]


def experiments(stack: str) -> list[tuple[str, dict[str, Any]]]:
    modes = load_stack(stack).modes
    first = [
        ("1: sharing a connection between producers", {"mode": mode, "messages": 1000})
        for mode in modes
    ]
    return first + LATER + (WORKER_KILL if stack == "celery" else CONSUMER_CRASH)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mqcompare-demo")
    ap.add_argument("--out", type=Path, default=Path("runs/demo"))
    ap.add_argument("--stacks", default=",".join(STACKS))
    args = ap.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    results = []
    # a SIGTERM unwinds like Ctrl-C, so the node below is stopped, not left running
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    node = LocalNode.start_new()
    console.print(f"broker: {node.describe()}")
    try:
        for stack in args.stacks.split(","):
            for question, fields in experiments(stack):
                fields = dict(fields)
                work_ms = fields.pop("work_ms", 0)
                celery = fields.pop("celery", {})
                spec = RunSpec(
                    stack=stack,
                    mode=fields.pop("mode", load_stack(stack).default_mode),
                    producers=fields.pop("producers", 10),
                    faults=tuple(Fault.parse(f) for f in fields.pop("faults", ())),
                    run_id=new_run_id(),
                    stack_options={"consumer_work_ms": work_ms, **celery},
                    **fields,
                )
                console.print(f"experiment {question}: {headline({'spec': spec.to_json()})}")
                results.append(
                    execute(
                        spec,
                        args.out / spec.run_id,
                        broker=node,
                        say=lambda m: console.print(f"  {m}", markup=False),
                    )
                )
    finally:
        node.stop()
    console.print(summary_table(results, title="mqcompare demo"))
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "report.md").write_text("# mqcompare demo\n\n" + markdown_table(results))
    # `mqcompare report DIR` rebuilds the same table from the run directories alone
    console.print(f"results: {args.out}/results.json, table: {args.out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
