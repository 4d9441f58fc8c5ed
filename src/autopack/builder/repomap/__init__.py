"""A ranked, token-budgeted map of a repository's definitions, for a Builder's context."""

from autopack.builder.repomap.repo_map import RankedMap, RepoMap

__all__ = ["RankedMap", "RepoMap"]
