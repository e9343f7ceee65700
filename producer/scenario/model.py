"""The scenario file model: strict, typed, frozen; unknown keys are errors."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from producer.errors import Plain
from producer.scenario.durations import parse_duration
from producer.scheduling.profiles import RateProfile, coerce_rate
from producer.scheduling.progress import Curve, Linear, coerce_curve


class RuleBroken(ValueError):
    """A rule across fields, naming the field it is about and what was found there."""

    def __init__(self, field: str, expected: str, found: object) -> None:
        super().__init__(expected)
        self.field, self.expected, self.found = field, expected, found


class Strict(BaseModel):
    """Base for scenario models: unknown keys rejected, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Event time must stay representable: Python datetimes end with year 9999 (and Avro timestamp-micros
# is an int64 of µs). A run may start between 1970 and 9000 and ends cleanly ("event-time-limit")
# once its event time reaches EVENT_TIME_LIMIT: the centuries left below year 9999 hold the
# follow-up events and payload dates (renewals, lifecycles) generators place after an arrival.
CLOCK_START_MIN = datetime(1970, 1, 1, tzinfo=UTC)
CLOCK_START_MAX = datetime(9000, 1, 1, tzinfo=UTC)
EVENT_TIME_LIMIT_US = int(datetime(9900, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
# a million event-seconds per scenario-second (11.6 event-days a second) is far beyond any useful
# simulation, and keeps any run from 1970 short of the limit for ~2.5 days of nominal-rate wall time
MAX_CLOCK_SPEED = 1e6
# and at least one event-second per 11.6 scenario-days: slower clocks make event time stand still
# (every event at one instant) and the pacing's event-time windows unbounded in scenario time
MIN_CLOCK_SPEED = 1e-6
# a phase lasts at least a millisecond of scenario time (the finest unit a duration names) and at
# most ~317 years: phase arithmetic stays exact enough that each block advances scenario time
MIN_PHASE_SECONDS = 1e-3
MAX_PHASE_SECONDS = 1e10
PHASE_BOUNDS = "a phase of 1ms to 1e10 s (~317 years) of scenario time"


class Clock(Strict):
    """The simulated event-time clock: where it starts and how fast it runs."""

    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    speed: float = Field(default=1.0, description="event-seconds per scenario-second")

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        if not CLOCK_START_MIN <= value <= CLOCK_START_MAX:
            raise ValueError("a start from 1970-01-01 to 9000-01-01 (UTC), so event times stay representable")
        return value

    @field_validator("speed")
    @classmethod
    def _speed(cls, value: float) -> float:
        if not (math.isfinite(value) and MIN_CLOCK_SPEED <= value <= MAX_CLOCK_SPEED):
            raise ValueError(f"a speed from {MIN_CLOCK_SPEED:g} to {MAX_CLOCK_SPEED:g}")
        return value

    @property
    def start_us(self) -> int:
        """The start instant in microseconds since the epoch."""
        return int(self.start.timestamp()) * 1_000_000 + self.start.microsecond


class StreamConfig(Strict):
    """One stream in the mix: its share of the rate and its parameter overrides."""

    weight: float = 1.0
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("weight")
    @classmethod
    def _weight(cls, value: float) -> float:
        if not (math.isfinite(value) and value >= 0):
            raise ValueError("a finite weight >= 0")
        return value


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
    multiplier: float = Field(default=10.0, ge=0, le=1e6)


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
            given = [k for k in ("duration", "event_duration") if getattr(self, k) is not None]
            raise RuleBroken(
                "duration", "exactly one of duration or event_duration", Plain(" and ".join(given) or "neither")
            )
        return self

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        return coerce_rate(value)

    @field_validator("duration")
    @classmethod
    def _duration_bounds(cls, value: float | None) -> float | None:
        if value is not None and not MIN_PHASE_SECONDS <= value <= MAX_PHASE_SECONDS:
            raise ValueError(PHASE_BOUNDS)
        return value


MAX_DELAY_SECONDS = 30 * 86_400.0  # a month: delays are event-time labels (truth.delay_ms), not run lengths


class Lateness(Strict):
    """How late a held-back event arrives: exponential with `mean`, or uniform up to `max`."""

    distribution: Literal["exponential", "uniform"] = "exponential"
    mean: Seconds = Field(default=5.0, le=MAX_DELAY_SECONDS)
    max: Seconds = Field(default=60.0, le=MAX_DELAY_SECONDS)


class Disorder(Strict):
    """Late, out-of-order and duplicate sends, labelled in truth, for testing stream processors."""

    late_share: float = Field(default=0.0, ge=0, le=0.5)
    lateness: Lateness = Field(default_factory=Lateness)
    out_of_order_share: float = Field(default=0.0, ge=0, le=0.5)
    out_of_order_max: Seconds = Field(default=2.0, le=MAX_DELAY_SECONDS)
    duplicate_share: float = Field(default=0.0, ge=0, le=0.5)


DAY = 86_400.0
MAX_LABEL_DELAY_SECONDS = 365 * DAY  # a year: beyond any card network's dispute window (120 days for fraud)


class LabelDelay(Strict):
    """A label's delay after its event in event time: lognormal (median, sigma) or exponential (mean), in [min, max]."""

    distribution: Literal["lognormal", "exponential"] = "lognormal"
    median: Seconds | None = Field(default=None, le=MAX_LABEL_DELAY_SECONDS, description="lognormal only")
    sigma: float = Field(default=0.8, gt=0, le=5, description="lognormal only: the spread of ln(delay)")
    mean: Seconds | None = Field(default=None, le=MAX_LABEL_DELAY_SECONDS, description="exponential only")
    min: Offset = Field(default=0.0, le=MAX_LABEL_DELAY_SECONDS)
    max: Seconds = Field(default=MAX_LABEL_DELAY_SECONDS, le=MAX_LABEL_DELAY_SECONDS)

    @model_validator(mode="after")
    def _shape(self) -> LabelDelay:
        wanted, other = ("median", "mean") if self.distribution == "lognormal" else ("mean", "median")
        if getattr(self, wanted) is None:
            raise RuleBroken(wanted, f"a {wanted} for distribution {self.distribution}", Plain("nothing"))
        if getattr(self, other) is not None:
            raise RuleBroken(other, f"no {other} for distribution {self.distribution} (it takes {wanted})", other)
        if not self.min < self.max:
            raise RuleBroken("max", f"a max above min ({self.min:g} s)", self.max)
        if self.median is not None and not self.min < self.median < self.max:
            raise RuleBroken("median", f"a median between min and max ({self.min:g} s to {self.max:g} s)", self.median)
        return self


class LabelSource(Strict):
    """The events of one stream that get labels: those of these event types with these anomaly patterns."""

    patterns: list[str] = Field(min_length=1)
    event_types: list[str] = Field(min_length=1)


def _fraud_sources() -> dict[str, LabelSource]:
    """Default: one event per fraudulent transaction, remittance, circle membership or taken-over login."""
    return {
        "fintech.transactions": LabelSource(
            patterns=["fraud", "velocity_spike", "account_takeover"], event_types=["transaction-completed"]
        ),
        "fintech.remittances": LabelSource(
            patterns=["fraud", "account_takeover"], event_types=["remittance-completed"]
        ),
        "fintech.circles": LabelSource(patterns=["fraud", "collusion"], event_types=["circle-member-joined"]),
        "fintech.sessions": LabelSource(patterns=["account_takeover"], event_types=["login-success"]),
    }


class ConfirmedFraud(Strict):
    """Investigation outcomes: a share of the labelled events is confirmed as fraud after a delay."""

    share: float = Field(default=0.6, ge=0, le=1)
    delay: LabelDelay = Field(default_factory=lambda: LabelDelay(median=2.5 * DAY, sigma=0.8, min=3600, max=30 * DAY))
    streams: dict[str, LabelSource] = Field(default_factory=_fraud_sources)


CHARGEBACK_STREAM = "fintech.transactions"  # the one stream with card payments


class Chargeback(Strict):
    """Cardholder disputes: a share of the completed card-funded fraudulent fintech.transactions."""

    share: float = Field(default=0.7, ge=0, le=1)
    delay: LabelDelay = Field(
        default_factory=lambda: LabelDelay(median=30 * DAY, sigma=0.5, min=3 * DAY, max=120 * DAY)
    )
    patterns: list[str] = Field(default_factory=lambda: ["fraud", "account_takeover"], min_length=1)


class DelayedLabels(Strict):
    """Fraud labels that arrive days after their event, on <prefix>labels (see docs/delayed_labels.md)."""

    confirmed_fraud: ConfirmedFraud = Field(default_factory=ConfirmedFraud)
    chargeback: Chargeback = Field(default_factory=Chargeback)
    at_end: Literal["send", "hold"] = Field(
        default="send", description="labels not yet due when the run ends: sent early (counted) or held (counted)"
    )
    max_pending: int = Field(default=1_000_000, ge=1, le=100_000_000, description="beyond it the earliest goes early")


_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _whole_ms(value: float) -> int:
    """A duration in seconds as whole milliseconds; ValueError when it is not one (window bounds are ms)."""
    ms = round(value * 1000)
    if abs(value * 1000 - ms) > 1e-6:
        raise ValueError("a whole number of milliseconds (window bounds are Kafka timestamps, in ms)")
    return ms


class OracleSpec(Strict):
    """An expected aggregation (docs/oracle.md): tumbling event-time windows over one topic's events."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    stream: str = Field(min_length=1, description="the topic's stream name (its events, whoever emits them)")
    window: Seconds = Field(le=MAX_DELAY_SECONDS, description="tumbling window length, whole ms")
    group_by: Literal["key", "event_type"] = "key"
    sum: str | None = Field(default=None, description="dotted path of a numeric field, e.g. payload.amount")
    allowed_lateness: Offset = Field(default=0.0, le=MAX_DELAY_SECONDS, description="grace after the window end")
    duplicates: Literal["count_twice", "count_once"] = "count_twice"

    @field_validator("window", "allowed_lateness")
    @classmethod
    def _ms(cls, value: float) -> float:
        _whole_ms(value)
        return value

    @field_validator("sum")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not _FIELD_PATH.fullmatch(value):
            raise ValueError("a dotted field path such as payload.amount")
        return value

    @property
    def window_ms(self) -> int:
        """The window length in ms."""
        return _whole_ms(self.window)

    @property
    def grace_ms(self) -> int:
        """The allowed lateness in ms."""
        return _whole_ms(self.allowed_lateness)


# virtual partitions per stream: 4 splits evenly over 1, 2 and 4 shards (or workers); each costs some
# fixed work per block, so more (12 for 3 or 6 shards) trade generation speed for an even split
DEFAULT_PARTITIONS = 4
MAX_PARTITIONS = 4096

MAX_REPEAT = 1_000_000_000  # passes; more than that is 'forever' (and keeps total_seconds a float)


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
    delayed_labels: DelayedLabels | None = None
    oracle: list[OracleSpec] = Field(default_factory=list, description="expected aggregations, on <prefix>expected")
    virtual_partitions: int = Field(
        default=DEFAULT_PARTITIONS,
        ge=1,
        le=MAX_PARTITIONS,
        description="per stream: each generates its own entities at its share of the rate; shards split them",
    )

    @field_validator("repeat")
    @classmethod
    def _repeat(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= MAX_REPEAT:
            raise ValueError(f"repeat from 1 to {MAX_REPEAT:,}, or 'forever'")
        return value

    @model_validator(mode="after")
    def _phase_names_unique(self) -> Scenario:
        names = [p.name for p in self.phases]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise RuleBroken("phases", "unique phase names", Plain(f"repeated: {', '.join(dupes)}"))
        weights = [s.weight for s in self.streams.values()]
        if not any(w > 0 for w in weights):
            raise RuleBroken("streams", "at least one stream with a positive weight", Plain("none"))
        if not math.isfinite(sum(weights)):  # shares of an infinite total are NaN
            raise RuleBroken("streams", "weights with a finite sum", Plain(f"a sum of {sum(weights):g}"))
        return self

    @model_validator(mode="after")
    def _oracle_names_unique(self) -> Scenario:
        names = [o.name for o in self.oracle]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise RuleBroken("oracle", "unique oracle names", Plain(f"repeated: {', '.join(dupes)}"))
        return self

    @model_validator(mode="after")
    def _phase_lengths(self) -> Scenario:
        for i, phase in enumerate(self.phases):
            length = self.phase_seconds(phase)
            if phase.event_duration is not None and not MIN_PHASE_SECONDS <= length <= MAX_PHASE_SECONDS:
                raise RuleBroken(
                    f"phases[{i}].event_duration",
                    f"event_duration / clock.speed: {PHASE_BOUNDS}",
                    Plain(f"{length:g} scenario seconds"),
                )
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
