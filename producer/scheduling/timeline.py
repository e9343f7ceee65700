"""Where a scenario instant falls: which phase, how far into it, when it ends."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from producer.scenario.model import Phase, Scenario


@dataclass(frozen=True, slots=True)
class PhasePoint:
    """A scenario instant resolved to its phase."""

    index: int  # phase index within the cycle
    phase: Phase
    t: float  # scenario seconds since the phase started
    phase_end: float  # scenario instant at which this phase (in this cycle) ends
    cycle: int

    def rate(self) -> float:
        """The phase's profile evaluated at this instant (nominal rate for `max`)."""
        return self.phase.rate.rate_at(self.t, self.phase.duration)


class Timeline:
    """Phases laid end to end in scenario time, repeated as the scenario says."""

    def __init__(self, scenario: Scenario) -> None:
        self.phases = scenario.phases
        self.cycle = scenario.cycle_seconds
        self.total = scenario.total_seconds
        self._starts: list[float] = []
        acc = 0.0
        for phase in self.phases:
            self._starts.append(acc)
            acc += phase.duration

    def at(self, tau: float) -> PhasePoint:
        """The phase at scenario instant `tau` (seconds since the scenario started)."""
        tau = max(tau, 0.0)
        cycle = int(tau // self.cycle) if math.isfinite(tau) else 0
        if self.total != math.inf:
            cycle = min(cycle, int(round(self.total / self.cycle)) - 1)
        within = tau - cycle * self.cycle
        index = max(bisect.bisect_right(self._starts, within) - 1, 0)
        phase = self.phases[index]
        start = cycle * self.cycle + self._starts[index]
        return PhasePoint(index, phase, tau - start, start + phase.duration, cycle)

    def ended(self, tau: float) -> bool:
        """True once `tau` is past the last phase of the last repetition."""
        return tau >= self.total
