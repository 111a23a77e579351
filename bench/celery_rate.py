"""Tasks per second through mqcompare against the same celery app and prefork worker
without journaling, side by side on one private node. Rounds alternate which side goes
first; medians and their ratio are printed.

    .venv/bin/python bench/celery_rate.py [--rounds 5] [--producers 4] [--messages 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from mqcompare.brokers.node import LocalNode
from mqcompare.runner import execute
from mqcompare.spec import RunSpec
from mqcompare.stacks import RUN_DIR_ENV, URL_ENV
from scenarios_celery.app import TASK, make_app
from scenarios_celery.stack import CeleryStack

DONE = re.compile(
    rb"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/ForkPoolWorker-\d+\] Task "
    rb"mqcompare\.record\[[^\]]+\] succeeded",
    re.M,
)


def spec_for(producers: int, messages: int) -> RunSpec:
    return RunSpec(stack="celery", mode="shared-app", producers=producers, messages=messages)


def bare_round(node: LocalNode, producers: int, messages: int) -> float:
    """apply_async from plain threads; the worker's own log says when the last task ran."""
    spec = spec_for(producers, messages)
    total = producers * messages
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        options = CeleryStack().settings(spec)
        (run_dir / "spec.json").write_text(json.dumps(spec.to_json() | {"stack_options": options}))
        argv = CeleryStack().consumer_argv(spec, 0, run_dir / "journal")
        argv[argv.index("scenarios_celery.worker")] = "celery_bare_worker"
        log = run_dir / "worker.log"
        env = {
            **os.environ,
            RUN_DIR_ENV: tmp,
            URL_ENV: node.url,
            "PYTHONPATH": str(Path(__file__).parent),
        }
        with open(log, "wb") as out:
            worker = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        app = make_app(spec, node.url)
        task = app.tasks[TASK]
        try:
            time.sleep(3)  # the worker is up before the clock starts, as in mqcompare's run

            def publish(p: int) -> None:
                for s in range(messages):
                    task.apply_async(args=(p, s, time.time()), task_id=f"{p}:{s}")

            threads = [threading.Thread(target=publish, args=(p,)) for p in range(producers)]
            start = time.time()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            deadline = time.monotonic() + 300
            while len(DONE.findall(log.read_bytes())) < total:
                if time.monotonic() > deadline:
                    raise RuntimeError("the bare worker did not finish")
                time.sleep(0.2)
            last = DONE.findall(log.read_bytes())[-1].decode()
            end = datetime.strptime(last, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        finally:
            worker.terminate()
            worker.wait(30)
            app.close()
    return total / (end - start)


def mqcompare_round(node: LocalNode, producers: int, messages: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        result = execute(
            spec_for(producers, messages), Path(tmp) / "run", broker=node, say=lambda _m: None
        )
    assert result["counts"]["unique"] == producers * messages, result["counts"]
    return float(result["throughput"]["deliver_per_s"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--producers", type=int, default=4)
    ap.add_argument("--messages", type=int, default=2000)
    args = ap.parse_args()
    # a SIGTERM unwinds like Ctrl-C, so the node below is stopped, not left running
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    node = LocalNode.start_new()
    bare: list[float] = []
    ours: list[float] = []
    try:
        sides = [(bare, bare_round), (ours, mqcompare_round)]
        for i in range(args.rounds):
            for rates, measure in sides if i % 2 == 0 else sides[::-1]:
                rates.append(measure(node, args.producers, args.messages))
                time.sleep(1.0)
            print(
                f"round {i + 1}: bare celery {bare[-1]:,.0f} tasks/s, mqcompare "
                f"{ours[-1]:,.0f} tasks/s, ratio {ours[-1] / bare[-1]:.2f}",
                flush=True,
            )
    finally:
        node.stop()
    ratio = statistics.median(ours) / statistics.median(bare)
    print(
        f"celery shared-app, acks_late, prefork -c 2, {args.producers} x {args.messages:,}: "
        f"median bare {statistics.median(bare):,.0f} tasks/s, median mqcompare "
        f"{statistics.median(ours):,.0f} tasks/s, ratio of medians {ratio:.2f} "
        f"(target >= 0.85)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
