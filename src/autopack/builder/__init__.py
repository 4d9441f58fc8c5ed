"""Builders: whatever edits an attempt worktree for a phase, built-in agent or external CLI."""
