"""Queue administration for celery runs: celery's broker client is kombu, so is its admin."""

from __future__ import annotations

from scenarios_kombu.admin import Admin

__all__ = ["Admin"]
