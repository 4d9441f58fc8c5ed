"""External coding-agent CLIs as Builders: each runs in the attempt worktree; git reads the result."""
