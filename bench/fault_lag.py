"""How late each broker fault lands: from the second it was due to the moment the broker
was seen down (the `lag_s` every result reports), per fault kind and broker kind, measured
through real mqcompare runs while producers publish.

Side by side, in the same rounds, the same faults launched the slow way: on a private
node `rabbitmqctl stop_app` / `close_all_connections` (the CLI boots an Erlang VM of its own
before it acts); in a container every evaluation through `docker exec ... rabbitmqctl
eval` (what mqcompare did before it evaluated with erl_call over the Docker network).
Rounds alternate which side goes first.

    .venv/bin/python bench/fault_lag.py [--broker local|docker|docker-cluster] [--rounds 5]
        [--stack pika]     (MQCOMPARE_DOCKER_IMAGE: the image, mqcompare/rabbitmq:local)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from mqcompare.brokers.base import BrokerControl
from mqcompare.brokers.container import IMAGE_ENV, LOCAL_IMAGE, DockerBroker
from mqcompare.brokers.container_cluster import DockerCluster
from mqcompare.brokers.node import LocalNode
from mqcompare.errors import BrokerNotBack, InfrastructureError
from mqcompare.faults.plan import parse_fault
from mqcompare.observe import PhaseLog, sleep_until, wait_for
from mqcompare.runner import execute
from mqcompare.spec import RunSpec

TARGET_S = 0.3
PLANS = {
    "local": {"restart": "restart@1s:1s", "kill": "kill@1s:1s", "drop": "drop@1s"},
    "docker": {
        "drop": "drop@1s",
        "alarm": "alarm@1s:1s",
        "queue-delete": "queue-delete@1s",
        "kill": "kill@1s:1s",
        "restart": "restart@1s:1s",
        "pause": "pause@1s:1s",
    },
    # a quorum queue on 3 containers: the leader's node struck, or cut off
    "docker-cluster": {
        "kill": "kill@1s:1s:leader",
        "restart": "restart@1s:1s:leader",
        "pause": "pause@1s:1s:leader",
        "drop": "drop@1s:leader",
        "partition": "partition@1s:2s:leader",
    },
}
SLOW_WAY = {
    "local": ("restart", "drop"),
    "docker": ("drop", "alarm", "queue-delete"),
    "docker-cluster": (),
}


class ThroughCli(LocalNode):
    """The same node, its restart and drop launched through rabbitmqctl, observed the
    same way as mqcompare's own (port refused / command returned)."""

    def restart(self, down: float, log: PhaseLog) -> None:
        errors: list[Exception] = []

        def stop_app() -> None:
            try:
                self.ctl("stop_app")
            except InfrastructureError as exc:
                errors.append(exc)

        stopping = threading.Thread(target=stop_app)
        stopping.start()
        t_down = wait_for(lambda: not self.accepting(), 30.0)
        stopping.join()
        if t_down is None or errors:
            raise InfrastructureError(f"stop_app: {errors or 'still accepting'}")
        log.down(t_down)
        sleep_until(t_down + down)
        self.ctl("start_app")
        t_up = wait_for(self.serving, 60.0)
        if t_up is None:
            raise BrokerNotBack("start_app: not serving")
        log.up(t_up)

    def drop_connections(self, log: PhaseLog) -> None:
        self.ctl("close_all_connections", "mqcompare: drop fault")
        t = time.time()
        log.down(t, struck="every connection")
        log.up(t)


class ThroughExec(DockerBroker):
    """The same container, every evaluation through `docker exec rabbitmqctl eval`."""

    def _dist_address(self) -> str:
        return ""


def lag(broker: BrokerControl, stack: str, plan: str) -> tuple[float | None, bool]:
    """(lag in seconds, whether the fault hit) of one run with one fault."""
    nodes = len(broker.addresses) or 1
    spec = RunSpec(
        cluster=nodes,
        queue_type="quorum" if nodes > 1 else "classic",
        stack=stack,
        mode="connection-per-thread" if stack == "pika" else "pool",
        producers=10,
        messages=1500,
        rate=300.0,  # 5 s of publishing: a fault at 1 s lands in the middle
        faults=(parse_fault(plan),),
    )
    out = Path(tempfile.mkdtemp(prefix="mqcompare-bench-")) / "run"
    try:
        result = execute(spec, out, broker=broker, say=lambda _m: None)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    (f,) = result["faults"]
    return f.get("lag_s"), bool(f.get("hit"))


def describe(lags: list[float]) -> str:
    return (
        f"median {statistics.median(lags):.3f} s (min {min(lags):.3f}, max {max(lags):.3f}, "
        f"{len(lags)} runs)"
    )


def brokers(kind: str) -> tuple[Any, Any]:
    """(mqcompare's broker, the same broker faulted the slow way: None for a cluster)."""
    if kind == "local":
        node = LocalNode.start_new()
        return node, ThroughCli(node.state, owned=False)
    image = os.environ.get(IMAGE_ENV) or LOCAL_IMAGE
    if kind == "docker-cluster":
        return DockerCluster.start_new(3, "pause_minority", image, f"bench-{os.getpid()}"), None
    ours = DockerBroker.start_new(f"bench-{os.getpid()}", image=image)
    slow = ThroughExec(ours.client, ours.container, ours.port, image, keep=True)
    slow.owned = False
    return ours, slow


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", choices=tuple(PLANS), default="local")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--stack", choices=("pika", "kombu"), default="pika")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plans, slow_kinds = PLANS[args.broker], SLOW_WAY[args.broker]
    broker, slow = brokers(args.broker)
    ours: dict[str, list[float]] = {kind: [] for kind in plans}
    theirs: dict[str, list[float]] = {kind: [] for kind in slow_kinds}
    missed: list[str] = []
    try:
        for i in range(args.rounds):
            for kind, plan in plans.items():
                sides = [(broker, ours)] + ([(slow, theirs)] if kind in theirs else [])
                for target, lags in sides if i % 2 == 0 else sides[::-1]:
                    value, hit = lag(target, args.stack, plan)
                    if value is None or not hit:
                        way = "the slow way" if target is slow else "mqcompare"
                        missed.append(f"round {i + 1} {kind} via {way}")
                        continue
                    lags[kind].append(value)
            print(
                f"round {i + 1}: "
                + ", ".join(
                    f"{kind} {ours[kind][-1]:.3f} s"
                    + (f" (slow way {theirs[kind][-1]:.3f} s)" if theirs.get(kind) else "")
                    for kind in plans
                    if ours[kind]
                ),
                flush=True,
            )
    finally:
        broker.stop()
    slow_words = "rabbitmqctl" if args.broker == "local" else "docker exec"
    print(
        f"Fault lag on {broker.describe()}, due to observed down, {args.stack} producers "
        f"publishing (10 x 300/s):"
    )
    for kind in plans:
        if not ours[kind]:
            print(f"  {kind:12} no run hit")
            continue
        median = statistics.median(ours[kind])
        verdict = "met" if median <= TARGET_S else "NOT met"
        print(f"  {kind:12} mqcompare   {describe(ours[kind])}: target <= {TARGET_S} s {verdict}")
        if theirs.get(kind):
            ratio = median / statistics.median(theirs[kind])
            print(
                f"  {'':12} {slow_words:11} {describe(theirs[kind])}; ratio of medians {ratio:.2f}"
            )
    if missed:
        print("runs whose fault missed (not counted): " + ", ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
