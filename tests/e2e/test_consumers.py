"""Any counting consumer can judge any stack's producers."""

from typing import Any

import pytest


@pytest.mark.broker
@pytest.mark.parametrize(
    ("stack", "consumer"),
    [("pika", "kombu"), ("kombu", "pika"), ("aio-pika", "pika"), ("pika", "aio-pika")],
)
def test_cross_library_consumer(run: Any, stack: str, consumer: str) -> None:
    r = run(stack, consumer=consumer, producers=2, messages=200, confirms=True)
    assert r["counts"]["unique"] == r["counts"]["acknowledged"] == 400
    assert r["verdict"]["exactly_once"]
