"""The counting consumer: its own OS process, journaling every delivery (docs/reference.md)."""
