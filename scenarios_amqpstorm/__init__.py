"""amqpstorm: a client that calls itself thread-safe, measured shared by threads."""
