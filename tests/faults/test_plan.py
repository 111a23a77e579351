"""A fault plan against a real broker, once (the nemesis's ordering is unit-tested with
fakes in tests/unit/test_faults.py): faults run in order, each after the previous ended,
and one due after publishing ended still runs and is said to have missed."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.faults]


def test_faults_run_in_order_and_one_after_publishing_misses(run: Any) -> None:
    """A fault due after the producers finished still runs, in order, and the result
    says it missed: it tests no claim."""
    r = run(
        "pika",
        producers=1,
        messages=20,
        confirms=True,
        faults=["drop@0.2s", "drop@1.5s", "restart@1.6s:0.5s"],
        drain_timeout_s=20.0,
    )
    kinds = [f["kind"] for f in r["faults"]]
    assert kinds == ["drop", "drop", "restart"]
    begins = [f["begin_s"] for f in r["faults"]]
    assert begins == sorted(begins) and begins[1] >= 1.5
    assert begins[2] >= r["faults"][1]["end_s"]  # the third waited for the second
    restart = r["faults"][2]
    assert r["windows"]["publishing"][1] < 1.6 <= restart["down_s"]
    assert not restart["hit"]
    assert restart["why"].startswith("missed publishing: down at")
    assert r["counts"]["lost"] == 0
