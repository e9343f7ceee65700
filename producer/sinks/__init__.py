"""Sinks by name; only sinks/kafka.py imports the Kafka producer (loaded on demand)."""

from __future__ import annotations

SINKS = ("kafka", "file", "stdout")
