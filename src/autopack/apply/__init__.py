"""Governed apply: every patch format -> one patch model -> policy -> atomic application."""
