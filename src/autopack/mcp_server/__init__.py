"""`autopack mcp`: runs started, watched and steered by an MCP client (Claude Code, Codex, …).

tools.py and resources.py call the same functions the REST API calls (server/run_actions.py);
access.py says who is calling and what they may do; transports.py serves it all over stdio or
streamable HTTP.
"""
