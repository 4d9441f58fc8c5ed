"""Autopack: governed multi-phase builds by AI coding agents, from a written plan to a branch."""

__version__ = "0.1.0"
