"""mqcompare: run the same RabbitMQ reliability experiments through several Python
client stacks, inject real faults, and judge every run with one checker."""

__version__ = "0.1.0"
