"""Parsers, one per patch format agents emit; each returns the one Patch model."""
