"""What several stack folders share about a client library they have in common (celery's
broker client is kombu, and kombu's is py-amqp), so that no stack folder imports another
(docs/architecture.md, "Stacks")."""
