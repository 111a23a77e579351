"""`why:` lines of a run's result: what each fault kind that hit says of itself (its
registry entry's `explain`), and what the broker's consumer timeout did; each from the
page or user issue that says so."""

from __future__ import annotations

from mqcompare.faults.registry import KINDS
from mqcompare.result import RunResult


def run_notes(result: RunResult, blocked_publish: str) -> list[str]:
    """`blocked_publish` is the stack's own word on what bounds a publish on a blocked
    connection."""
    hit = {f["kind"]: f for f in result.get("faults", []) if f.get("hit")}  # the last of each
    lines: list[str] = []
    for kind in KINDS.values():
        if kind.explain is not None and kind.name in hit:
            lines += kind.explain(hit[kind.name], result, blocked_publish)
    timeout = result["spec"].get("consumer_timeout_s") or 0
    c = result["counts"]
    if timeout and (c.get("redelivered") or c.get("duplicated")):
        lines.append(
            f"the broker closed the channel of a consumer that held a delivery unacked longer "
            f"than {timeout:g} s (PRECONDITION_FAILED, RabbitMQ docs, Consumers: delivery "
            "acknowledgement timeout); what it held was delivered again (celery issue 6760)"
        )
    return lines + redis_persistence_notes(result, set(hit))


# what a Redis keeps on disk, per --redis-persistence (Redis docs, "Redis persistence")
KEPT_ON_DISK = {
    "none": "keeps nothing on disk",
    "default": "keeps RDB snapshots only, the first once 3,600 s pass with a change, 300 s "
    "with 100 or 60 s with 10,000 (redis-server's own default)",
    "rdb": "keeps RDB snapshots only (save 3600 1 300 100 60 10000)",
    "aof-everysec": "appends every write to its AOF and fsyncs it once a second: a crash "
    "loses up to a second of writes",
}


def redis_persistence_notes(result: RunResult, hit: set[str]) -> list[str]:
    """Why a Redis that restarted or crashed lost what was queued in it."""
    spec = result["spec"]
    kept = KEPT_ON_DISK.get(str(spec.get("redis_persistence", "")))
    lost = result["counts"].get("lost")
    if spec.get("broker_protocol") != "redis" or not lost or kept is None:
        return []
    if "kill" in hit or ("restart" in hit and spec.get("redis_persistence") == "none"):
        return [
            f"the Redis {kept}: what was queued since is gone when it restarts or crashes "
            "(Redis docs, Redis persistence; celery issues 1789 and 3501)"
        ]
    return []
