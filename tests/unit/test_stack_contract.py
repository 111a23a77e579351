"""The stack contract, for every stack in the table: one folder shape, a stack.py that
imports no client library, a consumer side of one protocol, queue hooks, a session
factory per mode, options of one meaning each."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from mqcompare.admin import QueueHooks
from mqcompare.spec import RunSpec
from mqcompare.stacks import STACKS, all_options, load_stack

FILES = {"__init__.py", "stack.py", "connect.py", "admin.py", "consumer.py", "publish.py"}
CLIENTS = (
    "pika", "kombu", "amqp", "celery", "aio_pika", "aiormq", "dramatiq", "amqpstorm", "taskiq",
    "taskiq_aio_pika", "rabbitmq_amqp_python_client", "proton",
)  # fmt: skip
TOP = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(STACKS))
def test_every_stack_folder_has_the_same_files(name: str) -> None:
    folder = TOP / load_stack(name).package
    assert {p.name for p in folder.glob("*.py")} >= FILES


@pytest.mark.parametrize("name", list(STACKS))
def test_stack_py_imports_no_client_library(name: str) -> None:
    module = STACKS[name].partition(":")[0]
    code = f"import sys, {module}; print(' '.join(m for m in {CLIENTS!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=TOP)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"{module} imports {done.stdout.strip()}"


@pytest.mark.parametrize("name", list(STACKS))
def test_the_consumer_side_follows_one_protocol(name: str) -> None:
    stack = load_stack(name)
    consumer = importlib.import_module(f"{stack.package}.consumer")
    spec = RunSpec(stack=name, mode=stack.default_mode)
    argv = stack.consumer_argv(spec, 0, Path("/tmp/j.jsonl"))
    if stack.worker:
        assert callable(consumer.worker_argv) and not hasattr(consumer, "consume")
        assert argv == consumer.worker_argv(spec, 0)
        assert f"{stack.package}.worker" in " ".join(argv), "the worker loads worker.py"
    else:
        assert callable(consumer.consume)
        assert argv[1:3] == ["-m", "consumer"] and f"{stack.package}.consumer" in argv


@pytest.mark.parametrize("name", list(STACKS))
def test_queue_hooks_and_a_session_factory_per_mode(name: str) -> None:
    stack = load_stack(name)
    hooks = importlib.import_module(f"{stack.package}.admin").HOOKS
    assert isinstance(hooks, QueueHooks)
    assert hooks.counted("q")[0] == "q" and "q" in hooks.removed("q")
    publish = importlib.import_module(f"{stack.package}.publish")
    for mode in stack.modes.values():
        assert callable(getattr(publish, mode.session)), f"{name} {mode.name}"
    assert stack.default_mode in stack.modes


def test_each_option_key_has_one_meaning_and_its_default_parses() -> None:
    for key, (option, stacks) in all_options().items():
        assert option.key == key and stacks
        assert option.parse(option.default, by_key=True) == option.default
        for name in stacks:
            assert load_stack(name).option({}, key) == option.default


def test_a_protocol_that_settles_every_publish_is_judged_with_confirms() -> None:
    """always_confirms: the spec says confirms, whatever was asked (the run is judged as
    one with confirms, and its labels say so)."""
    settling = [n for n in STACKS if load_stack(n).always_confirms]
    assert settling == ["amqp10"]
    spec = RunSpec(stack="amqp10", mode="connection-per-thread", confirms=False)
    assert spec.confirms is True
    assert RunSpec(stack="pika", mode="connection-per-thread").confirms is False


def test_a_stack_that_needs_a_newer_broker_runs_only_in_cells_that_name_it() -> None:
    from mqcompare.matrix.preset import load_preset

    quick = load_preset("quick")
    named = {c.stack for c in quick.cells if c.stack == "amqp10"}
    assert named == {"amqp10"}
    for c in quick.cells:
        if c.stack == "amqp10":
            assert c.broker == "docker" and "4.0" in (c.docker_image or ""), c.id


@pytest.mark.parametrize(
    ("stack", "ack", "options", "holds"),
    [
        ("pika", "after", {}, True),  # the counting consumer journals, then acks
        ("pika", "before", {}, True),  # it acks, then journals, in one callback
        ("kombu", "auto", {}, False),  # the broker forgets what it sends
        ("pika", "auto", {}, False),
        ("celery", "after", {"acks_late": True}, True),
        ("celery", "after", {"acks_late": False}, False),  # prefetched tasks already acked
        ("dramatiq", "after", {}, True),
        ("dramatiq", "after", {"task_fails": 1}, False),  # retries wait in the delay queue
        ("taskiq", "after", {"ack_type": "when_saved"}, True),
        ("taskiq", "after", {"ack_type": "when_received"}, False),
        ("taskiq", "after", {"task_fails": 1}, False),
    ],
)
def test_a_drain_ends_on_the_broker_s_word_only_where_it_holds_until_journaled(
    stack: str, ack: str, options: dict[str, object], holds: bool
) -> None:
    s = load_stack(stack)
    spec = RunSpec(stack=stack, mode=s.default_mode, ack=ack, stack_options=options)
    assert s.holds_until_journaled(spec) is holds
