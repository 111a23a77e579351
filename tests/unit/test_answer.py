"""The answer a person takes away: each cell's outcome in words, the grid's rows told apart,
the advice checked against results, a run's timeline, and the estimate of a preset's time.
Hand-written results, named for what they show."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from mqcompare.checker import timeline
from mqcompare.errors import BadInput
from mqcompare.matrix.advice import check_advice
from mqcompare.matrix.estimate import cell_seconds, duration_text, preset_seconds
from mqcompare.matrix.grid import changes, counts, grid, labels, words
from mqcompare.matrix.preset import load_preset
from mqcompare.matrix.run import unmet
from mqcompare.matrix.summary import summarize
from mqcompare.outcome import outcome
from mqcompare.timeline import timeline_svg
from tests.results import document, result

HIT = {"kind": "restart", "at_s": 1.0, "down_s": 1.1, "up_s": 2.0, "end_s": 2.0, "hit": True}
MISSED = HIT | {"hit": False, "why": "missed publishing"}


def with_fault(r: dict[str, Any], span: dict[str, Any] = HIT) -> dict[str, Any]:
    r["faults"] = [span]
    r["spec"]["faults"] = ["restart@1s:1s"]
    return r


def counts_of(r: dict[str, Any], **changes: int) -> dict[str, Any]:
    r["counts"].update(changes)
    return r


# -- outcomes -------------------------------------------------------------------------------
def test_a_sane_run_is_exactly_once() -> None:
    assert outcome([result()]).text == "exactly once"
    assert outcome([result()]).safe


def test_silent_loss_comes_before_everything_else() -> None:
    found = outcome([result(lost=742, duplicated=3, producers_stalled=True)])
    assert found.kind == "silent-loss" and not found.safe
    assert found.text == "742 lost silently, hung after 100 of 100"


def test_a_spread_over_runs_says_in_how_many() -> None:
    runs = [result(lost=0), result(lost=12), result(lost=40)]
    assert outcome(runs).text == "12-40 lost silently in 2 of 3 runs"


def test_a_hang_says_how_far_the_producers_got() -> None:
    hung = counts_of(result(total=10_000, producers_stalled=True), attempted=1_266)
    assert outcome([hung]).text == "hung after 1,266 of 10,000"
    assert outcome([hung]).kind == "hang"


def test_failed_loudly_is_not_lost() -> None:
    r = counts_of(result(total=300), acknowledged=290, not_delivered_unacknowledged=10, unique=290)
    assert outcome([r]).text == "10 failed loudly, 0 lost"
    assert outcome([r]).kind == "loud-failure"


def test_a_run_that_publishes_for_a_time_is_not_short_of_its_cap() -> None:
    """--publish-for: --messages is a cap, so what was not attempted is not missing."""
    from mqcompare.report import headline

    capped = result(total=3_506)
    capped["spec"].update(messages=100_000, producers=4)
    assert outcome([capped]).text == "producers stopped 396,494 short, 0 lost"
    capped["spec"]["publish_for_s"] = 8.0
    assert outcome([capped]).text == "exactly once"
    assert ", 4 for 8 s, no faults" in headline(capped)


def test_duplicates_are_safe_but_not_exactly_once() -> None:
    found = outcome([result(duplicated=22)])
    assert (found.kind, found.text, found.safe) == ("duplicates", "22 duplicated, 0 lost", True)


def test_a_missed_fault_tests_nothing_and_is_left_out() -> None:
    assert outcome([with_fault(result(lost=5), MISSED)]).text == "not tested: fault missed"
    runs = [with_fault(result(lost=5), MISSED), with_fault(result())]
    assert outcome(runs).text == "exactly once (fault missed in 1 of 2)"


def test_what_a_cell_sets_out_to_show_is_intended() -> None:
    found = outcome([result(lost=50)], intended="dead-lettered")
    assert (found.kind, found.text) == ("intended", "50 dead-lettered, as intended")


def test_a_cell_that_could_not_run() -> None:
    assert outcome([], failed=1).text == "could not run"
    assert outcome([]).kind == "not-tested"


# -- the grid -------------------------------------------------------------------------------
GRID = """
name = "grid"
[defaults]
producers = 1
messages = 100
[[experiments]]
id = "2"
title = "Restarts"
[[experiments.claims]]
id = "safe"
says = "Confirms lose nothing."
source = "docs"
expect = ["no-loss"]
[[experiments.cells]]
stacks = ["pika", "kombu"]
faults = ["restart@1s:1s"]
rate = 60
[[experiments.cells]]
stacks = ["pika", "kombu"]
faults = ["restart@1s:1s"]
retry_budget = "0s"
rate = 60
[[experiments.cells]]
stacks = ["pika", "kombu"]
faults = ["restart@1s:1s"]
confirms = true
claim = "safe"
"""


@pytest.fixture
def grid_preset(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    return load_preset(str(path))


def test_each_preset_entry_is_one_question_and_rows_read_differently(grid_preset) -> None:  # type: ignore[no-untyped-def]
    rs = [
        with_fault(result(c.stack, c.mode, cell=c.id, lost=3 if c.id == "2.01" else 0))
        for c in grid_preset.cells
    ]
    summaries = summarize(document(grid_preset, rs), grid_preset)
    stacks, blocks = grid(grid_preset, summaries)
    assert stacks == ["pika", "kombu"]
    rows = [q.label for q in blocks[0].questions]
    assert len(set(rows)) == 3, rows
    assert rows[1].startswith("restart@1s:1s, no confirms, retry budget 0 s")
    assert "unpaced" in rows[2] and "at 60/s" in rows[0], "the pacing that differs is named"
    first = blocks[0].questions[0]
    assert [s.cell.id for s in first.by_stack["pika"]] == ["2.01"]
    assert first.by_stack["pika"][0].verdict() == "3 lost silently"
    lines = counts(summaries).lines()
    assert lines[0] == "6 cells, 6 runs." and "6 of 6 runs" in lines[1]
    assert lines[2].startswith("Claims: 2 held, 0 refuted")


def test_a_matrix_on_two_broker_versions_has_a_column_per_stack_and_version(
    grid_preset,  # type: ignore[no-untyped-def]
) -> None:
    rs = []
    for c in grid_preset.cells:
        r = with_fault(result(c.stack, c.mode, cell=c.id))
        r["environment"] = {"rabbitmq": "4.0.5" if c.id == "2.06" else "3.10.8"}
        rs.append(r)
    stacks, blocks = grid(grid_preset, summarize(document(grid_preset, rs), grid_preset))
    assert stacks == [
        "pika, RabbitMQ 3.10.8",
        "kombu, RabbitMQ 3.10.8",
        "kombu, RabbitMQ 4.0.5",
    ]
    last = blocks[0].questions[2].by_stack
    assert [s.cell.id for s in last["kombu, RabbitMQ 4.0.5"]] == ["2.06"]


def test_labels_name_only_what_differs_and_always_faults_and_confirms() -> None:
    a = {"mode": "", "faults": "kill@1s", "confirms": "confirms", "load": "1 x 10"}
    b = a | {"confirms": "no confirms"}
    assert labels([a, b]) == ["kill@1s, confirms", "kill@1s, no confirms"]


def test_words_say_a_window_and_a_cluster(grid_preset) -> None:  # type: ignore[no-untyped-def]
    cell = dataclasses.replace(
        grid_preset.cells[4], options={"confirm_window": 100}, cluster=3, queue="quorum"
    )
    said = words(cell)
    assert said["confirms"] == "confirms, window 100"
    assert said["queue"] == "quorum queue on 3 nodes, pause_minority"


# -- advice ---------------------------------------------------------------------------------
def test_advice_is_contradicted_by_a_confirmed_loss_and_untested_without_cells(
    grid_preset,  # type: ignore[no-untyped-def]
) -> None:
    rs = [
        with_fault(result(c.stack, c.mode, cell=c.id, lost=4 if c.id == "2.06" else 0))
        for c in grid_preset.cells
    ]
    checked = {
        c.advice.id: c for c in check_advice(summarize(document(grid_preset, rs), grid_preset))
    }
    confirms = checked["confirms"]
    assert confirms.verdict == "contradicted"
    assert [s.cell.id for s in confirms.tested] == ["2.05", "2.06"]
    assert [s.cell.id for s in confirms.against] == ["2.06"]
    assert checked["quorum"].verdict == "not tested"
    missed = [with_fault(r, MISSED) if r["cell"] == "2.06" else r for r in rs]
    again = check_advice(summarize(document(grid_preset, missed), grid_preset))
    assert next(c for c in again if c.advice.id == "confirms").verdict == "held"


# -- skipped cells ---------------------------------------------------------------------------
def test_a_partition_cell_without_nft_is_skipped_saying_what_to_install(
    grid_preset,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    import mqcompare.brokers.cluster

    cell = dataclasses.replace(grid_preset.cells[0], faults=("partition@1s:2s",), cluster=3)
    monkeypatch.setattr(mqcompare.brokers.cluster.shutil, "which", lambda _name: None)
    assert unmet(cell) == "a partition: nft is not installed (apt-get install -y nftables)"
    assert unmet(grid_preset.cells[0]) == ""
    doc = document(grid_preset, [], skipped=[{"cell": "2.01", "why": unmet(cell)}])
    s = summarize(doc, grid_preset)[0]
    assert s.outcome.text == "not run here: needs a partition" and s.outcome.kind == "not-tested"
    assert "1 skipped (see why above)" in counts(summarize(doc, grid_preset)).lines()[0]


# -- timeline -------------------------------------------------------------------------------
def test_timeline_bins_what_happened_from_the_first_publish() -> None:
    tl = timeline([100.05, 100.15, 100.16], [100.2, 101.0], [100.5], base=100.0)
    assert tl["bin_s"] == 0.05
    assert sum(tl["published"]) == 3 and sum(tl["delivered"]) == 2 and sum(tl["errors"]) == 1
    assert tl["published"][1] == 0 and tl["published"][3] == 2
    long = timeline([100.0 + i for i in range(600)], [], [], base=100.0)
    assert long["bin_s"] == 5.0 and len(long["published"]) <= 121


def test_timeline_svg_shades_each_fault_it_saw_down() -> None:
    r = with_fault(result())
    r["timeline"] = timeline([1.0 + i / 100 for i in range(300)], [1.5], [2.1, 2.2], base=1.0)
    svg = timeline_svg(r, "t")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 2 and "restart down 1.10 s, up 2.00 s" in svg
    assert len(re.findall(r'stroke="#b3261e"', svg)) == 2, "an error mark per bin with errors"
    assert timeline_svg(result(), "none") == "", "a result from before timelines draws nothing"


# -- estimate -------------------------------------------------------------------------------
def test_a_cell_takes_its_publishing_or_its_faults_whichever_is_longer(grid_preset) -> None:  # type: ignore[no-untyped-def]
    paced = grid_preset.cells[0]  # 100 at 60/s: 1.7 s; the restart seen back by 3 s
    assert cell_seconds(paced) == pytest.approx(2.0 + 3.0 + 1.5)
    slow = dataclasses.replace(paced, rate=10.0)  # 10 s of publishing
    assert cell_seconds(slow) == pytest.approx(2.0 + 10.0 + 1.5)
    assert preset_seconds(grid_preset, repeat=2) == pytest.approx(6.0 + 2 * 6 * 6.5)  # + a node
    assert duration_text(45) == "about 45 s" and duration_text(600) == "about 10 min"
    assert duration_text(6600) == "about 1 h 50 min"


def test_a_hang_over_runs_gives_the_range_reached() -> None:
    runs = [
        counts_of(result(total=10_000, producers_stalled=True), attempted=n) for n in (16, 1_416)
    ]
    assert (
        outcome([*runs, result(total=10_000)]).text
        == "hung after 16-1,416 of 10,000 in 2 of 3 runs"
    )


VERSIONS = """
name = "versions"
[[experiments]]
id = "P"
title = "Poison"
question = "q"
protocol = "p"
[[experiments.cells]]
stacks = ["pika", "kombu"]
queue = "quorum"
poison = 1
docker_image = ["mqcompare/rabbitmq:local", "mqcompare/rabbitmq:4.0"]
"""


def test_a_stacks_versions_sit_side_by_side_and_what_changed_is_said(tmp_path: Path) -> None:
    path = tmp_path / "versions.toml"
    path.write_text(VERSIONS)
    preset = load_preset(str(path))
    rs = []
    for c in preset.cells:
        four = c.docker_image.endswith("4.0")
        r = result(c.stack, c.mode, cell=c.id, lost=1 if four and c.stack == "pika" else 0)
        r["environment"] = {"rabbitmq": "4.0.5" if four else "3.10.8"}
        rs.append(r)
    stacks, blocks = grid(preset, summarize(document(preset, rs), preset))
    assert stacks == [
        "pika, RabbitMQ 3.10.8",
        "pika, RabbitMQ 4.0.5",
        "kombu, RabbitMQ 3.10.8",
        "kombu, RabbitMQ 4.0.5",
    ]
    assert len(blocks[0].questions) == 1, "one question, a column per version"
    (line,) = changes(stacks, blocks)
    said = ": pika: RabbitMQ 3.10.8: exactly once; RabbitMQ 4.0.5: 1 lost silently"
    assert line.startswith("P. ") and said in line


BROKERS = """
name = "brokers"
[[experiments]]
id = "R"
title = "Restart"
question = "q"
protocol = "p"
[[experiments.claims]]
id = "redis-loses"
broker = "Redis"
says = "s"
source = "src"
expect = ["loss"]
[[experiments.cells]]
stacks = ["celery", "kombu"]
broker = ["local", "redis"]
confirms = true
redis_persistence = "none"
visibility_timeout = "5s"
faults = ["restart@1s:1s"]
claims = ["redis-loses"]
"""


def test_rabbitmq_and_redis_sit_side_by_side_as_one_question(tmp_path: Path) -> None:
    path = tmp_path / "brokers.toml"
    path.write_text(BROKERS)
    preset = load_preset(str(path))
    on = {c.broker: c for c in preset.cells if c.stack == "celery"}
    # each broker keeps only what it takes: confirms on RabbitMQ, persistence on Redis
    assert on["local"].confirms and on["local"].redis_persistence == "default"
    assert "visibility_timeout_s" not in on["local"].timeouts
    assert not on["redis"].confirms and on["redis"].redis_persistence == "none"
    assert on["redis"].timeouts["visibility_timeout_s"] == 5.0
    assert len({c.group for c in preset.cells}) == 1, "one question"
    rs = []
    for c in preset.cells:
        redis = c.broker == "redis"
        r = with_fault(result(c.stack, c.mode, cell=c.id, lost=5 if redis else 0))
        r["environment"] = (
            {"broker_product": "Redis", "broker_version": "7.0.15", "redis": "7.0.15"}
            if redis
            else {"broker_product": "RabbitMQ", "rabbitmq": "3.10.8"}
        )
        rs.append(r)
    summaries = summarize(document(preset, rs), preset)
    stacks, blocks = grid(preset, summaries)
    assert stacks == [
        "kombu, RabbitMQ 3.10.8",
        "kombu, Redis 7.0.15",
        "celery, RabbitMQ 3.10.8",
        "celery, Redis 7.0.15",
    ]
    (line,) = changes(stacks, blocks)
    assert "kombu, celery: RabbitMQ 3.10.8: exactly once; Redis 7.0.15: 5 lost silently" in line
    verdicts = {s.cell.broker: s.judgements[0] for s in summaries if s.cell.stack == "kombu"}
    assert verdicts["redis"].verdict == "held"
    assert verdicts["local"].verdict == "not judged"
    assert "a claim about Redis; ran on RabbitMQ" in verdicts["local"].evidence[0]


def test_a_stack_that_does_not_speak_redis_is_refused_in_a_preset(tmp_path: Path) -> None:
    path = tmp_path / "brokers.toml"
    path.write_text(BROKERS.replace('["celery", "kombu"]', '["celery", "pika"]'))
    with pytest.raises(BadInput, match="pika does not speak Redis"):
        load_preset(str(path))


def test_sharing_advice_leaves_out_a_library_that_says_it_is_thread_safe() -> None:
    """amqpstorm says its connections may be shared: its shared-unsafe cells test that
    claim (experiment 1), not the advice against sharing pika or kombu."""
    quick = load_preset("quick")
    shared = [c for c in quick.cells if c.mode == "shared-unsafe"]
    assert {c.stack for c in shared} >= {"pika", "kombu", "amqpstorm"}
    rs = [result(c.stack, c.mode, cell=c.id) for c in shared]  # all exactly once
    (sharing,) = [
        c
        for c in check_advice(summarize(document(quick, rs), quick))
        if c.advice.id == "no-sharing"
    ]
    assert {s.cell.stack for s in sharing.tested} == {"pika", "kombu"}
    assert sharing.verdict == "contradicted"


def test_a_preset_measured_here_is_quoted_as_measured_until_it_changes(
    grid_preset, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from mqcompare.matrix import estimate

    assert estimate.time_text(grid_preset) == duration_text(preset_seconds(grid_preset))
    monkeypatch.setitem(
        estimate.MEASURED, grid_preset.name, estimate.Measured(750.0, len(grid_preset.cells), "x")
    )
    assert estimate.time_text(grid_preset) == "12 min here"
    assert estimate.time_text(grid_preset, repeat=3) == "38 min here"
    fewer = dataclasses.replace(grid_preset, cells=grid_preset.cells[1:])
    assert estimate.time_text(fewer) == duration_text(preset_seconds(fewer))
