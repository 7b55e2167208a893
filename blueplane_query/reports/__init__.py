"""The query side's library: one module per question, each a function returning a plain dict.

The CLI, the MCP tools and the exports call these functions and nothing else; the keys of each
dict are the documented ``--json`` keys (docs/query.md).
"""
