"""RabbitMQ's own AMQP 1.0 client (rabbitmq-amqp-python-client, on qpid-proton)."""
