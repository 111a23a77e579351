"""How late each broker fault lands: from the second it was due to the moment the broker
was seen down (the `lag_s` every result reports), per fault kind, measured through real
mqcompare runs while producers publish.

Side by side, in the same rounds, the same faults launched the way mqcompare launched
them before (and the way a user would by hand): `rabbitmqctl stop_app` and `rabbitmqctl
close_all_connections`, whose CLI boots an Erlang VM of its own before it acts. kill has
one way only (SIGKILL of the node's VM). Rounds alternate which side goes first.

    .venv/bin/python bench/fault_lag.py [--rounds 5] [--stack pika]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from mqcompare.brokers.node import LocalNode
from mqcompare.errors import BrokerNotBack, InfrastructureError
from mqcompare.faults.plan import parse_fault
from mqcompare.observe import PhaseLog, sleep_until, wait_for
from mqcompare.runner import execute
from mqcompare.spec import RunSpec

TARGET_S = 0.3
PLANS = {"restart": "restart@1s:1s", "kill": "kill@1s:1s", "drop": "drop@1s"}


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


def lag(node: LocalNode, stack: str, kind: str) -> tuple[float | None, bool]:
    """(lag in seconds, whether the fault hit) of one run with one fault of `kind`."""
    spec = RunSpec(
        stack=stack,
        mode="connection-per-thread" if stack == "pika" else "pool",
        producers=10,
        messages=1500,
        rate=300.0,  # 5 s of publishing: a fault at 1 s lands in the middle
        faults=(parse_fault(PLANS[kind]),),
    )
    out = Path(tempfile.mkdtemp(prefix="mqcompare-bench-")) / "run"
    try:
        result = execute(spec, out, broker=node, say=lambda _m: None)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    (f,) = result["faults"]
    return f.get("lag_s"), bool(f.get("hit"))


def describe(lags: list[float]) -> str:
    return (
        f"median {statistics.median(lags):.3f} s (min {min(lags):.3f}, max {max(lags):.3f}, "
        f"{len(lags)} runs)"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--stack", choices=("pika", "kombu"), default="pika")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    node = LocalNode.start_new()
    cli = ThroughCli(node.state, owned=False)  # the same node, the other way in
    ours: dict[str, list[float]] = {kind: [] for kind in PLANS}
    theirs: dict[str, list[float]] = {kind: [] for kind in ("restart", "drop")}
    missed: list[str] = []
    try:
        for i in range(args.rounds):
            for kind in PLANS:
                sides = [(node, ours)] + ([(cli, theirs)] if kind in theirs else [])
                for broker, lags in sides if i % 2 == 0 else sides[::-1]:
                    value, hit = lag(broker, args.stack, kind)
                    way = "rabbitmqctl" if broker is cli else "mqcompare"
                    if value is None or not hit:
                        missed.append(f"round {i + 1} {kind} via {way}")
                        continue
                    lags[kind].append(value)
            print(
                f"round {i + 1}: "
                + ", ".join(
                    f"{kind} {ours[kind][-1]:.3f} s"
                    + (f" (rabbitmqctl {theirs[kind][-1]:.3f} s)" if kind in theirs else "")
                    for kind in PLANS
                    if ours[kind]
                ),
                flush=True,
            )
    finally:
        node.stop()
    print(f"Fault lag, due to observed down, {args.stack} producers publishing (10 x 300/s):")
    for kind in PLANS:
        if not ours[kind]:
            print(f"  {kind:8} no run hit")
            continue
        median = statistics.median(ours[kind])
        verdict = "met" if median <= TARGET_S else "NOT met"
        print(f"  {kind:8} mqcompare   {describe(ours[kind])}: target <= {TARGET_S} s {verdict}")
        if theirs.get(kind):
            ratio = median / statistics.median(theirs[kind])
            print(f"  {'':8} rabbitmqctl {describe(theirs[kind])}; ratio of medians {ratio:.2f}")
    if missed:
        print("runs whose fault missed (not counted): " + ", ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
