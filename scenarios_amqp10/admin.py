"""The run's queues as this stack uses them: the one queue, declared, counted and deleted
by the core (mqcompare.admin), for the administration is not under test."""

from mqcompare.admin import QueueHooks

HOOKS = QueueHooks()
