"""Hand-built results and results documents for report tests (no broker)."""

from __future__ import annotations

from typing import Any

from mqcompare.matrix.preset import Preset
from mqcompare.matrix.run import RESULTS_FORMAT

COUNTS = [
    "attempted",
    "acknowledged",
    "failed",
    "unknown",
    "delivered",
    "unique",
    "lost",
    "recovered",
    "unexpected",
    "duplicated",
    "extra_deliveries",
    "redelivered",
    "not_delivered_unacknowledged",
    "reordered",
    "torn_lines",
]


def result(
    stack: str = "pika",
    mode: str = "connection-per-thread",
    total: int = 100,
    lost: int = 0,
    duplicated: int = 0,
    errors: dict[str, int] | None = None,
    rate: float = 1000.0,
    confirms: bool = False,
    cell: str = "",
    **extra: Any,
) -> dict[str, Any]:
    counts = dict.fromkeys(COUNTS, 0)
    counts.update(
        attempted=total,
        acknowledged=total,
        unique=total - lost,
        delivered=total - lost + duplicated,
        lost=lost,
        duplicated=duplicated,
        extra_deliveries=duplicated,
    )
    return {
        "format": "mqcompare.result/1",
        "run_id": f"run-{cell}-{stack}",
        "spec": {
            "stack": stack,
            "mode": mode,
            "producers": 1,
            "messages": total,
            "confirms": confirms,
            "faults": [],
            "ack": "after",
            "stack_options": {f"{stack}_version": "1.0"},
        },
        "counts": counts,
        "verdict": {"valid": lost == 0, "exactly_once": lost == 0 and duplicated == 0},
        "errors": errors or {},
        "throughput": {"publish_per_s": rate, "deliver_per_s": rate},
        "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0, "max": 4.0},
        "faults": [],
        "duration_s": 1.0,
        "cell": cell,
        "repeat": 1,
        **extra,
    }


def document(preset: Preset, results: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "format": RESULTS_FORMAT,
        "preset": preset.to_json(),
        "repeat": 1,
        "started_at": 1_790_000_000.0,
        "finished_at": 1_790_000_100.0,
        "complete": True,
        "interrupted": False,
        "failed_runs": [],
        "broker": "private node test",
        "results": results,
        **extra,
    }
