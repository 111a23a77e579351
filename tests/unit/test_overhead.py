"""Time to an answer: a run's window and a matrix's overhead share (issue 29)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from mqcompare.matrix.overhead import matrix_overhead, work_s
from mqcompare.matrix.preset import load_preset
from mqcompare.matrix.run import MatrixRun


def test_a_run_works_from_its_first_publish_to_its_last_delivery() -> None:
    run = {"windows": {"publishing": [0.0, 4.0], "delivering": [0.1, 5.5]}}
    assert work_s(run) == pytest.approx(5.5)
    assert work_s({"windows": {"publishing": None, "delivering": None}}) == 0.0


def test_a_matrix_s_overhead_is_its_wall_time_less_its_runs_windows() -> None:
    runs = [{"windows": {"publishing": [0.0, 30.0], "delivering": [0.0, 30.0]}}] * 2
    doc = {"started_at": 1000.0, "finished_at": 1100.0, "results": runs}
    spent = matrix_overhead(doc)
    assert spent is not None
    assert spent.share == pytest.approx(0.4)
    assert spent.text() == (
        "2 runs in 1 min 40 s, of which they published and delivered for 1 min 00 s: 40% overhead"
    )
    assert matrix_overhead(doc | {"finished_at": None}) is None  # still running


def test_a_skipped_cell_asks_nothing_of_the_matrix_s_broker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A machine without iptables skips the delay cells: the broker must not then refuse
    the whole matrix for a fault only those cells need (it did, exit 3)."""
    import mqcompare.matrix.run as matrix_run

    monkeypatch.setattr(
        matrix_run, "machine_lacks", lambda kind: "no iptables" if kind == "delay" else ""
    )
    quick = load_preset("quick")
    m = MatrixRun(quick, tmp_path, 1, "local", Console(file=io.StringIO()))
    cells = m._runnable()
    delayed = {c.id for c in quick.cells if any(f.startswith("delay") for f in c.faults)}
    why = {s["cell"]: s["why"] for s in m.doc["skipped"]}
    assert delayed and all(why[cid] == "a delay: no iptables" for cid in delayed)
    assert not delayed & {c.id for c in cells}
    asked = set().union(*m.brokers.kinds.values())
    assert "delay" not in asked and "blackhole" in asked  # the cells that run still ask


def test_a_matrix_closes_its_brokers_at_once_and_each_despite_the_others() -> None:
    """Each close waits for all three to have begun (a barrier): closed one after another,
    the first would wait in vain. One that fails stops none of the others."""
    import threading

    from mqcompare.matrix.run import Brokers

    barrier = threading.Barrier(3, timeout=10)
    closed: list[str] = []

    class Closing:
        def __init__(self, name: str, fails: bool = False) -> None:
            self.name, self.fails = name, fails

        def close(self) -> None:
            barrier.wait()
            if self.fails:
                raise RuntimeError("the node would not stop")
            closed.append(self.name)

    brokers = Brokers("local", "test", [])
    brokers.open = {  # type: ignore[assignment]
        ("local", 1, "", "", "default"): Closing("node"),
        ("local", 3, "pause_minority", "", "default"): Closing("cluster", fails=True),
        ("docker", 1, "", "img", "default"): Closing("container"),
    }
    brokers.close()
    assert sorted(closed) == ["container", "node"]


def test_a_matrix_boots_its_brokers_at_once_and_a_failed_one_fails_only_its_cells(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each boot waits for all three to have begun (a barrier): booted one after another,
    the first would wait in vain. The container's failure is raised for its cells only."""
    import threading

    import mqcompare.matrix.run as matrix_run
    from mqcompare.errors import InfrastructureError
    from mqcompare.matrix.preset import Cell
    from mqcompare.matrix.run import Brokers

    barrier = threading.Barrier(3, timeout=10)

    class Booted:
        def heal(self) -> None:
            pass

    def open_broker(choice: str, label: str, cluster: int, *_a: object, **_k: object) -> Booted:
        barrier.wait()
        if choice == "docker":
            raise InfrastructureError("no Docker engine")
        return Booted()

    monkeypatch.setattr(matrix_run, "open_broker", open_broker)
    node = Cell(id="1", experiment="1", stack="pika", mode="connection-per-thread")
    cluster = Cell(id="2", experiment="1", stack="pika", mode="connection-per-thread", cluster=3)
    container = Cell(
        id="3", experiment="1", stack="pika", mode="connection-per-thread", broker="docker"
    )
    brokers = Brokers("local", "test", [node, cluster, container])
    brokers.boot_all()
    assert isinstance(brokers.get(node), Booted)
    brokers.wait_all()
    assert isinstance(brokers.get(cluster), Booted)
    with pytest.raises(InfrastructureError, match="no Docker engine"):
        brokers.get(container)
