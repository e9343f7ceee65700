"""Where a scenario instant falls: which phase, how far into it, when it ends."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from producer.scenario.model import Phase, Scenario
from producer.scheduling.profiles import ConstantRate, MaxRate


@dataclass(frozen=True, slots=True)
class PhasePoint:
    """A scenario instant resolved to its phase."""

    index: int  # phase index within the cycle
    phase: Phase
    t: float  # scenario seconds since the phase started
    phase_end: float  # scenario instant at which this phase (in this cycle) ends
    cycle: int

    duration: float  # the phase's length in scenario seconds
    hour: float  # event-time hour of day (for diurnal profiles)

    def rate(self) -> float:
        """The phase's profile evaluated at this instant (nominal rate for `max`)."""
        return self.phase.rate.rate_at(self.t, self.duration, self.hour)


class Timeline:
    """Phases laid end to end in scenario time, repeated as the scenario says."""

    def __init__(self, scenario: Scenario) -> None:
        self.phases = scenario.phases
        self.durations = [scenario.phase_seconds(p) for p in scenario.phases]
        self.cycle = scenario.cycle_seconds
        self.total = scenario.total_seconds
        self.start_s = scenario.clock.start_us / 1e6
        self.speed = scenario.clock.speed
        self.passes = None if scenario.repeat == "forever" else int(scenario.repeat)
        self._starts: list[float] = []
        acc = 0.0
        for duration in self.durations:
            self._starts.append(acc)
            acc += duration

    def at(self, tau: float) -> PhasePoint:
        """The phase at scenario instant `tau` (seconds since the scenario started)."""
        tau = max(tau, 0.0)
        cycle = int(tau // self.cycle) if math.isfinite(tau) else 0
        if self.passes is not None:
            cycle = min(cycle, self.passes - 1)
        within = tau - cycle * self.cycle
        index = max(bisect.bisect_right(self._starts, within) - 1, 0)
        start = cycle * self.cycle + self._starts[index]
        if start + self.durations[index] <= tau and not self._last(cycle, index):
            # rounding put an instant at (or past) a phase's end into that phase (0.003 // 0.001 == 2):
            # it belongs to the next one, or a source stepping to phase ends would never advance
            index, cycle = (index + 1, cycle) if index + 1 < len(self.phases) else (0, cycle + 1)
            start = cycle * self.cycle + self._starts[index]
        phase, duration = self.phases[index], self.durations[index]
        hour = ((self.start_s + tau * self.speed) % 86400.0) / 3600.0
        return PhasePoint(index, phase, tau - start, start + duration, cycle, duration, hour)

    def _last(self, cycle: int, index: int) -> bool:
        return self.passes is not None and cycle >= self.passes - 1 and index == len(self.phases) - 1

    def block_end(self, tau: float) -> float:
        """Where a block of arrivals drawn at `tau` must stop: the end of its phase, unless nothing changes there.

        A scenario of one phase with a constant rate and no drift or injection is the same on both
        sides of its phase ends, so blocks run across them (to the scenario's end): millisecond
        phases would otherwise make blocks of a few arrivals each.
        """
        if len(self.phases) == 1:
            phase = self.phases[0]
            if not phase.drift and not phase.inject and isinstance(phase.rate, ConstantRate | MaxRate):
                return self.total
        return self.at(tau).phase_end

    def phase_start(self, index: int) -> float:
        """Offset of phase `index` from the start of a pass, in scenario seconds."""
        return self._starts[index]

    def ended(self, tau: float) -> bool:
        """True once `tau` is past the last phase of the last repetition."""
        return tau >= self.total
