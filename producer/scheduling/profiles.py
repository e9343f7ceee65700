"""Rate profiles: pure functions of time in a phase giving a target rate in events/s."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

DEFAULT_NOMINAL_RATE = 1000.0
# a billion events/s is far past any sink; the bound keeps rates finite, so pacing and event-time spacing stay finite
MAX_RATE = 1e9


class _Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def is_max(self) -> bool:
        """True when the profile asks for as many events per second as the sink takes."""
        return False

    def rate_at(self, t: float, duration: float, hour: float = 0.0) -> float:
        """Target events/s at `t` seconds into a phase lasting `duration` s (`hour`: event-time hour of day)."""
        raise NotImplementedError


class ConstantRate(_Profile):
    """The same target rate for the whole phase."""

    profile: Literal["constant"] = "constant"
    value: float = Field(gt=0, le=MAX_RATE, description="events per second")

    def rate_at(self, t: float, duration: float, hour: float = 0.0) -> float:
        """Constant: the configured value."""
        return self.value


class RampRate(_Profile):
    """A linear ramp from `start` to `end` over the phase."""

    profile: Literal["ramp"] = "ramp"
    start: float = Field(ge=0, le=MAX_RATE, alias="from")
    end: float = Field(ge=0, le=MAX_RATE, alias="to")

    @model_validator(mode="after")
    def _not_all_zero(self) -> RampRate:
        if self.start == 0 and self.end == 0:
            raise ValueError("a ramp with a positive 'from' or 'to'")
        return self

    def rate_at(self, t: float, duration: float, hour: float = 0.0) -> float:
        """Linear interpolation between start and end."""
        frac = min(max(t / duration, 0.0), 1.0) if duration > 0 else 1.0
        return self.start + (self.end - self.start) * frac


class MaxRate(_Profile):
    """As fast as the sink accepts; event time advances as if at `nominal` events/s."""

    profile: Literal["max"] = "max"
    nominal: float = Field(default=DEFAULT_NOMINAL_RATE, gt=0, le=MAX_RATE)

    @property
    def is_max(self) -> bool:
        """Max is max."""
        return True

    def rate_at(self, t: float, duration: float, hour: float = 0.0) -> float:
        """The nominal rate, used to space events in event time."""
        return self.nominal


def _seconds(value: Any) -> float:
    from producer.scenario.durations import parse_duration

    return parse_duration(value)


Seconds = Annotated[float, BeforeValidator(_seconds)]


class Step(_Profile):
    """One step of a step profile: from `at` seconds into the phase, `rate` events/s."""

    at: Annotated[float, BeforeValidator(lambda v: 0.0 if v in (0, "0", "0s") else _seconds(v))] = 0.0
    rate: float = Field(ge=0, le=MAX_RATE)


class StepRate(_Profile):
    """Piecewise constant: each step holds until the next one starts."""

    profile: Literal["step"] = "step"
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> StepRate:
        starts = [s.at for s in self.steps]
        if starts[0] != 0 or starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError("steps starting at 0 with strictly increasing 'at'")
        if not any(s.rate > 0 for s in self.steps):
            raise ValueError("at least one step with a positive rate")
        return self

    def rate_at(self, t: float, duration: float, hour: float = 0.0) -> float:
        """The rate of the last step that has started."""
        current = self.steps[0].rate
        for step in self.steps:
            if step.at > t:
                break
            current = step.rate
        return current


class SineRate(_Profile):
    """mean + amplitude * sin(2 pi t / period): load that swings around a mean."""

    profile: Literal["sine"] = "sine"
    mean: float = Field(gt=0, le=MAX_RATE)
    amplitude: float = Field(ge=0, le=MAX_RATE)
    period: Seconds

    @model_validator(mode="after")
    def _non_negative(self) -> SineRate:
        if self.amplitude > self.mean:
            raise ValueError("amplitude <= mean (a rate cannot go negative)")
        return self

    def rate_at(self, t: float, duration: float, hour: float = 0.0) -> float:
        """The sine at t."""
        return self.mean + self.amplitude * math.sin(2 * math.pi * t / self.period)


class DiurnalRate(_Profile):
    """A daily cycle in event time: `peak` at `peak_hour`, `trough` twelve hours away (cosine)."""

    profile: Literal["diurnal"] = "diurnal"
    peak: float = Field(gt=0, le=MAX_RATE)
    trough: float = Field(ge=0, le=MAX_RATE)
    peak_hour: float = Field(default=14.0, ge=0, lt=24)

    @model_validator(mode="after")
    def _ordered(self) -> DiurnalRate:
        if self.trough > self.peak:
            raise ValueError("trough <= peak")
        return self

    def rate_at(self, t: float, duration: float, hour: float = 0.0) -> float:
        """The daily cosine at the event-time hour of day."""
        wave = (1 + math.cos(2 * math.pi * (hour - self.peak_hour) / 24)) / 2
        return self.trough + (self.peak - self.trough) * wave


class BurstRate(_Profile):
    """`base` events/s with a burst of `peak` for `length` seconds every `every` seconds."""

    profile: Literal["burst"] = "burst"
    base: float = Field(gt=0, le=MAX_RATE)
    peak: float = Field(gt=0, le=MAX_RATE)
    every: Seconds
    length: Seconds
    offset: Annotated[float, BeforeValidator(lambda v: 0.0 if v in (0, "0", "0s") else _seconds(v))] = 0.0

    @model_validator(mode="after")
    def _fits(self) -> BurstRate:
        if self.length >= self.every:
            raise ValueError("length shorter than every")
        return self

    def rate_at(self, t: float, duration: float, hour: float = 0.0) -> float:
        """peak inside a burst window, base outside."""
        since = t - self.offset
        return self.peak if since >= 0 and since % self.every < self.length else self.base


RateProfile = Annotated[
    ConstantRate | RampRate | MaxRate | StepRate | SineRate | DiurnalRate | BurstRate, Field(discriminator="profile")
]
PROFILE_NAMES = ("constant", "ramp", "max", "step", "sine", "diurnal", "burst")


def coerce_rate(value: Any) -> Any:
    """Shorthands: a number is a constant rate, "max" is the max profile."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return {"profile": "constant", "value": value}
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "max":
            return {"profile": "max"}
        try:
            return {"profile": "constant", "value": float(text)}
        except ValueError:
            return value
    return value
