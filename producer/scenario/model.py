"""The scenario file model: strict, typed, frozen; unknown keys are errors."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from producer.scenario.durations import parse_duration
from producer.scheduling.profiles import RateProfile, coerce_rate
from producer.scheduling.progress import Curve, Linear, coerce_curve


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


Seconds = Annotated[float, BeforeValidator(parse_duration)]
Offset = Annotated[float, BeforeValidator(lambda v: 0.0 if v in (0, "0", "0s") else parse_duration(v))]


class Window(Strict):
    """A window inside a phase: `start` seconds after the phase starts, lasting `duration` (default: the rest)."""

    start: Offset = 0.0
    duration: Seconds | None = None

    def bounds(self, phase_seconds: float) -> tuple[float, float]:
        """Start and end offsets within a phase of the given length."""
        end = phase_seconds if self.duration is None else min(self.start + self.duration, phase_seconds)
        return self.start, end


class DriftBlock(Window):
    """Moves a stream's parameters from their base values toward targets along a progress curve."""

    stream: str
    params: dict[str, Any] = Field(min_length=1, description="dotted parameter path -> target value")
    curve: Curve = Field(default_factory=Linear)
    persist: bool = Field(default=True, description="hold the final progress after the window (until the pass ends)")

    @field_validator("curve", mode="before")
    @classmethod
    def _curve(cls, value: object) -> object:
        return coerce_curve(value)


class InjectBlock(Window):
    """Multiplies one anomaly pattern's base rate inside a window."""

    stream: str
    pattern: str
    multiplier: float = Field(default=10.0, ge=0)


class Phase(Strict):
    """A stretch of scenario time with one rate profile and optional drift and injection blocks."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    duration: Seconds | None = Field(default=None, description="scenario seconds (= wall seconds at the nominal rate)")
    event_duration: Seconds | None = Field(default=None, description="event-time seconds (divided by clock.speed)")
    rate: RateProfile
    drift: list[DriftBlock] = Field(default_factory=list)
    inject: list[InjectBlock] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_duration(self) -> Phase:
        if (self.duration is None) == (self.event_duration is None):
            raise ValueError("exactly one of duration or event_duration")
        return self

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        return coerce_rate(value)


class Lateness(Strict):
    """How late a held-back event arrives: exponential with `mean`, or uniform up to `max`."""

    distribution: Literal["exponential", "uniform"] = "exponential"
    mean: Seconds = 5.0
    max: Seconds = 60.0


class Disorder(Strict):
    """Late, out-of-order and duplicate sends, labelled in truth, for testing stream processors."""

    late_share: float = Field(default=0.0, ge=0, le=0.5)
    lateness: Lateness = Field(default_factory=Lateness)
    out_of_order_share: float = Field(default=0.0, ge=0, le=0.5)
    out_of_order_max: Seconds = 2.0
    duplicate_share: float = Field(default=0.0, ge=0, le=0.5)


class Scenario(Strict):
    """A whole scenario file."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = Field(default=0, ge=0)
    clock: Clock = Field(default_factory=Clock)
    streams: dict[str, StreamConfig] = Field(min_length=1)
    phases: list[Phase] = Field(min_length=1)
    repeat: int | Literal["forever"] = 1
    mode: Literal["rate", "replay"] = "rate"
    disorder: Disorder | None = None

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

    def phase_seconds(self, phase: Phase) -> float:
        """A phase's length in scenario seconds."""
        if phase.duration is not None:
            return phase.duration
        assert phase.event_duration is not None
        return phase.event_duration / self.clock.speed

    @property
    def cycle_seconds(self) -> float:
        """Scenario seconds in one pass over the phases."""
        return sum(self.phase_seconds(p) for p in self.phases)

    @property
    def total_seconds(self) -> float:
        """Scenario seconds until the scenario ends (inf when it repeats forever)."""
        if self.repeat == "forever":
            return float("inf")
        return self.cycle_seconds * int(self.repeat)
