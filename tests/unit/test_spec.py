from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqcompare.envelope import decode, encode, message_id
from mqcompare.errors import BadInput
from mqcompare.faults.kind import Fault
from mqcompare.faults.plan import parse_fault
from mqcompare.spec import RunSpec
from mqcompare.units import parse_duration, redact_url


@pytest.mark.parametrize(
    ("text", "seconds"), [("2", 2.0), ("2s", 2.0), ("1.5s", 1.5), ("500ms", 0.5)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "--x") == seconds


@pytest.mark.parametrize("text", ["x", "-1s", "1m", "", "1.s"])
def test_bad_durations_name_the_flag(text: str) -> None:
    with pytest.raises(BadInput, match=r"^--retry-budget: "):
        parse_duration(text, "--retry-budget")


def test_fault_grammar() -> None:
    assert parse_fault("restart@1s:2s") == Fault("restart", 1.0, 2.0)
    assert parse_fault("drop@2s") == Fault("drop", 2.0, 0.0)
    assert str(parse_fault("kill@3:1")) == "kill@3s:1s"
    assert str(parse_fault("consumer-kill@500ms")) == "consumer-kill@0.5s"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("restart@x", "not a duration"),
        ("nuke@1s", "unknown fault kind 'nuke'"),
        ("restart", "not KIND@AT"),
        ("drop@1s:2s", "takes no down time"),
    ],
)
def test_bad_faults(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as info:
        parse_fault(text)
    assert info.value.flag == "--fault"


@given(
    st.sampled_from(["restart", "kill", "consumer-kill"]),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
def test_fault_round_trip(kind: str, at_ms: int, down_ms: int) -> None:
    fault = Fault(kind, at_ms / 1000, down_ms / 1000)
    assert parse_fault(str(fault)) == fault


@pytest.mark.parametrize(
    ("field", "flag"), [("producers", "--producers"), ("messages", "--messages")]
)
@pytest.mark.parametrize("value", [0, -3])
def test_counts_must_be_positive(field: str, flag: str, value: int) -> None:
    with pytest.raises(BadInput, match=f"^{flag}: "):
        RunSpec(stack="pika", mode="m", **{field: value})


def test_spec_json_round_trip_hides_the_password() -> None:
    spec = RunSpec(
        stack="pika", mode="m", faults=(Fault("restart", 1, 2),), broker="amqp://u:secret@h:5/v"
    )
    data = spec.to_json()
    assert "secret" not in str(data)
    assert data["broker"] == "amqp://u:***@h:5/v"
    assert RunSpec.from_json(data).faults == spec.faults


def test_redact_url_without_password_is_unchanged() -> None:
    assert redact_url("amqp://h:5672/") == "amqp://h:5672/"


@given(st.integers(0, 10**6), st.integers(0, 10**9), st.floats(0, 2e9))
def test_envelope_round_trip(p: int, s: int, sent: float) -> None:
    assert decode(encode(p, s, sent)) == (p, s, sent)
    assert message_id(p, s) == f"{p}:{s}"


def test_foreign_body_is_rejected() -> None:
    with pytest.raises(ValueError, match="not an mqcompare envelope"):
        decode(b"hello")


def test_private_broker_ports_are_below_the_ephemeral_range() -> None:
    """A broker port a reconnecting client could be given as its own source port would
    let the client connect to itself while the broker is down, and keep it from listening."""
    from mqcompare.brokers.ports import ephemeral_ports, free_port

    low, _ = ephemeral_ports()
    ports = {free_port() for _ in range(20)}
    assert all(1024 <= p < low for p in ports)
    assert len(ports) > 1, "chosen at random, so that parallel runs rarely collide"


def test_the_brokers_queue_list_is_read_by_name() -> None:
    from mqcompare.brokers.node import parse_queue_list

    out = "mqcompare.a\tquorum\t\nmqcompare.b\tclassic\tmqcompare-ha-b\n"
    assert parse_queue_list(out, "mqcompare.b") == {"type": "classic", "policy": "mqcompare-ha-b"}
    assert parse_queue_list(out, "mqcompare.a") == {"type": "quorum", "policy": ""}
    assert parse_queue_list(out, "mqcompare.c") is None


def test_the_heartbeat_reaches_clients_in_whole_seconds_or_as_the_library_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mqcompare.stacks import CLIENT_HEARTBEAT_S, HEARTBEAT_ENV, client_heartbeat

    monkeypatch.delenv(HEARTBEAT_ENV, raising=False)
    assert client_heartbeat() == CLIENT_HEARTBEAT_S, "a process the run did not start"
    for value, proposed in [("2.4", 2), ("0.2", 1), ("0", None)]:
        monkeypatch.setenv(HEARTBEAT_ENV, value)
        assert client_heartbeat() == proposed
