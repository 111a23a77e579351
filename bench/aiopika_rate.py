"""aio-pika through mqcompare against a bare aio-pika loop with the same confirm window.

Both sides: one private node, a durable queue, the same counting consumer (aio-pika's)
running, N producer tasks on one connection with a channel each, persistent messages
with the same body, publisher confirms with at most W unconfirmed per producer. Rounds
alternate which side goes first; medians and their ratio are printed (target >= 0.9).

    .venv/bin/python bench/aiopika_rate.py [--rounds 5] [--producers 10]
                                           [--messages 5000] [--window 100]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aio_pika
from publish_rate import consumed_queue

from mqcompare.brokers.node import LocalNode
from mqcompare.envelope import encode
from mqcompare.runner import execute
from mqcompare.spec import RunSpec


async def bare_publish(url: str, queue: str, producers: int, messages: int, window: int) -> float:
    """Messages per second of a plain aio-pika program: a task per producer, each keeping
    up to `window` publishes (each awaiting its confirm) in flight."""
    conn = await aio_pika.connect(url)

    async def producer(p: int) -> None:
        channel = await conn.channel(publisher_confirms=True)
        slots = asyncio.Semaphore(window)
        pending: set[asyncio.Task[object]] = set()

        async def one(s: int) -> None:
            try:
                message = aio_pika.Message(
                    encode(p, s, time.time()),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=f"{p}:{s}",
                )
                await channel.default_exchange.publish(message, routing_key=queue)
            finally:
                slots.release()

        for s in range(messages):
            await slots.acquire()
            task = asyncio.create_task(one(s))
            pending.add(task)
            task.add_done_callback(pending.discard)
        while pending:
            await asyncio.wait(set(pending))

    start = time.perf_counter()
    await asyncio.gather(*(producer(p) for p in range(producers)))
    rate = producers * messages / (time.perf_counter() - start)
    await conn.close()
    return rate


def bare_round(node: LocalNode, producers: int, messages: int, window: int) -> float:
    # the consumer mqcompare runs for aio-pika
    with consumed_queue(node, "scenarios_aiopika.consumer") as queue:
        return asyncio.run(bare_publish(node.url, queue, producers, messages, window))


def mqcompare_round(node: LocalNode, producers: int, messages: int, window: int) -> float:
    spec = RunSpec(
        stack="aio-pika",
        mode="channel-per-producer",
        producers=producers,
        messages=messages,
        confirms=True,
        stack_options={"confirm_window": window},
    )
    out = Path(tempfile.mkdtemp(prefix="mqcompare-bench-")) / "run"
    result = execute(spec, out, broker=node, say=lambda _m: None)
    c = result["counts"]
    if c["unique"] != producers * messages:  # a finding in a benchmark: keep it and say so
        print(f"  run in {out} delivered {c['unique']:,} of {producers * messages:,}")
    else:
        shutil.rmtree(out.parent)
    return float(result["throughput"]["publish_per_s"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--producers", type=int, default=10)
    ap.add_argument("--messages", type=int, default=5_000)
    ap.add_argument("--window", type=int, default=100)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the node is stopped
    node = LocalNode.start_new()
    bare: list[float] = []
    ours: list[float] = []
    try:
        sides = [(bare, bare_round), (ours, mqcompare_round)]
        for i in range(args.rounds):
            for rates, measure in sides if i % 2 == 0 else sides[::-1]:
                rates.append(measure(node, args.producers, args.messages, args.window))
                time.sleep(1.0)
            print(
                f"round {i + 1}: bare aio-pika {bare[-1]:,.0f} msg/s, mqcompare "
                f"{ours[-1]:,.0f} msg/s, ratio {ours[-1] / bare[-1]:.2f}",
                flush=True,
            )
    finally:
        node.stop()
    ratio = statistics.median(ours) / statistics.median(bare)
    print(
        f"aio-pika channel-per-producer, confirms, window {args.window}, {args.producers} x "
        f"{args.messages:,}: median bare {statistics.median(bare):,.0f} msg/s, median "
        f"mqcompare {statistics.median(ours):,.0f} msg/s, ratio of medians {ratio:.2f} "
        f"(target >= 0.9)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
