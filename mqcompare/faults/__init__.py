"""Faults as a registry (docs/architecture.md, "Faults"): one module per family, each
kind an entry (`kind.FaultKind`) holding its grammar, target rules, the capability it
needs, how it is performed and observed, and its analysis; the nemesis runs a plan."""
