"""The Auditor: an LLM reviewer with a profile, whose findings become tracked, de-duplicated issues."""
