"""Presets: the built-in ones say what the issue asks of them; a user's file is checked
key by key, and every mistake is one BadInput naming --preset."""

from __future__ import annotations

from pathlib import Path

import pytest

from mqcompare.errors import BadInput
from mqcompare.matrix.preset import Preset, load_preset
from mqcompare.stacks import STACKS, load_stack

TINY = """
name = "tiny"
[defaults]
producers = 2
messages = 10

[[experiments]]
id = "x"
title = "Tiny"
question = "q"
protocol = "p"

[[experiments.claims]]
id = "nothing-lost"
says = "nothing is lost"
source = "test"
expect = ["no-loss"]

[[experiments.cells]]
stacks = ["pika", "kombu"]
confirms = [false, true]
claim = "nothing-lost"
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return str(path)


def test_a_user_file_crosses_its_lists(tmp_path: Path) -> None:
    preset = load_preset(write(tmp_path, TINY))
    combos = {(c.stack, c.mode, c.confirms) for c in preset.cells}
    assert combos == {
        ("pika", "connection-per-thread", False),
        ("pika", "connection-per-thread", True),
        ("kombu", "pool", False),
        ("kombu", "pool", True),
    }
    assert [c.id for c in preset.cells] == ["x.01", "x.02", "x.03", "x.04"]
    assert all(c.producers == 2 and c.messages == 10 for c in preset.cells)
    assert all(c.claims == ("nothing-lost",) for c in preset.cells)


def test_the_preset_survives_results_json(tmp_path: Path) -> None:
    preset = load_preset(write(tmp_path, TINY))
    assert Preset.from_json(preset.to_json()) == preset


# the stacks a cell that names no stack runs on: a stack that needs RabbitMQ 4 (amqp10) is
# asked in cells of its own, which name its broker
EVERY = {s for s in STACKS if not load_stack(s).min_rabbitmq}


def with_and_without_confirms(stacks: set[str] | dict[str, str]) -> set[tuple[str, bool]]:
    """(stack, confirms) pairs; a stack whose protocol settles every publish has only True."""
    return {
        (s, conf)
        for s in stacks
        for conf in ((True,) if load_stack(s).always_confirms else (False, True))
    }


def test_quick_asks_every_question_of_every_stack() -> None:
    quick = load_preset("quick")
    for exp in ("1", "2", "3"):
        stacks = {c.stack for c in quick.cells if c.experiment == exp}
        assert stacks == set(STACKS), exp
    # the write-up's three named variants of experiment 1
    modes = {c.mode for c in quick.cells if c.experiment == "1"}
    assert {"shared-unsafe", "shared-locked", "channel-per-thread", "fork-shared"} <= modes
    # experiment 2 is asked with and without confirms on each stack
    assert {
        (c.stack, c.confirms) for c in quick.cells if c.experiment == "2"
    } == with_and_without_confirms(STACKS)


def test_seed_has_the_write_ups_sizes() -> None:
    seed = load_preset("seed")
    first = [c for c in seed.cells if c.experiment == "1"]
    assert all((c.producers, c.messages, c.faults) == (10, 1000, ()) for c in first)
    pika_modes = {c.mode for c in first if c.stack == "pika"}
    assert pika_modes == {
        "shared-unsafe",
        "shared-locked",
        "channel-per-thread",
        "fork-shared",
        "connection-per-thread",
        "process-per-producer",
    }
    restarts = [c for c in seed.cells if c.experiment == "2" and c.messages == 300]
    assert {(c.stack, c.confirms) for c in restarts} == with_and_without_confirms(STACKS)
    assert all(
        c.producers == 10 and [f.split("@")[0] for f in c.faults] == ["restart"] * 3
        for c in restarts
    )
    celery_crash = [c for c in seed.cells if c.experiment == "3" and c.stack == "celery"]
    assert {c.options.get("acks_late") for c in celery_crash} == {False, True}
    assert any(c.options.get("reject_on_worker_lost") for c in celery_crash)


def test_seed_runs_experiment_2_as_the_write_up_did() -> None:
    """Beside the paced cells: saturating, read afterwards, and producers that give up,
    each on every stack, with and without confirms where it applies."""
    seed = load_preset("seed")
    two = [c for c in seed.cells if c.experiment == "2"]
    every = EVERY
    unpaced = [c for c in two if c.rate == 0 and c.consume == "during"]
    after = [c for c in two if c.consume == "after"]
    give_up = [c for c in two if c.timeouts.get("retry_budget_s") == 0]
    for cells in (unpaced, after):
        assert {(c.stack, c.confirms) for c in cells} == {
            (s, conf) for s in every for conf in (False, True)
        }
        assert all(c.faults == ("restart@1s:1s",) for c in cells)
    assert {c.stack for c in give_up} == every and not any(c.confirms for c in give_up)
    assert all("give-up-reported" in c.claims for c in give_up)
    # the write-up's own setup: a container stopped and started three times, every stack
    docker = [c for c in two if c.broker == "docker"]
    assert {(c.stack, c.confirms) for c in docker} == with_and_without_confirms(STACKS)
    assert all(len(c.faults) == 3 and c.rate == 30 and c.messages == 300 for c in docker)
    # no cell is judged on a claim about the other confirms setting
    for c in two:
        about_confirms = {cid for cid in c.claims if cid.startswith("confirms-")}
        assert not about_confirms or c.confirms, c.id


def test_seed_sweeps_the_rate_under_one_restart() -> None:
    seed = load_preset("seed")
    sweep = [c for c in seed.cells if c.experiment == "5"]
    for stack in ("pika", "kombu"):
        for consume in ("during", "after"):
            cells = [c for c in sweep if c.stack == stack and c.consume == consume]
            assert sorted(c.rate for c in cells) == [0, 30, 300, 3000]
            assert {c.faults for c in cells} == {("restart@1s:1s",)}
            assert [c.rate for c in cells if c.claims] == [0]  # judged once, on the series


def test_issues_asks_experiment_6_of_every_stack_and_quick_one_cell_of_each() -> None:
    issues = load_preset("issues")
    by_question: dict[str, set[str]] = {}
    for c in issues.cells:
        question = (
            "alarm" if c.faults == ("alarm@1s:3s",)
            else "timeout" if c.timeouts.get("consumer_timeout_s")
            else "mandatory" if c.mandatory
            else "deleted"
        )  # fmt: skip
        by_question.setdefault(question, set()).add(c.stack)
    assert by_question["alarm"] == by_question["timeout"] == by_question["deleted"] == EVERY
    # dramatiq and taskiq cannot publish mandatory: a cell shared by all stacks leaves them out
    assert by_question["mandatory"] == {s for s in EVERY if not load_stack(s).no_mandatory}
    quick = [c for c in load_preset("quick").cells if c.experiment == "6"]
    assert len(quick) == 4
    assert {f.split("@")[0] for c in quick for f in c.faults} == {"alarm", "queue-delete"}
    assert [c.mandatory for c in quick if c.faults == ("queue-delete@1s",)] == [False, True]
    assert any(c.timeouts.get("consumer_timeout_s") == 1.0 for c in quick)


@pytest.mark.parametrize("name", ["quick", "seed", "full", "cluster", "issues"])
def test_every_built_in_claim_states_one_thing(name: str) -> None:
    """A compound claim shows one verdict for several statements; each is its own claim."""
    preset = load_preset(name)
    for exp in preset.experiments.values():
        for claim in exp.claims.values():
            assert len(claim.expect) == 1, (exp.id, claim.id, claim.expect)


def test_full_covers_every_mode_confirms_and_fault_kind() -> None:
    from mqcompare.stacks import load_stack

    full = load_preset("full")
    for stack in STACKS:
        modes = set(load_stack(stack).modes)
        cells = [c for c in full.cells if c.stack == stack]
        for kind in ("restart", "kill", "drop"):
            covered = {
                (c.mode, c.confirms) for c in cells if any(f.startswith(kind) for f in c.faults)
            }
            confirms = (True,) if load_stack(stack).always_confirms else (False, True)
            assert covered == {(m, conf) for m in modes for conf in confirms}, (stack, kind)
    celery_kinds = {f.split("@")[0] for c in full.cells if c.stack == "celery" for f in c.faults}
    assert {"worker-kill", "worker-crash"} <= celery_kinds


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (('claim = "nothing-lost"', 'claim = "made-up"'), "made-up"),
        (("confirms = [false, true]", 'confirms = "sometimes"'), "confirms"),
        (("confirms = [false, true]", 'consume = "later"'), "consume: 'later'"),
        (('stacks = ["pika", "kombu"]', 'stacks = ["zeromq"]'), "zeromq"),
        (('stacks = ["pika", "kombu"]', 'stack = "pika"\nmode = "sideways"'), "sideways"),
        (('expect = ["no-loss"]', 'expect = ["no-bugs"]'), "no-bugs"),
        (("producers = 2", "producers = 0"), "producers"),
        (("producers = 2", "prodcers = 2"), "prodcers"),
        (('id = "x"', 'id = "x"\ncolour = "blue"'), "colour"),
        (('claim = "nothing-lost"', 'faults = ["nuke@1s"]'), "nuke"),
        (('claim = "nothing-lost"', 'faults = ["worker-kill@1s"]'), "worker-kill"),
        (("[[experiments.cells]]", "[[experiments.cells]\n"), "TOML"),
        (("confirms = [false, true]", 'broker = "kubernetes"'), "broker"),
        (("confirms = [false, true]", "acks_late = false"), "only celery takes it"),
        (('stacks = ["pika", "kombu"]', 'stack = "celery"\nconcurrency = "two"'), "concurrency"),
    ],
)
def test_mistakes_name_the_preset_and_the_key(
    tmp_path: Path, change: tuple[str, str], words: str
) -> None:
    text = TINY.replace(*change)
    assert text != TINY
    with pytest.raises(BadInput) as info:
        load_preset(write(tmp_path, text))
    message = str(info.value)
    assert message.startswith("--preset: ") and words in message
    assert "\n" not in message.split(": ", 1)[1].split("TOML")[0]


def test_unknown_preset_names_the_built_ins(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="quick, seed, full"):
        load_preset("medium")
    with pytest.raises(BadInput, match="quick, seed, full"):
        load_preset(str(tmp_path / "missing.toml"))


def test_a_base_lends_its_questions_and_claims(tmp_path: Path) -> None:
    text = """
