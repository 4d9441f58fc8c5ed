"""The Verifier: a phase's CI profile run in a sandbox, read into per-test outcomes and issues."""
