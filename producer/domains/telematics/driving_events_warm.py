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

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from producer.domains.telematics.driving_events_tables import (
    ERRAND_MI,
    HARD_BRAKING,
    MAX_SPEED,
    MINUTE_US,
    SPEEDING,
    SUSTAINED_MINUTES,
    TAILGATING,
    CarPool,
    Segment,
    TripPool,
    advance,
    from_rest,
    move,
    over_speed,
    pick_rows,
    segment,
    span,
    speed_cap,
)

CANDIDATES = 16  # plan draws per trip in flight, resampled by length (sampling-importance-resampling)
# a history is replayed one driving event per step up to this many steps and cells (a trip's step); longer
# ones (a full pool at a high rate: trips of thousands of events) take strides of several events per step,
# to bound its cost and memory (~0.5 kB a cell): each step then moves the car once over its events' time
MAX_HISTORY_STEPS = 600
MAX_HISTORY_CELLS = 200_000
NEVER = 2**40  # seq of an event that never comes
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


def first_event(rng: np.random.Generator, odds: np.ndarray) -> np.ndarray:
    """Seq (from 1) of each trip's first event to succeed at per-event odds (geometric); NEVER when odds are 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.floor(np.log1p(-rng.random(len(odds))) / np.log1p(-np.minimum(odds, 1.0)))
    return np.where(odds > 0, np.minimum(k, NEVER - 1), NEVER - 1).astype(np.int64) + 1


class Cells:
    """A replayed history in steps of `stride` events (the last of a trip fewer), one cell per trip and step.

    Cells are listed trip-major (a trip's cells in order, so sums and cumulative sums per trip are
    flat) and each has a step-major position: step j's cells are those of the trips with more than
    j steps, longest history first, so the state of the trips a step drives is one prefix of them.
    """

    def __init__(self, events: np.ndarray, stride: int) -> None:
        n, steps = len(events), -(-events // stride)
        self.n, self.steps = n, steps
        self.order = np.argsort(-steps, kind="stable")  # trips by history length, longest first
        rank = np.empty(n, np.int64)
        rank[self.order] = np.arange(n)
        self.width = n - np.cumsum(np.bincount(steps, minlength=1))[: int(steps.max(initial=0))]
        self.bounds = np.concatenate(([0], np.cumsum(self.width)))
        self.first = np.cumsum(steps) - steps
        self.trip = np.repeat(np.arange(n), steps)
        step = np.arange(len(self.trip)) - self.first[self.trip]
        self.pos = self.bounds[step] + rank[self.trip]
        self.to = np.minimum((step + 1) * stride, events[self.trip])  # seq of the cell's last event
        self.events = self.to - step * stride
        self.last = step == steps[self.trip] - 1

    def total(self, x: np.ndarray) -> np.ndarray:
        """Per trip sums of a cell column."""
        return np.bincount(self.trip, weights=x, minlength=self.n)

    def running(self, x: np.ndarray) -> np.ndarray:
        """Per trip cumulative sums of a cell column."""
        cs = np.cumsum(x)
        return cs - np.concatenate(([0.0], cs))[self.first][self.trip]

    def step_major(self, x: np.ndarray) -> np.ndarray:
        """A cell column (or the columns of a 2-D array) in step-major order."""
        out = np.empty_like(x)
        out[..., self.pos] = x
        return out


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


def replay(
    rng: np.random.Generator,
    ctx: Any,
    trips: TripPool,
    cars: CarPool,
    slots: np.ndarray,
    drivers: np.ndarray,
    plans: np.ndarray,
    done: np.ndarray,
    type_odds: np.ndarray,
    night_of: Callable[[np.ndarray], np.ndarray],
    spacing: float,
    now_us: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Start trips in flight and drive each through the `done` events it emitted before `now_us`: seq and left.

    What the schedule and the driving steps draw per event is drawn here for all events at once:
    instants, crash and speeding window (geometric first events at their per-event odds), types
    (`type_odds`: day and night rows per trip), shocks. Only the car's motion (speed, heading,
    position) is driven step by step, one slice of trips per step; nothing is assembled.
    """
    p, n = ctx.params, len(slots)
    crash_at = first_event(rng, min(1.0, p.crash_rate * ctx.boost("crash")) / plans)
    events, crashed = np.minimum(done, crash_at), crash_at <= done  # a crash ends the trip's driving
    most = int(events.max(initial=0))
    stride = max(1, -(-most // MAX_HISTORY_STEPS), -(-int(events.sum()) // MAX_HISTORY_CELLS))
    cells = Cells(events, stride)
    t0, t, dt = _instants(rng, cells, done - events, spacing, now_us)
    out, rows = trips.block_outputs(n), np.arange(n)
    trips.start(rng, rows, slots, cars, drivers, t0, plans, rng.random((4, n)), rng.standard_normal((1, n)), out)
    burst_at = first_event(rng, min(1.0, p.sustained_speeding_rate * ctx.boost("sustained_speeding")) / plans)
    length = np.maximum(3, np.rint(span(SUSTAINED_MINUTES, rng.random(n)) * 60.0 / spacing)).astype(np.int64)
    opened = burst_at <= events
    night = night_of(t)
    window = np.where(opened, burst_at, NEVER)
    u, z = rng.random((5, len(t))), rng.standard_normal((2, len(t)))
    posted, prof, since_start = (
        trips.posted[slots][cells.trip],
        cars.profile[drivers][cells.trip],
        (t - t0[cells.trip]) / 1e6,
    )
    ramp = (posted + over_speed(p, posted, prof, np.zeros(len(t), bool), u[1]), since_start)
    counts, rep, windowed, crash, in_window = _types(rng, cells, crashed, window, length, night, type_odds, ramp)
    seg = segment(dt, rep, crash, posted + over_speed(p, posted, prof, windowed, u[1]), u, z, since_start)
    speed = _drive(cells, trips, slots, seg, p)
    miles, share = speed * dt / 3600.0, counts / cells.events[:, None]
    acc = np.column_stack(
        [
            cells.total(x)
            for x in (miles, dt, dt * night, miles * night, dt * share[:, SPEEDING], dt * share[:, TAILGATING])
        ]
        + [np.zeros(n), cells.total(in_window)]
    )
    np.maximum.at(acc[:, MAX_SPEED], cells.trip, speed)
    trips.acc[slots], trips.counts[slots] = acc, np.column_stack([cells.total(c) for c in counts.T]).astype(np.int64)
    trips.last[slots] = np.where(cells.steps > 0, t[np.maximum(cells.first + cells.steps - 1, 0)], t0)
    trips.crash[slots], trips.crash_injected[slots] = crashed, crashed & ctx.injects("crash")
    trips.burst_lo[slots], trips.burst_hi[slots] = np.where(opened, burst_at, 0), np.where(opened, burst_at + length, 0)
    trips.burst_injected[slots] = opened & ctx.injects("sustained_speeding")
    return events, np.where(crashed, 0, plans - events)


def _instants(
    rng: np.random.Generator, cells: Cells, untold: np.ndarray, spacing: float, now_us: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trip starts (µs), the instants of the cells' last events (µs) and the seconds each cell spans.

    The gaps are exponential (see the module docstring): a cell of k events spans a Gamma(k) of them,
    the events a crash cut off (`untold`) and the time since the latest event come after.
    """
    gap = spacing * 1e6
    spans = rng.gamma(cells.events, gap)
    behind = rng.exponential(gap, cells.n) + np.where(untold > 0, rng.gamma(np.maximum(untold, 1), gap), 0.0)
    start = now_us - behind - cells.total(spans)
    t0 = np.floor(start).astype(np.int64)
    t = np.floor(start[cells.trip] + cells.running(spans)).astype(np.int64)
    before = np.concatenate((t0[:1], t[:-1]))
    began = cells.steps > 0
    before[cells.first[began]] = t0[began]
    return t0, t, (t - before) / 1e6


def _types(
    rng: np.random.Generator,
    cells: Cells,
    crashed: np.ndarray,
    window: np.ndarray,
    length: np.ndarray,
    night: np.ndarray,
    type_odds: np.ndarray,
    ramp: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, ...]:
    """Events by type per cell, the type of its last event, whether that is in the window or a crash; window events.

    A speeding window (seqs window .. window + length - 1) makes its events speeding, a crash makes
    the trip's last event hard braking, the others are drawn at the trip's odds by day or night (`ramp`: a
    drawn speeding event's speed and the seconds since the trip's start, for from_rest).
    """
    trip, to, k = cells.trip, cells.to, cells.events
    lo, hi = window[trip], window[trip] + length[trip]
    in_window = np.maximum(0, np.minimum(to, hi - 1) - np.maximum(to - k + 1, lo) + 1)
    crash, windowed = crashed[trip] & cells.last, (to >= lo) & (to < hi)
    w = type_odds[night.astype(np.int64), trip]
    drawn = from_rest(pick_rows(w, rng.random(len(k))), *ramp)  # the last event's type, unless crash or window
    rep = np.where(crash, HARD_BRAKING, np.where(windowed, SPEEDING, drawn))
    others = k - in_window - (crash & ~windowed) - ~(crash | windowed)  # the other events the odds type
    if others.any():  # only when steps stride over several events
        counts = rng.multinomial(others, w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300))
    else:
        counts = np.zeros(w.shape, np.int64)
    counts[np.arange(len(k)), drawn] += ~(crash | windowed)
    counts[:, SPEEDING] += in_window - (crash & windowed)
    counts[:, HARD_BRAKING] += crash
    return counts, rep, windowed, crash, in_window


def _drive(cells: Cells, trips: TripPool, slots: np.ndarray, seg: Segment, p: Any) -> np.ndarray:
    """Move the trips' cars over their cells step by step (each step a prefix of the trips): speed per cell."""
    at = slots[cells.order]
    v, h, lat, lon = trips.v[at], trips.heading[at], trips.lat[at], trips.lon[at]
    dest_lat, dest_lon, cruise, cap = (
        trips.dest_lat[at],
        trips.dest_lon[at],
        trips.cruise[at],
        speed_cap(p, trips.posted[at]),
    )
    by_step = Segment(*(cells.step_major(x) for x in seg))
    speed = np.empty(len(cells.trip))
    for a, b, m in zip(cells.bounds[:-1].tolist(), cells.bounds[1:].tolist(), cells.width.tolist()):
        part = Segment(*(x[a:b] for x in by_step))
        speed[a:b], h[:m], lat[:m], lon[:m], v[:m], _ = move(
            part, v[:m], h[:m], lat[:m], lon[:m], dest_lat[:m], dest_lon[:m], cruise[:m], cap[:m], p.min_speed_mph
        )
    trips.v[at], trips.heading[at], trips.lat[at], trips.lon[at] = v, h, lat, lon
    return speed[cells.pos]
