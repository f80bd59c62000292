"""The use cases: each action a user can take is one function here. The CLI, the HTTP API, the benchmarks
(and the MCP server) call these and nothing deeper; settings are read by those entry points and passed in."""
