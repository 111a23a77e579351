"""taskiq with taskiq-aio-pika: the async task framework, its real worker."""
