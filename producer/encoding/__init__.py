"""Encoders: turn plain events into bytes right before the sink (Avro, JSON)."""
