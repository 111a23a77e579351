"""kombu, used each way experiment 1 asks about. `pool` is kombu's documented thread-safe
use; every mode publishes with kombu's own retry (`retry=True`), so a retry is kombu's
behaviour, journaled as a new attempt through the errback kombu calls before it."""

from __future__ import annotations

from mqcompare.stacks import Mode, Stack, mode_table


class KombuStack(Stack):
    name = "kombu"
    library = "kombu"
    default_mode = "pool"
    modes = mode_table(
        Mode(
            "pool",
            "each publish takes a producer from kombu.pools.producers (kombu's way)",
            "pooled",
        ),
        Mode(
            "shared-unsafe",
            "one Connection and Producer made once, shared by all threads",
            "shared_unsafe",
        ),
        Mode(
            "shared-locked",
            "one Connection and Producer shared by all threads behind a lock",
            "shared_locked",
        ),
        Mode(
            "connection-per-thread",
            "each producer thread has its own Connection and Producer",
            "connection_per_thread",
        ),
    )
