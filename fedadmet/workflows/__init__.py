"""Use cases: what the entry points (CLI, REST, MCP, Flower apps) call; they call the domain rooms, the
registry and the federation runtime."""
