"""kombu producers: producer pools with publisher confirms, and experiment 1 asked of kombu."""
