"""`autopack demo`: a sample project and plan run offline through the real pipeline from a cassette."""
