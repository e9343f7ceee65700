"""The scenario file model: strict, typed, frozen; unknown keys are errors."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from producer.scenario.durations import parse_duration
from producer.scheduling.profiles import RateProfile, coerce_rate


class Strict(BaseModel):
    """Base for scenario models: unknown keys rejected, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Clock(Strict):
    """The simulated event-time clock: where it starts and how fast it runs."""

    start: datetime = datetime(2026, 1, 1, tzinfo=timezone.utc)
    speed: float = Field(default=1.0, gt=0, description="event-seconds per scenario-second")

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

    @property
    def start_us(self) -> int:
        """The start instant in microseconds since the epoch."""
        return int(self.start.timestamp()) * 1_000_000 + self.start.microsecond


class StreamConfig(Strict):
    """One stream in the mix: its share of the rate and its parameter overrides."""

    weight: float = Field(default=1.0, ge=0)
    params: dict[str, Any] = Field(default_factory=dict)


class Phase(Strict):
    """A stretch of scenario time with one rate profile."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    duration: float = Field(description="scenario seconds")
    rate: RateProfile

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        return coerce_rate(value)


class Scenario(Strict):
    """A whole scenario file."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = Field(default=0, ge=0)
    clock: Clock = Field(default_factory=Clock)
    streams: dict[str, StreamConfig] = Field(min_length=1)
    phases: list[Phase] = Field(min_length=1)
    repeat: int | Literal["forever"] = 1

    @field_validator("repeat")
    @classmethod
    def _repeat(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("repeat must be at least 1 or 'forever'")
        return value

    @model_validator(mode="after")
    def _phase_names_unique(self) -> Scenario:
        names = [p.name for p in self.phases]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"unique phase names (repeated: {', '.join(dupes)})")
        if not any(s.weight > 0 for s in self.streams.values()):
            raise ValueError("at least one stream with a positive weight")
        return self

    @property
    def cycle_seconds(self) -> float:
        """Scenario seconds in one pass over the phases."""
        return sum(p.duration for p in self.phases)

    @property
    def total_seconds(self) -> float:
        """Scenario seconds until the scenario ends (inf when it repeats forever)."""
        if self.repeat == "forever":
            return float("inf")
        return self.cycle_seconds * int(self.repeat)
