"""Scheduling: scenario timeline, rate profiles, deterministic sources and the paced loop."""
