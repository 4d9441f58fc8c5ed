"""The environment CI commands run in: which interpreter and packages, and where imports resolve."""
