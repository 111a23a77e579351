"""pika, used each way experiment 1 asks about. Only connection-per-thread and
process-per-producer are pika's documented use (pika FAQ); the other modes exist to
measure what the write-up claims happens when that advice is ignored."""

from __future__ import annotations

from mqcompare.stacks import Mode, Stack, mode_table


class PikaStack(Stack):
    name = "pika"
    library = "pika"
    default_mode = "connection-per-thread"
    modes = mode_table(
        Mode(
            "connection-per-thread",
            "each producer thread opens its own connection (pika FAQ)",
            "own_connection",
        ),
        Mode(
            "shared-unsafe",
            "one connection and channel made once, shared by all threads, no lock",
            "shared_unsafe",
        ),
        Mode(
            "shared-locked",
            "one connection and channel shared by all threads behind a lock",
            "shared_locked",
        ),
        Mode(
            "channel-per-thread",
            "one connection, each thread opens its own channel on it",
            "channel_per_thread",
        ),
        Mode(
            "fork-shared",
            "connection made in the parent, producers are forked processes using it",
            "shared_unsafe",
            processes=True,
        ),
        Mode(
            "process-per-producer",
            "each producer is a process with its own connection",
            "own_connection",
            processes=True,
        ),
    )
