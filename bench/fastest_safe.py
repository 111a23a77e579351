"""The fastest zero-loss configuration of every stack, next to bare client loops.

Zero-loss here means publisher confirms on (what the fault contract shows loses nothing
under a broker restart, kill or dropped connections); each stack is measured through
mqcompare in each way it can publish with confirms (its default mode awaiting each
confirm, and every confirm window where it pipelines them), no faults, its own consumer
running. The bare references, on the same node in the same rounds, with the same
consumer running: plain pika threads awaiting each confirm, and a plain aio-pika loop
with a window of 100. No AMQP load generator comes as a Debian package (amqp-tools'
amqp-publish sends one message per process; PerfTest is not packaged), so these loops
are the reference. Medians of
`--rounds` rounds; the target for the fastest is 10,000 msg/s on this 2-core machine.

    .venv/bin/python bench/fastest_safe.py [--rounds 3] [--producers 10] [--messages 3000]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import sys
import tempfile
from pathlib import Path

import aiopika_rate
import publish_rate

from mqcompare.brokers.node import LocalNode
from mqcompare.runner import execute
from mqcompare.spec import RunSpec

TARGET = 10_000
WINDOWS = (10, 100, 1000)
# (stack, mode, window, share of --messages: the slow stacks publish fewer)
CANDIDATES = [
    ("pika", "connection-per-thread", 1, 1.0),
    *(("pika", "asyncio-adapter", w, 1.0) for w in WINDOWS),
    ("kombu", "pool", 1, 0.3),
    ("celery", "shared-app", 1, 0.3),
    ("dramatiq", "shared-broker", 1, 0.3),
    ("aio-pika", "channel-per-producer", 1, 1.0),
    *(("aio-pika", "channel-per-producer", w, 1.0) for w in WINDOWS),
]


def through_mqcompare(
    node: LocalNode, stack: str, mode: str, window: int, producers: int, messages: int
) -> float:
    spec = RunSpec(
        stack=stack,
        mode=mode,
        producers=producers,
        messages=messages,
        confirms=True,
        stack_options={"confirm_window": window} if window > 1 else {},
    )
    out = Path(tempfile.mkdtemp(prefix="mqcompare-bench-")) / "run"
    result = execute(spec, out, broker=node, say=lambda _m: None)
    c = result["counts"]
    if c["lost"] or c["unique"] != producers * messages:  # a finding: keep it, say so
        print(f"  {stack} {mode} w{window}: {c['unique']:,} delivered, {c['lost']} lost; {out}")
    else:
        shutil.rmtree(out.parent)
    return float(result["throughput"]["publish_per_s"])


def bare(node: LocalNode, kind: str, producers: int, messages: int) -> float:
    """A bare loop's rate, with the same counting consumer running as mqcompare's runs."""
    if kind == "aio-pika":
        return aiopika_rate.bare_round(node, producers, messages, 100)
    return publish_rate.bare_round(node, "pika", producers, messages, True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--producers", type=int, default=10)
    ap.add_argument("--messages", type=int, default=3000)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the node is stopped
    node = LocalNode.start_new()
    rates: dict[tuple[str, str, int], list[float]] = {c[:3]: [] for c in CANDIDATES}
    refs: dict[str, list[float]] = {"pika": [], "aio-pika": []}
    try:
        for i in range(args.rounds):
            for stack, mode, window, share in CANDIDATES:
                messages = max(100, int(args.messages * share))
                rates[(stack, mode, window)].append(
                    through_mqcompare(node, stack, mode, window, args.producers, messages)
                )
            for kind in refs:
                refs[kind].append(bare(node, kind, args.producers, args.messages))
            print(f"round {i + 1} of {args.rounds} done", flush=True)
    finally:
        node.stop()
    med = {key: statistics.median(v) for key, v in rates.items()}
    print(f"\nwith publisher confirms, no faults, {args.producers} producers, medians:")
    for (stack, mode, window), rate in med.items():
        print(f"  {stack:9} {mode:22} window {window:>4}: {rate:>8,.0f} msg/s")
    print("fastest zero-loss configuration per stack:")
    best_of: dict[str, tuple[str, int, float]] = {}
    for (stack, mode, window), rate in med.items():
        if rate > best_of.get(stack, ("", 0, 0.0))[2]:
            best_of[stack] = (mode, window, rate)
    for stack, (mode, window, rate) in best_of.items():
        print(f"  {stack:9} {mode} window {window}: {rate:,.0f} msg/s")
    bare_pika, bare_aio = statistics.median(refs["pika"]), statistics.median(refs["aio-pika"])
    print(
        f"bare references: pika threads awaiting each confirm {bare_pika:,.0f} msg/s, "
        f"aio-pika loop window 100 {bare_aio:,.0f} msg/s"
    )
    fastest = max(best_of.items(), key=lambda kv: kv[1][2])
    print(
        f"fastest zero-loss through mqcompare: {fastest[0]} {fastest[1][0]} window "
        f"{fastest[1][1]}, {fastest[1][2]:,.0f} msg/s (target >= {TARGET:,}: "
        f"{'met' if fastest[1][2] >= TARGET else 'not met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
