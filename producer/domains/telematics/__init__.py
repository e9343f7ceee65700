"""Telematics: driving events and completed trips (telematics.driving-events, telematics.trips)."""
