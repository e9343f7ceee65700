"""Rate profiles: pure functions of time in a phase giving a target rate in events/s."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_NOMINAL_RATE = 1000.0


class _Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def is_max(self) -> bool:
        """True when the profile asks for as many events per second as the sink takes."""
        return False

    def rate_at(self, t: float, duration: float) -> float:
        """Target events/s at `t` seconds into a phase lasting `duration` seconds."""
        raise NotImplementedError


class ConstantRate(_Profile):
    """The same target rate for the whole phase."""

    profile: Literal["constant"] = "constant"
    value: float = Field(gt=0, description="events per second")

    def rate_at(self, t: float, duration: float) -> float:
        """Constant: the configured value."""
        return self.value


class RampRate(_Profile):
    """A linear ramp from `start` to `end` over the phase."""

    profile: Literal["ramp"] = "ramp"
    start: float = Field(ge=0, alias="from")
    end: float = Field(ge=0, alias="to")

    @model_validator(mode="after")
    def _not_all_zero(self) -> RampRate:
        if self.start == 0 and self.end == 0:
            raise ValueError("a ramp with a positive 'from' or 'to'")
        return self

    def rate_at(self, t: float, duration: float) -> float:
        """Linear interpolation between start and end."""
        frac = min(max(t / duration, 0.0), 1.0) if duration > 0 else 1.0
        return self.start + (self.end - self.start) * frac


class MaxRate(_Profile):
    """As fast as the sink accepts; event time advances as if at `nominal` events/s."""

    profile: Literal["max"] = "max"
    nominal: float = Field(default=DEFAULT_NOMINAL_RATE, gt=0)

    @property
    def is_max(self) -> bool:
        """Max is max."""
        return True

    def rate_at(self, t: float, duration: float) -> float:
        """The nominal rate, used to space events in event time."""
        return self.nominal


RateProfile = Annotated[Union[ConstantRate, RampRate, MaxRate], Field(discriminator="profile")]


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
