"""`python -m consumer --client scenarios_pika.consumer --queue Q [--queue-args JSON] --journal FILE
[--ack after|before|auto] [--prefetch N] [--work-ms N] --run-id ID`, broker URL in
MQCOMPARE_URL: the stack-neutral counting consumer, with a stack's consumer.py as client.

Consumes until SIGTERM, reconnecting whenever the connection is lost, and writes a
`deliver` record for every message: before acking it (ack after), after acking it
(ack before), or on receipt (auto ack, where the broker forgets it on sending). A poison
message (--poison) is rejected with requeue every time, with a `reject` record.

A stack's `consume` calls `handle(body, redelivered, settle, headers)`: `settle()` acks
the delivery, `settle(False)` rejects it with requeue; `headers` are the message's."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from mqcompare.consumer_state import BusyMarker
from mqcompare.envelope import decode
from mqcompare.journal import JournalWriter
from mqcompare.orphan import watch_parent
from mqcompare.spec import ACK_MODES
from mqcompare.stacks import URL_ENV


class Handler:
    """Turns one delivery into one journal record, in the order the ack mode says."""

    def __init__(
        self,
        journal: JournalWriter,
        ack: str,
        work_s: float,
        poison: frozenset[tuple[int, int]] = frozenset(),
    ) -> None:
        self.journal, self.ack, self.work_s, self.poison = journal, ack, work_s, poison
        self.busy = BusyMarker()  # what it processes right now (for consumer-kill)

    def __call__(
        self,
        body: bytes,
        redelivered: bool,
        do_ack: Callable[..., None],
        headers: dict[str, Any] | None = None,
    ) -> None:
        try:
            p, s, sent = decode(body)
        except ValueError as exc:
            print(f"consumer: {exc}; acked and skipped", file=sys.stderr, flush=True)
            if self.ack != "auto":
                do_ack()
            return
        if (p, s) in self.poison:
            count = (headers or {}).get("x-delivery-count")
            self.journal.reject(p, s, redelivered, count if isinstance(count, int) else None)
            do_ack(False)  # rejected with requeue: the broker decides what comes of it
            return
        self.busy.working(p, s)
        if self.work_s:
            time.sleep(self.work_s)
        if self.ack == "before":
            do_ack()
            self.journal.deliver(p, s, sent, redelivered)
        elif self.ack == "after":
            self.journal.deliver(p, s, sent, redelivered)
            do_ack()
        else:
            self.journal.deliver(p, s, sent, redelivered)
        self.busy.idle()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="consumer")
    ap.add_argument("--queue", required=True)
    ap.add_argument("--queue-args", default="{}", help="JSON: the queue's declare arguments")
    ap.add_argument("--journal", required=True)
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--ack", choices=ACK_MODES, default="after")
    ap.add_argument("--prefetch", type=int, default=100)
    ap.add_argument("--client", required=True, help="a stack's consumer module")
    ap.add_argument("--work-ms", type=float, default=0.0)
    ap.add_argument("--poison", default="", help="P:S,P:S...: the ids it always rejects")
    ap.add_argument(
        "--visibility-timeout", type=float, default=0.0, help="on Redis (0: the library's own)"
    )
    args = ap.parse_args(argv)
    poison = frozenset(
        (int(p), int(s)) for p, s in (one.split(":") for one in args.poison.split(",") if one)
    )
    url = os.environ.pop(URL_ENV, "")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    watch_parent(stop.set)
    client = importlib.import_module(args.client)
    with JournalWriter(args.journal, "consumer", args.run_id) as journal:
        handler = Handler(journal, args.ack, args.work_ms / 1000.0, poison)
        arguments = json.loads(args.queue_args)
        # only a client that speaks Redis is given it (the run refuses it on RabbitMQ)
        extra = {"visibility_timeout_s": args.visibility_timeout} if args.visibility_timeout else {}
        client.consume(url, args.queue, arguments, args.prefetch, args.ack, handler, stop, **extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
