"""Use cases: what the entry points (CLI, API, Flower apps, benchmarks) call."""
