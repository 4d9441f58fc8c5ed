"""Pure values of Autopack: states, plans, strategies, issues. No I/O lives here."""
