"""The brokers a run talks to (docs/architecture.md, "Brokers"): one module per broker
kind (node: a private node, cluster: a private cluster, container: a Docker container,
external: a URL), their shared helpers (ports, guardian, erlang), the capabilities a
fault needs of them (capabilities), the base every kind extends (base) and the one
factory that chooses between the kinds (factory). This file imports nothing, so that
`python -m mqcompare.brokers.guardian` runs with nothing else loaded."""
