"""The user's repository: integration branch, per-attempt worktrees, commits, tags, promotion."""
