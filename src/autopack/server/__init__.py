"""The REST API, live event streams, dashboard and metrics: another door to the same core."""