name = "mine"
base = "seed"
[[experiments]]
id = "2"
[[experiments.cells]]
stack = "pika"
confirms = true
messages = 5
faults = ["restart@1s:1s"]
claims = ["confirms-no-loss"]
"""
    preset = load_preset(write(tmp_path, text))
    exp = preset.experiments["2"]
    assert "stopped and started" in exp.question and "confirms-no-loss" in exp.claims
    assert [c.stack for c in preset.cells] == ["pika"]


def test_a_cell_overrides_the_defaults_in_either_spelling(tmp_path: Path) -> None:
    text = TINY.replace("messages = 10", 'messages = 10\nstack = "celery"')
    preset = load_preset(write(tmp_path, text))  # the cell's `stacks` wins over `stack`
    assert {c.stack for c in preset.cells} == {"pika", "kombu"}


def test_a_preset_keeps_only_the_experiments_asked_for() -> None:
    seed = load_preset("seed").only_experiments(["4b"])
    assert list(seed.experiments) == ["4b"]
    assert seed.cells and {c.experiment for c in seed.cells} == {"4b"}
    assert {c.stack for c in seed.cells} == {"pika", "aio-pika"}
    windows = {c.options.get("confirm_window", 1) for c in seed.cells if c.confirms}
    assert windows == {1, 10, 100, 1000}


def test_docker_images_are_crossed_into_one_question_per_version(tmp_path: Path) -> None:
    """`docker_image` as a list: a cell per image, each on a docker broker, all in the same
    question (a grid row, a column per broker version)."""
    images = 'docker_image = ["mqcompare/rabbitmq:local", "mqcompare/rabbitmq:4.0"]'
    text = TINY.replace('stacks = ["pika", "kombu"]', 'stack = "pika"').replace(
        'claim = "nothing-lost"', f'claim = "nothing-lost"\n{images}'
    )
    preset = load_preset(write(tmp_path, text))
    by_image = {(c.docker_image, c.confirms) for c in preset.cells}
    assert by_image == {
        (image, confirms)
        for image in ("mqcompare/rabbitmq:local", "mqcompare/rabbitmq:4.0")
        for confirms in (False, True)
    }
    assert all(c.broker == "docker" for c in preset.cells)
    groups = {c.confirms: set() for c in preset.cells}
    for c in preset.cells:
        groups[c.confirms].add(c.group)
    assert all(len(g) == 1 for g in groups.values()), "one question per confirms setting"
    assert Preset.from_json(preset.to_json()).cells == preset.cells


def test_a_docker_image_on_a_local_broker_is_refused(tmp_path: Path) -> None:
    text = TINY.replace('claim = "nothing-lost"', 'broker = "local"\ndocker_image = "x"')
    with pytest.raises(BadInput, match='docker_image is for broker = "docker"'):
        load_preset(write(tmp_path, text))
