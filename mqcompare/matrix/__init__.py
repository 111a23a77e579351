"""The matrix layer: presets (experiments, claims, cells) run cell by cell through the run
flow in `mqcompare/`, judged claim by claim, reported as Markdown, CSV and HTML."""
