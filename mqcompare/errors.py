"""The two kinds of failure the command line maps to exit codes (docs/architecture.md)."""


class BadInput(Exception):
    """Exit 2: the user asked for something that is not allowed; names the flag."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"{flag}: {message}" if flag else message)
        self.flag = flag


class NotOnThisBroker(BadInput):
    """Exit 2: the broker's version cannot answer what was asked (e.g. mirroring on
    RabbitMQ 4); a matrix skips such a cell, saying why, instead of failing it."""


class InfrastructureError(Exception):
    """Exit 3: the broker is unreachable, refuses us, or cannot perform a fault."""


class BrokerNotBack(InfrastructureError):
    """A fault took the broker down and it did not come back within the bound: the run
    stops at once (exit 3) instead of publishing into a dead broker until it times out."""
