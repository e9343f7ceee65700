"""Observability: run statistics, Prometheus metrics, health endpoints, the end-of-run summary."""
