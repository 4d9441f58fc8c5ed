"""Phase 0: read a plan (Markdown, YAML or JSON) into a validated PlanSpec, and split big plans."""
