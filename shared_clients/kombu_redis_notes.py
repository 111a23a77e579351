"""Why kombu's Redis transport lost, kept or delivered late what it did: `why:` lines for
the stacks that consume through it (celery's worker, kombu's consumer), importing no
client library (a stack's stack.py reads it anywhere)."""

from __future__ import annotations

from typing import Any


def redis_notes(result: Any, consumer: str) -> list[str]:
    """Why kombu's Redis transport (under `consumer`: a celery worker, kombu's consumer)
    lost, kept or delivered late what it did."""
    spec, c = result["spec"], result["counts"]
    if spec.get("broker_protocol") != "redis":
        return []
    notes = []
    faults = [f for f in result.get("faults", []) if f.get("hit")]
    broker_faults = {f["kind"] for f in faults} & {"restart", "kill", "pause", "drop"}
    held = (result.get("drain") or {}).get("unacked")
    if held:
        notes.append(
            f"{held} messages were still in kombu's unacked hash when the run stopped "
            f"waiting: a message {consumer} took and did not ack (its ack failed while Redis "
            "was away, or it died) is delivered again only after the visibility timeout, an "
            "hour by default (celery docs, Using Redis: Visibility timeout)"
        )
    if c.get("lost") and broker_faults:
        notes.append(
            "kombu takes a message off the list with BRPOP and records it as unacked only "
            "once it has read the reply: the message a BRPOP carried when Redis went away is "
            "gone, whatever Redis kept on disk (celery issue 4354)"
        )
    late = [
        f["came_back"]["after_s"][0] for f in faults if (f.get("came_back") or {}).get("after_s")
    ]
    if late and max(late) > (spec.get("visibility_timeout_s") or 3600) + 5:
        notes.append(
            "kombu puts unacked messages older than the visibility timeout back only on a "
            "sweep: in a worker's event loop every unacked_restore_interval x "
            "unacked_restore_throttle = 10 x 10 s (kombu/transport/redis.py), so they came "
            "back up to 100 s after the timeout"
        )
    return notes
