"""Use cases: what the entry points (CLI, REST, benchmarks) call; they combine domain rooms and the registry."""
