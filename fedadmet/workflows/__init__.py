"""Use cases: what the CLI, the REST API and the MCP server do, each written once."""
