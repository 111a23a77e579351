"""The aio-pika stack: producers are asyncio tasks in one process."""
