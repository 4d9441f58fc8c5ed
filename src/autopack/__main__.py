"""`python -m autopack` runs the CLI."""

from autopack.cli.main import main

main()
