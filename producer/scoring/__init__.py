"""The scoreboard: alarms of a system under test scored against datagen's ground truth (docs/scoring.md)."""
