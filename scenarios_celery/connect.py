"""How celery's clients connect: through kombu (its broker client: shared_clients.kombu_client),
with celery's own publish retry policy, or the same budget as every other stack's."""

from __future__ import annotations

from typing import Any

from shared_clients.kombu_client import CONFIRM_TIMEOUT_S, release_all, retry_policy

__all__ = ["CELERY_DEFAULT_POLICY", "CONFIRM_TIMEOUT_S", "publish_policy", "release_all"]

# celery's own default (task_publish_retry_policy): about 0.6 s of retries
CELERY_DEFAULT_POLICY = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_max": 1,
    "interval_step": 0.2,
}


def publish_policy(publish_retry: str, retry_budget_s: float) -> dict[str, Any]:
    if publish_retry == "celery-default":
        return dict(CELERY_DEFAULT_POLICY)
    return retry_policy(retry_budget_s)
