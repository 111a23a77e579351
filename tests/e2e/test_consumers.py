"""Either library's counting consumer can judge either stack's producers."""

from typing import Any

import pytest


@pytest.mark.broker
@pytest.mark.parametrize(("stack", "consumer"), [("pika", "kombu"), ("kombu", "pika")])
def test_cross_library_consumer(run: Any, stack: str, consumer: str) -> None:
    r = run(stack, consumer=consumer, producers=2, messages=200, confirms=True)
    assert r["counts"]["unique"] == r["counts"]["acknowledged"] == 400
    assert r["verdict"]["exactly_once"]
