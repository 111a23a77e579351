"""Judging claims over a cell's runs: held, refuted, held in k of N, not judged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqcompare.claims import judge, parse_predicate
from tests.results import result


def no_peer(_mode: str) -> None:
    return None


def test_loss_claim_held_refuted_and_mixed() -> None:
    lossy, clean = result(lost=5), result(lost=0)
    assert judge("c", ("loss",), [lossy], no_peer).verdict == "held"
    assert judge("c", ("loss",), [clean], no_peer).verdict == "refuted"
    j = judge("c", ("loss",), [lossy, clean, lossy], no_peer)
    assert (j.verdict, j.held_runs, j.runs, j.label) == ("mixed", 2, 3, "held in 2 of 3 runs")


def test_every_predicate_of_a_claim_must_hold() -> None:
    quiet_loss = result(lost=5)
    j = judge("unsafe", ("errors", "short"), [quiet_loss], no_peer)
    assert j.verdict == "refuted"
    assert any("no errors" in e for e in j.evidence)
    loud_loss = result(lost=5, errors={"StreamLostError": 3})
    assert judge("unsafe", ("errors", "short"), [loud_loss], no_peer).verdict == "held"


def test_interrupted_runs_are_not_judged() -> None:
    j = judge("c", ("no-loss",), [result(interrupted=True)], no_peer)
    assert j.verdict == "not judged" and j.runs == 0


def test_slower_than_compares_medians_with_the_named_cell() -> None:
    fast = [result(rate=1000.0), result(rate=1100.0)]
    slow = [result(rate=500.0), result(rate=600.0)]
    held = judge("locked", ("no-loss", "slower-than:shared-unsafe"), slow, lambda m: (m, fast))
    assert held.verdict == "held" and "ratio 0.52" in held.evidence[-1]
    refuted = judge("locked", ("slower-than:shared-unsafe",), fast, lambda m: (m, slow))
    assert refuted.verdict == "refuted"
    # within the noise margin is not slower
    same = judge("locked", ("slower-than:x",), [result(rate=980.0)], lambda m: (m, [result()]))
    assert same.verdict == "refuted"
    missing = judge("locked", ("slower-than:x",), slow, no_peer)
    assert missing.verdict == "not judged"


@pytest.mark.parametrize("bad", ["lossy", "slower-than", "loss:3", ""])
def test_unknown_predicates_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_predicate(bad)


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=8))
def test_held_runs_count_the_runs_that_lost(losses: list[int]) -> None:
    j = judge("c", ("loss",), [result(lost=n) for n in losses], no_peer)
    hits = sum(1 for n in losses if n)
    assert j.held_runs == hits and j.runs == len(losses)
    expected = "held" if hits == len(losses) else ("refuted" if hits == 0 else "mixed")
    assert j.verdict == expected
    opposite = judge("c", ("no-loss",), [result(lost=n) for n in losses], no_peer)
    assert opposite.held_runs == len(losses) - hits


def test_short_by_asks_for_a_share_of_the_planned_messages_missing() -> None:
    far = result(total=100, lost=30)  # 70 of 100 delivered
    near = result(total=100, lost=2)
    assert judge("c", ("short-by:10",), [far], no_peer).verdict == "held"
    j = judge("c", ("short-by:10",), [near], no_peer)
    assert j.verdict == "refuted" and "2 of 100 never delivered (2.0 %)" in j.evidence[0]
    for bad in ("short-by:0", "short-by:101", "short-by:lots", "short-by"):
        with pytest.raises(ValueError):
            parse_predicate(bad)
