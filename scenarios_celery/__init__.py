"""celery: an app configured from the run spec, a task that journals each delivery, a real
prefork worker as the consumer, and producer threads calling apply_async."""
