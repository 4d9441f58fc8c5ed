"""The `autopack` command line: thin commands over the core, human tables or --json."""
