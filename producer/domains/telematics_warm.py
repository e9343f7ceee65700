"""Warm start of the telematics trip simulator: what a long-running process has in flight and parked.

Renewal theory for a pool whose trips are visited at random. A trip with a plan of P driving
events takes P + 1 visits (the last one completes it), each about `spacing` seconds after the
previous one, so it lasts (P + 1) x spacing on average. A trip caught in flight is therefore
length-biased (plan P with odds proportional to P + 1), it is in each of its P + 1 gaps alike (so
it has emitted k ~ U{0..P} driving events), the time since its latest event is exponential (the
gaps are memoryless), and the k gaps before it are ordinary ones. Pool size: a visit completes a
trip with odds q = 1 / (E[P] + 1) and starts one with odds (target - active) / target, so the
shortfall below target is about Poisson(target x q).

Drivers: a driver alternates errands and the way home (TripPool.start), one trip every many hours
when the pool is large, so the cars of a long-running process are parked at an errand about half of
the time; and the idle queue's most recent members are still resting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from producer.domains.telematics_tables import ERRAND_MI, MINUTE_US, CarPool, advance

CANDIDATES = 16  # plan draws per trip in flight, resampled by length (sampling-importance-resampling)
# a history is replayed one driving event per step up to this many steps; longer ones (a full pool at a
# high rate: trips of thousands of events) take strides of several events per step, to bound its cost
MAX_HISTORY_STEPS = 600
AWAY_SHARE = 0.5  # a driver's trips alternate: errand, home, errand, ...


def planned_events(rng: np.random.Generator, duration: Any, spacing: float, n: int) -> np.ndarray:
    """Planned driving events of n new trips, as the schedule draws them (minutes x 60 / spacing)."""
    minutes = np.maximum(duration.min_minutes, rng.normal(duration.mean_minutes, duration.std_minutes, n))
    return np.maximum(1, np.rint(minutes * 60.0 / spacing)).astype(np.int64)


def in_flight_count(rng: np.random.Generator, target: int, mean_plan: float) -> int:
    """Trips active in a pool held at `target`: the target less a Poisson shortfall (see the module docstring)."""
    return max(0, target - int(rng.poisson(target / (mean_plan + 1.0))))


def in_flight_plans(rng: np.random.Generator, candidates: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Plans of n trips caught in flight, resampled from new trips' plans by length; events each has emitted."""
    weights = candidates + 1.0
    plans = candidates[rng.choice(len(candidates), size=n, p=weights / weights.sum())]
    return plans, rng.integers(0, plans + 1)


class History:
    """Instants of the driving events trips in flight emitted before `now_us`, handed out in time order.

    Trip i emitted done[i] events: the latest lies an exponential gap before `now_us`, the start a
    Gamma(done[i]) of gaps before that, and the events between are uniform over the span (the
    gaps of a Poisson process given their sum), drawn one after another (beta steps) in O(trips) memory.
    """

    def __init__(self, rng: np.random.Generator, done: np.ndarray, spacing: float, now_us: int) -> None:
        gap = spacing * 1e6
        self.done = done
        self.last = now_us - rng.exponential(gap, len(done))
        self.start = self.last - np.where(done > 0, rng.gamma(np.maximum(done, 1), gap), 0.0)
        self.reached = np.zeros(len(done), np.int64)  # events handed out so far
        self._share = np.zeros(len(done))  # where the latest of them lies in [start, last]

    def start_us(self) -> np.ndarray:
        """When each trip started (µs)."""
        return np.floor(self.start).astype(np.int64)

    def advance(self, rng: np.random.Generator, idx: np.ndarray, to: np.ndarray) -> np.ndarray:
        """The instant (µs) of event to[j] of trip idx[j], the trip's next after those handed out."""
        k, after = self.done[idx], self.reached[idx]
        left = k - to  # events still to come after this one (the trip's latest at `last`)
        step = np.where(left > 0, rng.beta(to - after, np.maximum(left, 1)), 1.0)
        share = self._share[idx] + (1.0 - self._share[idx]) * step
        self._share[idx], self.reached[idx] = share, to
        start = self.start[idx]
        return np.floor(start + share * (self.last[idx] - start)).astype(np.int64)


def park_cars(rng: np.random.Generator, cars: CarPool, drivers: np.ndarray) -> None:
    """Park about half of the drivers' cars at an errand, drawn as TripPool.start draws one, the rest at home."""
    n = len(drivers)
    u = rng.random((3, n))
    miles = ERRAND_MI[0] + u[1] * (ERRAND_MI[1] - ERRAND_MI[0])
    lat, lon = advance(cars.home_lat[drivers], cars.home_lon[drivers], u[0] * 360.0, miles)
    away = u[2] < AWAY_SHARE
    cars.lat[drivers] = np.where(away, lat, cars.home_lat[drivers])
    cars.lon[drivers] = np.where(away, lon, cars.home_lon[drivers])


def rests(
    rng: np.random.Generator, queue: Sequence[int], now_us: int, completions_per_s: float, start_prob: float
) -> np.ndarray:
    """When each driver of the idle queue (longest idle first) is rested: it arrived as trips complete.

    The latest arrival is at the queue's tail; earlier ones a completion gap apart, each followed by
    a geometric rest of whole minutes, as when the schedule completes a trip.
    """
    behind = np.arange(len(queue), 0, -1) - rng.random(len(queue))  # completions since each arrived
    completed = now_us - behind / max(completions_per_s, 1e-12) * 1e6
    rest = rng.geometric(start_prob, len(queue)) * MINUTE_US
    return np.maximum(completed + rest, min(now_us, 0)).astype(np.int64)  # long rested: any past instant
