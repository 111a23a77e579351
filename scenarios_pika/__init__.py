"""Raw pika producers: each concurrency mode of experiment 1, with or without confirms."""
