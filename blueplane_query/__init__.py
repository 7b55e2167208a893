"""The read-only side: the bp-query CLI, the MCP stdio server and the local HTTP API."""
