"""How a cluster's nodes handle a partition (RabbitMQ's cluster_partition_handling): what
--partition-handling allows. Its own module so that a run's spec names them without
importing the brokers."""

PARTITION_HANDLING = ("pause_minority", "autoheal", "ignore")
