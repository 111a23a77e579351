"""Judging claims over a cell's runs: held, refuted, held in k of N, not judged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqcompare.matrix.claims import judge, parse_predicate
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


def missed(**kw: object) -> dict[str, object]:
    """A run whose one fault missed (down after publishing ended)."""
    fault = {"kind": "restart", "at_s": 4.0, "hit": False, "why": "missed publishing"}
    return result(faults=[fault], **kw)  # type: ignore[arg-type]


def test_runs_whose_fault_missed_are_not_judged() -> None:
    j = judge("c", ("loss",), [result(lost=3), missed(lost=0), missed(lost=0)], no_peer)
    assert (j.verdict, j.runs, j.missed) == ("held", 1, 2)
    assert "2 more run(s) not tested: a fault missed" in j.evidence
    none = judge("c", ("loss",), [missed(), missed()], no_peer)
    assert (none.verdict, none.label, none.runs) == ("not tested", "not tested (fault missed)", 0)
    assert "restart@4s missed" in none.evidence[0]


def test_a_fault_never_launched_counts_as_missed() -> None:
    r = result()
    r["spec"]["faults"] = ["restart@9s:1s"]
    assert judge("c", ("no-loss",), [r], no_peer).verdict == "not tested"


def test_redelivered_predicate() -> None:
    again = result()
    again["counts"]["redelivered"] = 4
    assert judge("c", ("redelivered",), [again], no_peer).verdict == "held"
    assert judge("c", ("redelivered",), [result()], no_peer).verdict == "refuted"


def lossy(lost: int, total: int = 1000, **kw: object) -> dict[str, object]:
    return result(total=total, lost=lost, **kw)  # type: ignore[arg-type]


def test_loss_grows_with_rate_is_judged_on_the_series() -> None:
    growing = [
        (30.0, [lossy(0)]),
        (300.0, [lossy(2)]),
        (0.0, [lossy(280), lossy(300), lossy(10)]),
        (3000.0, [lossy(9)]),
    ]
    j = judge("g", ("loss-grows-with-rate",), [lossy(280)], no_peer, lambda: growing)
    assert j.verdict == "held"
    assert j.evidence[-1] == (
        "median lost by offered rate: 0.0 % at 30/s, 0.2 % at 300/s, 0.9 % at 3,000/s, "
        "28 % at unpaced (worst run 30 %)"
    )
    falling = [(30.0, [lossy(5)]), (300.0, [lossy(2)]), (0.0, [lossy(9)])]
    assert judge("g", ("loss-grows-with-rate",), [lossy(9)], no_peer, lambda: falling).verdict == (
        "refuted"
    )
    flat = [(30.0, [lossy(0)]), (0.0, [lossy(0)])]
    assert judge("g", ("loss-grows-with-rate",), [lossy(0)], no_peer, lambda: flat).verdict == (
        "refuted"
    )


def test_loss_grows_with_rate_leaves_out_rates_whose_fault_missed() -> None:
    series = [(30.0, [missed()]), (0.0, [lossy(9)])]
    j = judge("g", ("loss-grows-with-rate",), [lossy(9)], no_peer, lambda: series)
    assert j.verdict == "not judged"
    assert "not tested at 30/s: fault missed" in j.evidence[0]
    assert "fewer than two rates tested" in j.evidence[0]
