"""mqcompare's publish rate against a bare client loop doing the same publishes, side by side.

Both sides: one private node, the same durable queue settings, the same counting consumer
running, 10 threads, persistent messages with the same body. pika: a connection per
thread; kombu: a producer from kombu's pool per publish, with kombu's retry. Rounds
alternate bare / mqcompare; medians and their ratio are printed. --confirms-too adds
the rate with publisher confirms of every stack, measured in the same run.

    .venv/bin/python bench/publish_rate.py [--stack pika|kombu] [--rounds 5]
                                           [--producers 10] [--messages 10000] [--confirms-too]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pika

from mqcompare.brokers.node import LocalNode
from mqcompare.envelope import encode
from mqcompare.runner import execute
from mqcompare.spec import RunSpec, new_run_id
from mqcompare.stacks import URL_ENV
from scenarios_pika.connect import connect


def pika_loop(url: str, queue: str, confirms: bool) -> Callable[[int, int], None]:
    def publish(p: int, messages: int) -> None:
        conn = connect(url)
        ch = conn.channel()
        if confirms:
            ch.confirm_delivery()
        for s in range(messages):
            props = pika.BasicProperties(delivery_mode=2, message_id=f"{p}:{s}")
            ch.basic_publish("", queue, encode(p, s, time.time()), props, mandatory=confirms)
        conn.close()

    return publish


def kombu_loop(url: str, queue: str, confirms: bool) -> Callable[[int, int], None]:
    import kombu.pools

    from scenarios_kombu.connect import connection, retry_policy

    conn = connection(url, confirms)
    policy = retry_policy(15.0)

    def publish(p: int, messages: int) -> None:
        for s in range(messages):
            with kombu.pools.producers[conn].acquire(block=True) as producer:
                producer.publish(
                    encode(p, s, time.time()),
                    exchange="",
                    routing_key=queue,
                    delivery_mode=2,
                    message_id=f"{p}:{s}",
                    content_type="application/json",
                    content_encoding="utf-8",
                    mandatory=confirms,
                    retry=True,
                    retry_policy=policy,
                )

    return publish


LOOPS = {"pika": pika_loop, "kombu": kombu_loop}
MODES = {"pika": "connection-per-thread", "kombu": "pool"}


@contextlib.contextmanager
def consumed_queue(node: LocalNode, client: str) -> Iterator[str]:
    """A fresh durable queue with mqcompare's counting consumer (`client`, a stack's
    consumer module) reading it; on leaving, the queue is drained, then deleted."""
    queue = f"bench.{new_run_id()}"
    admin = connect(node.url)
    admin_ch = admin.channel()
    admin_ch.queue_declare(queue=queue, durable=True)
    with tempfile.TemporaryDirectory() as tmp:
        consumer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "consumer",
                "--queue",
                queue,
                "--journal",
                f"{tmp}/consumer.jsonl",
                "--run-id",
                queue,
                "--client",
                client,
            ],
            env={URL_ENV: node.url, "PATH": "/usr/bin:/bin"},
        )
        try:
            yield queue
            while admin_ch.queue_declare(queue=queue, passive=True).method.message_count:
                time.sleep(0.2)
        finally:
            consumer.terminate()
            consumer.wait()
            admin_ch.queue_delete(queue=queue)
            admin.close()


def bare_round(node: LocalNode, stack: str, producers: int, messages: int, confirms: bool) -> float:
    """Messages per second of plain client threads, with mqcompare's consumer draining."""
    # the same consumer mqcompare runs for the stack
    with consumed_queue(node, f"scenarios_{stack}.consumer") as queue:
        publish = LOOPS[stack](node.url, queue, confirms)
        threads = [threading.Thread(target=publish, args=(p, messages)) for p in range(producers)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return producers * messages / (time.perf_counter() - start)


def mqcompare_round(
    node: LocalNode, stack: str, producers: int, messages: int, confirms: bool
) -> float:
    spec = RunSpec(
        stack=stack,
        mode=MODES[stack],
        producers=producers,
        messages=messages,
        confirms=confirms,
    )
    out = Path(tempfile.mkdtemp(prefix="mqcompare-bench-")) / "run"
    result = execute(spec, out, broker=node, say=lambda _m: None)
    c = result["counts"]
    if c["unique"] != producers * messages:  # a finding in a benchmark: keep it and say so
        print(
            f"  {stack} run in {out} delivered {c['unique']:,} of {producers * messages:,}: "
            f"lost {c['lost']}, drain {result['drain']}, stalled "
            f"{result['producers_stalled']}, errors {result['errors']}",
            flush=True,
        )
    else:
        shutil.rmtree(out.parent)
    return float(result["throughput"]["publish_per_s"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stack", choices=sorted(LOOPS), default="pika")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--producers", type=int, default=10)
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--confirms-too", action="store_true")
    args = ap.parse_args()
    # a SIGTERM unwinds like Ctrl-C, so the node below is stopped, not left running
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    node = LocalNode.start_new()
    bare: list[float] = []
    ours: list[float] = []
    confirmed: dict[str, list[float]] = {name: [] for name in LOOPS}
    try:
        sides = [(bare, bare_round), (ours, mqcompare_round)]
        for i in range(args.rounds):
            # who goes first alternates, so that neither side always meets a broker that
            # is still settling from the other's run
            for rates, measure in sides if i % 2 == 0 else sides[::-1]:
                rates.append(measure(node, args.stack, args.producers, args.messages, False))
                time.sleep(1.0)
            line = (
                f"round {i + 1}: bare {args.stack} {bare[-1]:,.0f} msg/s, "
                f"mqcompare {ours[-1]:,.0f} msg/s, ratio {ours[-1] / bare[-1]:.2f}"
            )
            if args.confirms_too:
                for name in confirmed:  # confirms are slower: a fifth of the messages
                    confirmed[name].append(
                        mqcompare_round(
                            node, name, args.producers, max(1, args.messages // 5), True
                        )
                    )
                line += "; with confirms " + ", ".join(
                    f"{name} {rates[-1]:,.0f}" for name, rates in confirmed.items()
                )
            print(line, flush=True)
    finally:
        node.stop()
    ratio = statistics.median(ours) / statistics.median(bare)
    print(
        f"{args.stack} {MODES[args.stack]}, no confirms, {args.producers} x "
        f"{args.messages:,}: median bare {statistics.median(bare):,.0f} msg/s, median "
        f"mqcompare {statistics.median(ours):,.0f} msg/s, ratio of medians {ratio:.2f} "
        f"(target >= 0.85)"
    )
    if args.confirms_too:
        print(
            "with confirms, through mqcompare, default modes, "
            f"{args.producers} x {max(1, args.messages // 5):,}: "
            + ", ".join(
                f"{name} median {statistics.median(rates):,.0f} msg/s"
                for name, rates in confirmed.items()
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
