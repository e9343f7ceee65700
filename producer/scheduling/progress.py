"""Drift progress curves: pure functions p(t) in [0, 1] over a drift's window."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from producer.scenario.durations import parse_duration


class _Curve(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def progress_at(self, t: float, duration: float) -> float:
        """Progress at `t` seconds into a drift window of `duration` seconds (clamped to the window)."""
        raise NotImplementedError


def _fraction(t: float, duration: float) -> float:
    return min(max(t / duration, 0.0), 1.0) if duration > 0 else 1.0


class Linear(_Curve):
    """Gradual drift at constant speed: p = t / duration."""

    curve: Literal["linear"] = "linear"

    def progress_at(self, t: float, duration: float) -> float:
        """The elapsed fraction."""
        return _fraction(t, duration)


class Sigmoid(_Curve):
    """Gradual drift concentrated around `position` (fraction of the window), `width` wide; 0 -> 1 exactly."""

    curve: Literal["sigmoid"] = "sigmoid"
    position: float = Field(default=0.5, ge=0, le=1)
    width: float = Field(default=0.1, gt=0, le=1)

    def progress_at(self, t: float, duration: float) -> float:
        """A logistic rescaled so the window starts at 0 and ends at 1."""

        def logistic(u: float) -> float:
            return 1.0 / (1.0 + math.exp(-(u - self.position) / self.width))

        low, high = logistic(0.0), logistic(1.0)
        return (logistic(_fraction(t, duration)) - low) / (high - low)


class Step(_Curve):
    """Abrupt drift: 0 before `at` (fraction of the window), 1 from then on."""

    curve: Literal["step"] = "step"
    at: float = Field(default=0.0, ge=0, le=1)

    def progress_at(self, t: float, duration: float) -> float:
        """0 or 1."""
        return 1.0 if _fraction(t, duration) >= self.at else 0.0


class Recurring(_Curve):
    """Recurring drift: back and forth between base (0) and target (1) every `period` seconds."""

    curve: Literal["recurring"] = "recurring"
    period: Annotated[float, BeforeValidator(parse_duration)]
    shape: Literal["sine", "triangle", "square"] = "sine"

    def progress_at(self, t: float, duration: float) -> float:
        """Periodic in t: starts at 0, reaches 1 at half a period."""
        t = min(max(t, 0.0), duration)
        cycle = (t % self.period) / self.period
        if self.shape == "sine":
            return (1 - math.cos(2 * math.pi * cycle)) / 2
        if self.shape == "triangle":
            return 1 - abs(2 * cycle - 1)
        return 1.0 if cycle >= 0.5 else 0.0


Curve = Annotated[Linear | Sigmoid | Step | Recurring, Field(discriminator="curve")]
CURVE_NAMES = ("linear", "sigmoid", "step", "recurring")


def coerce_curve(value: Any) -> Any:
    """Shorthand: a curve name alone (`curve: linear`)."""
    if isinstance(value, str):
        return {"curve": value.strip().lower()}
    return value
