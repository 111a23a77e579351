"""Queue administration for aio-pika runs. The run's queue is declared, counted and
deleted through pika's blocking client: administration is not what the run measures,
and the core asks it synchronously."""

from __future__ import annotations

from scenarios_pika.admin import Admin as Admin
