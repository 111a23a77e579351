"""mqcompare's publish rate against a bare pika loop doing the same publishes, side by side.

Both sides: one private node, the same durable queue settings, the same counting consumer
running, 10 threads with a connection each, persistent messages with the same body, no
confirms. Rounds alternate bare / mqcompare; medians and their ratio are printed.

    .venv/bin/python bench/publish_rate.py [--rounds 5] [--producers 10] [--messages 10000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pika

from mqcompare.broker import LocalNode
from mqcompare.envelope import encode
from mqcompare.runner import execute
from mqcompare.spec import RunSpec, new_run_id
from scenarios_pika.connect import connect


def bare_round(node: LocalNode, producers: int, messages: int, confirms: bool) -> float:
    """Messages per second of plain pika threads, with mqcompare's consumer draining."""
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
            ],
            env={"MQCOMPARE_URL": node.url, "PATH": "/usr/bin:/bin"},
        )
        try:

            def publish(p: int) -> None:
                conn = connect(node.url)
                ch = conn.channel()
                if confirms:
                    ch.confirm_delivery()
                for s in range(messages):
                    props = pika.BasicProperties(delivery_mode=2, message_id=f"{p}:{s}")
                    ch.basic_publish(
                        "", queue, encode(p, s, time.time()), props, mandatory=confirms
                    )
                conn.close()

            threads = [threading.Thread(target=publish, args=(p,)) for p in range(producers)]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rate = producers * messages / (time.perf_counter() - start)
            while admin_ch.queue_declare(queue=queue, passive=True).method.message_count:
                time.sleep(0.2)
        finally:
            consumer.terminate()
            consumer.wait()
            admin_ch.queue_delete(queue=queue)
            admin.close()
    return rate


def mqcompare_round(node: LocalNode, producers: int, messages: int, confirms: bool) -> float:
    spec = RunSpec(
        stack="pika",
        mode="connection-per-thread",
        producers=producers,
        messages=messages,
        confirms=confirms,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = execute(spec, Path(tmp) / "run", broker=node, say=lambda _m: None)
    assert result["counts"]["unique"] == producers * messages
    return float(result["throughput"]["publish_per_s"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--producers", type=int, default=10)
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--confirms", action="store_true")
    args = ap.parse_args()
    node = LocalNode.start_new()
    bare, ours = [], []
    try:
        for i in range(args.rounds):
            bare.append(bare_round(node, args.producers, args.messages, args.confirms))
            ours.append(mqcompare_round(node, args.producers, args.messages, args.confirms))
            print(
                f"round {i + 1}: bare pika {bare[-1]:,.0f} msg/s, "
                f"mqcompare {ours[-1]:,.0f} msg/s, ratio {ours[-1] / bare[-1]:.2f}",
                flush=True,
            )
    finally:
        node.stop()
    ratio = statistics.median(ours) / statistics.median(bare)
    print(
        f"pika connection-per-thread, {'confirms' if args.confirms else 'no confirms'}, "
        f"{args.producers} x {args.messages:,}: median bare {statistics.median(bare):,.0f} "
        f"msg/s, median mqcompare {statistics.median(ours):,.0f} msg/s, "
        f"ratio of medians {ratio:.2f} (target >= 0.85)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
