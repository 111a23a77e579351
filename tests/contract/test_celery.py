from tests.contract.common import PublishContract


class TestCelery(PublishContract):
    stack = "celery"
    exactly_once_modes = ("shared-app", "producer-per-thread")
    no_unsafe_mode = "both celery modes take producers from the app's pool: none is unsafe"
