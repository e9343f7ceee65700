"""Tests of the real stack: compose file, Prometheus config and rules, Grafana dashboard, Dockerfile."""
