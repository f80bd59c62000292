"""MCP server: profiling and design as tools for any MCP client."""
