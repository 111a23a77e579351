from tests.contract.common import PublishContract


class TestCelery(PublishContract):
    stack = "celery"
    exactly_once_modes = ("shared-app", "producer-per-thread")
    test_unsafe_mode_ends_and_accounts_for_every_message = None  # celery has no unsafe mode
