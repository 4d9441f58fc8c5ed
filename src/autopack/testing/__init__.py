"""Test doubles shipped with Autopack: real servers on loopback, never mocks of our own code."""
