"""The LLM layer: prices, token estimates, the budget ledger, redaction; providers come next."""
