"""The private node's own bookkeeping, on a node of the test's own (not the session's)."""

from __future__ import annotations

import pytest

from mqcompare.brokers.node import LocalNode
from mqcompare.errors import InfrastructureError
from mqcompare.observe import pid_alive, wait_for

pytestmark = pytest.mark.broker


def test_stop_removes_a_vm_whose_pid_file_is_gone() -> None:
    """A failed boot or a fault can leave the VM running with its pid file removed; the
    node still knows its server's process group and stops it with the rest."""
    node = LocalNode.start_new(guard=False)
    beam = node.state.beam_pid()
    try:
        assert beam is not None and pid_alive(beam)
        # the application stops, its VM stays and holds the node's name; a boot on that
        # name then fails and replaces the server process the node remembers, as the
        # failed boots of a full-preset run did
        node.eval("rabbit:stop().")
        node.state.pidfile.unlink()
        with pytest.raises(InfrastructureError):
            node._boot_once()
    finally:
        node.stop()
    assert wait_for(lambda: not pid_alive(beam), 15.0) is not None, "the VM outlived stop()"
