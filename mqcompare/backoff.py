"""How a producer waits between attempts at one message: doubling from 50 ms to 1 s, the
same for the thread producers (produce.py) and the asyncio tasks (produce_tasks.py)."""

FIRST_BACKOFF_S = 0.05
MAX_BACKOFF_S = 1.0


def next_backoff(backoff: float) -> float:
    return min(backoff * 2, MAX_BACKOFF_S)
