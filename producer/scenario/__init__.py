"""Scenario files: the model and the loader (the only place that reads them)."""
