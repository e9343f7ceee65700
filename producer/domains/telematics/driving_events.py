"""telematics.driving-events and telematics.trips: usage-based-insurance telematics from one trip simulator.

Drivers of a bounded pool have an archetype (ultra_safe .. ultra_risky, with a base risk and the
seed's event multipliers), a car (value, sportiness, category) and a home near the seed's base point.
A bounded pool of concurrently active trips is advanced by the arrivals ("compressed" rate mode):
every arrival is exactly one event. It starts a trip (trip-started on telematics.trips) when the
pool is below its target size, else it advances a random active trip by one driving event (ping or
aggressive event on telematics.driving-events), or completes it (trip-completed, with the trip's
metrics and PAYD/PHYD inputs) once its planned number of driving events has been emitted. Event
time is the arrival time, so per-trip order holds and trip-started < driving events < trip-completed.

Pool size adapts to the arrival rate: target = rate x sample_interval_s (capped by max_active_trips
and num_drivers), so a trip's events are about sample_interval_s apart in event time and trips last
their natural 5-60 minutes. Above max_active_trips / sample_interval_s arrivals/s the pool is full
and events come closer together (trip durations still hold, per-mile event rates rise). Each
driving event reports the segment since the trip's previous event: the car moved at speed_mph on
heading_deg for the real time between the two timestamps, so positions integrate speed and heading.
Late-night events occur only when the driver's local time (fixed offset, US daylight saving) is in
[night_start_hour, night_end_hour). Labels: every event carries the driver's risk level; crash-like
braking and sustained speeding windows are the anomaly patterns (aggressive events are not anomalies).

Warm start (`prime`, before the scheduler's burn-in): at the first arrivals, whose rate sizes the
pool, the pool is filled as a long-running process has it (driving_events_warm): about half of the
parked cars at an errand, the trips in flight length-biased (plan P with odds P + 1), each having
emitted a uniform 0..P of its events over a span ending an exponential gap before the first
arrival, and the most recently idle drivers still resting. Each trip's history is replayed unseen:
what the schedule and the driving steps draw per event (instants, types, crash, speeding window) is
drawn for all its events at once, and only the car's motion is stepped, by the driving steps' own
kernel (driving_events_tables.move), so its sequence number, miles, position, speed, counts and windows
are those it would have reached; nothing is emitted, and every later arrival is one event as before.
"""

from __future__ import annotations

from collections import deque
from typing import Annotated, ClassVar

import numpy as np
from pydantic import Field, field_validator, model_validator

from producer.domains.common.base import (
    BlockContext,
    DomainParams,
    Part,
    StreamGenerator,
    StreamSpec,
    check_weights,
    uuids,
)
from producer.domains.telematics.driving_events_parts import LEVELS, Block, block_parts
from producer.domains.telematics.driving_events_tables import (
    AGGRESSIVE,
    ARCHETYPES,
    COMPLETE,
    DEFAULT_ARCHETYPE_WEIGHTS,
    DEFAULT_EVENT_WEIGHTS,
    DRIVE,
    HOUR_US,
    LATE_NIGHT,
    MINUTE_US,
    PROFILE_MULTIPLIERS,
    RISK_LEVEL,
    SPORTINESS_PIVOT,
    START,
    TYPES,
    CarPool,
    TripPool,
    dst_transitions_us,
    event_values,
    is_night,
    local_offsets_minutes,
    pick_rows,
)
from producer.domains.telematics.driving_events_warm import (
    CANDIDATES,
    in_flight_count,
    in_flight_plans,
    park_cars,
    planned_events,
    replay,
    rests,
)

Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class OverSpeed(DomainParams):
    """Miles per hour over the posted limit of a speeding event: uniform (the seed's 5-35 mph)."""

    min_mph: float = Field(5.0, ge=1.0, le=100.0, description="also the threshold: normal driving stays below it")
    max_mph: float = Field(35.0, ge=1.0, le=150.0)

    @model_validator(mode="after")
    def _ordered(self) -> OverSpeed:
        if self.max_mph < self.min_mph:
            raise ValueError("over_speed_mph.max_mph must be >= min_mph")
        return self


class TripDuration(DomainParams):
    """Planned trip length in minutes: normal(mean, std), at least min (the seed's 28 +- 9, >= 5)."""

    mean_minutes: float = Field(28.0, gt=0.0, le=600.0)
    std_minutes: float = Field(9.0, ge=0.0, le=600.0)
    min_minutes: float = Field(5.0, gt=0.0, le=600.0)


class TelematicsParams(DomainParams):
    """Parameters of telematics.driving-events (and its companion telematics.trips).

    Seed: drivers, trip_avg_minutes / trip_std_minutes, trip_start_prob, min_speed / max_speed,
    base_lat / base_lon with their jitter, the event-type weights and the risk-profile mix. The
    seed's events / interval / seed / format map to the scenario (rate, seed) and the sinks. The
    seed's risk profiles are on by default (its --extreme-variance): drivers need archetypes here.
    """

    num_drivers: int = Field(
        25_000,
        ge=1,
        le=5_000_000,
        description=("driver pool; the seed's CLI default of 10 sized a 1,000-event file, a stream needs many keys"),
    )
    max_active_trips: int = Field(10_000, ge=1, le=1_000_000, description="bound on concurrently active trips")
    sample_interval_s: float = Field(
        10.0,
        ge=0.1,
        le=600.0,
        description=("target event-time spacing of a trip's events; the pool holds rate x this many trips"),
    )
    archetype_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_ARCHETYPE_WEIGHTS))
    event_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS),
        description=(
            "relative odds of each driving event type for a moderate driver; late_night_driving only at night"
        ),
    )
    sportiness_effect: float = Field(
        1.5, ge=0.0, le=3.0, description=("aggressive odds x max(0, 1 + effect x (car_sportiness - 0.3))")
    )
    over_speed_mph: OverSpeed = Field(default_factory=OverSpeed)
    trip_duration_minutes: TripDuration = Field(default_factory=TripDuration)
    trip_start_prob: float = Field(
        0.07,
        gt=0.0,
        le=1.0,
        description=("per idle minute: a driver rests a geometric number of minutes between trips"),
    )
    min_speed_mph: float = Field(0.0, ge=0.0, le=20.0)
    max_speed_mph: float = Field(82.0, ge=30.0, le=200.0, description="cap of speeds (sustained speeding exceeds it)")
    base_lat: float = Field(37.7749, ge=-80.0, le=80.0)
    base_lon: float = Field(-122.4194, ge=-180.0, le=180.0)
    lat_jitter_deg: float = Field(0.25, ge=0.0, le=5.0, description="homes lie uniformly within +- this of the base")
    lon_jitter_deg: float = Field(0.25, ge=0.0, le=5.0)
    utc_offset_minutes: int = Field(-480, ge=-720, le=840, description="drivers' standard time (the base's, PST)")
    daylight_saving: bool = Field(True, description="US rule: +60 min from March's 2nd to November's 1st Sunday")
    night_start_hour: int = Field(0, ge=0, le=23, description="late night, local: the seed's hours 0-3")
    night_end_hour: int = Field(4, ge=0, le=23)
    crash_rate: Rate = Field(0.001, description="share of trips ending in crash-like extreme braking (at any event)")
    sustained_speeding_rate: Rate = Field(
        0.005, description=("share of trips with a 2-6 minute extreme speeding window (starting at any event)")
    )

    @field_validator("archetype_weights")
    @classmethod
    def _archetypes(cls, v: dict[str, float]) -> dict[str, float]:
        if sum(check_weights(v, ARCHETYPES, "archetypes", need_positive=False).values()) <= 0:
            raise ValueError("archetype weights must sum to more than 0")
        return v

    @field_validator("event_weights")
    @classmethod
    def _event_types(cls, v: dict[str, float]) -> dict[str, float]:
        check_weights(v, TYPES, "event types", need_positive=False)
        if sum(w for k, w in v.items() if k != "late_night_driving") <= 0:
            raise ValueError("event weights other than late_night_driving must sum to more than 0")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TelematicsParams:
        if self.min_speed_mph >= self.max_speed_mph:
            raise ValueError("min_speed_mph must be below max_speed_mph")
        if self.night_start_hour == self.night_end_hour:
            raise ValueError("night_start_hour and night_end_hour must differ")
        return self


def type_weights(p: TelematicsParams, profile: np.ndarray, sportiness: np.ndarray, night: np.ndarray) -> np.ndarray:
    """Unnormalised odds of each driving event type (TYPES order) per event, from driver, car and hour."""
    base = np.array([p.event_weights.get(t, 0.0) for t in TYPES])
    w = base * PROFILE_MULTIPLIERS[profile]
    sport = np.maximum(0.0, 1.0 + p.sportiness_effect * (sportiness - SPORTINESS_PIVOT))
    w[:, AGGRESSIVE] *= sport[:, None]
    w[:, LATE_NIGHT] *= night
    return w


TRIPS_SPEC = StreamSpec(
    name="telematics.trips",
    key_field="driver_id",
    event_types={
        "trip-started": "datagen.telematics.trips.TripStarted",
        "trip-completed": "datagen.telematics.trips.TripCompleted",
    },
    source_service="trip-service",
    schema="telematics/trips.avsc",
    description="Trip lifecycle of the telematics drivers: trip-started, then trip-completed with distance, "
    "duration, speeds, event counts and rates per 100 miles, night share and PAYD/PHYD inputs.",
)


class TelematicsGenerator(StreamGenerator[TelematicsParams]):
    """Driving events of a bounded pool of active trips, with each trip's start and summary on telematics.trips."""

    spec = StreamSpec(
        name="telematics.driving-events",
        key_field="driver_id",
        event_types={
            "hard_braking": "datagen.telematics.driving_events.HardBraking",
            "aggressive_turn": "datagen.telematics.driving_events.AggressiveTurn",
            "speeding": "datagen.telematics.driving_events.Speeding",
            "tailgating": "datagen.telematics.driving_events.Tailgating",
            "late_night_driving": "datagen.telematics.driving_events.LateNightDriving",
            "harsh_acceleration": "datagen.telematics.driving_events.HarshAcceleration",
            "ping": "datagen.telematics.driving_events.Ping",
        },
        source_service="telematics-device",
        schema="telematics/driving-events.avsc",
        description="Pings and aggressive driving events (hard braking, aggressive turns, speeding, tailgating, "
        "late-night driving, harsh acceleration) along trips of drivers with risk archetypes and cars.",
    )
    companions = (TRIPS_SPEC,)
    Params = TelematicsParams
    driftable = (
        "event_weights",
        "sportiness_effect",
        "over_speed_mph",
        "trip_duration_minutes",
        "trip_start_prob",
        "min_speed_mph",
        "max_speed_mph",
        "crash_rate",
        "sustained_speeding_rate",
    )
    patterns = ("crash", "sustained_speeding")
    pool_fields = ("num_drivers", "max_active_trips")
    events_per_arrival: ClassVar[float] = 1.0  # by construction: each arrival is one start, driving event or end

    def __init__(self, params: TelematicsParams, rng: np.random.Generator) -> None:
        super().__init__(params, rng)
        n = params.num_drivers
        self.cars = CarPool(params, rng)
        self._risk_level = np.array([LEVELS.index(RISK_LEVEL[k]) for k in range(len(ARCHETYPES))])[self.cars.profile]
        self._idle: deque[int] = deque(rng.permutation(n).tolist())  # longest-idle driver starts next
        self._rest_until = [0] * n  # µs; a driver is back on the road after a rest
        capacity = min(params.max_active_trips, n)
        self.trips = TripPool(capacity)
        self._active: list[int] = []  # slots of the active trips
        self._where = [0] * capacity  # slot -> index in _active
        self._free = list(range(capacity - 1, -1, -1))
        self._left = [0] * capacity  # driving events a slot's trip still has to emit
        self._trip_seq = [0] * capacity
        self._slot_driver = [0] * capacity
        self._rate: float | None = None  # smoothed arrival rate, per second
        self._dst = dst_transitions_us(params.utc_offset_minutes) if params.daylight_saving else None
        self._priming: np.random.Generator | None = None  # prime's generator, until the first arrivals

    @property
    def active_trips(self) -> int:
        """Trips started and not yet completed (bounded by max_active_trips)."""
        return len(self._active)

    def arrivals(
        self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[TelematicsParams]
    ) -> list[Part]:
        """One event per arrival: a trip start, a driving event of an active trip, or a trip's completion."""
        n = len(times_us)
        if n == 0:
            return []
        times = self._block_times(times_us)
        target, spacing = self._pool_target(times)
        if self._priming is not None:  # the pool's size and spacing are known from the first arrivals
            self._prime_pool(self._priming, ctx, int(times[0]), target, spacing)
            self._priming = None
        kind, slot, rank, drv, seq, plan, crash = self._schedule(rng, ctx, times, target, spacing)
        offsets, hours, night = self._local_clock(times)
        out = self.trips.block_outputs(n)
        order = np.lexsort((np.arange(n), rank))
        bounds = np.searchsorted(rank[order], np.arange(int(rank.max()) + 2))
        uniforms, normals = rng.random((10, n)), rng.standard_normal((2, n))
        prof = self.cars.profile[drv]
        typ = pick_rows(type_weights(ctx.params, prof, self.cars.sportiness[drv], night), uniforms[0])
        value = event_values(typ, prof, uniforms[5])
        for r in range(len(bounds) - 1):
            idx = order[bounds[r] : bounds[r + 1]]
            k = kind[idx]
            if (st := idx[k == START]).size:
                self.trips.start(
                    rng, st, slot[st], self.cars, drv[st], times[st], plan[st], uniforms[:, st], normals[:, st], out
                )
            if (dr := idx[k == DRIVE]).size:
                self.trips.drive(
                    ctx,
                    dr,
                    slot[dr],
                    times[dr],
                    seq[dr],
                    crash[dr],
                    typ[dr],
                    value[dr],
                    night[dr],
                    prof[dr],
                    spacing,
                    uniforms[:, dr],
                    normals[:, dr],
                    out,
                )
            if (co := idx[k == COMPLETE]).size:
                self.trips.complete(co, slot[co], self.cars, drv[co], out)
        ids = np.array(uuids(rng, n), dtype=object)
        period = (times - self._t0_us) // MINUTE_US
        block = Block(ctx, self.cars, times, kind, drv, self._risk_level[drv], ids, hours, offsets, period, out)
        return block_parts(self.spec, TRIPS_SPEC, block)

    def _local_clock(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Drivers' UTC offset (minutes), local hour and whether it is late night, at each instant."""
        offsets = local_offsets_minutes(times, self.params.utc_offset_minutes, self._dst)
        hours = (times + offsets * MINUTE_US) // HOUR_US % 24
        return offsets, hours, is_night(hours, self.params.night_start_hour, self.params.night_end_hour)

    def prime(self, rng: np.random.Generator, ctx: BlockContext[TelematicsParams]) -> None:
        """Fill the trip pool as a long-running process has it, at the first arrivals (their rate sizes it).

        Emits nothing: see _prime_pool. The pool's target and spacing follow the arrival rate, which
        the generator learns from the arrival instants alone, so the fill waits for the first block.
        """
        self._priming = rng

    def _prime_pool(
        self, rng: np.random.Generator, ctx: BlockContext[TelematicsParams], now_us: int, target: int, spacing: float
    ) -> None:
        """Park the cars, start the trips in flight at `now_us`, replay their history unseen (driving_events_warm)."""
        p = ctx.params
        park_cars(rng, self.cars, np.array(self._idle, dtype=np.int64))
        candidates = planned_events(rng, p.trip_duration_minutes, spacing, CANDIDATES * target)
        mean_plan = float(candidates.mean())
        wanted = in_flight_count(rng, target, mean_plan) - len(self._active)
        n = max(0, min(wanted, len(self._free), len(self._idle)))
        plans, done = in_flight_plans(rng, candidates, n)
        slots = np.array([self._free.pop() for _ in range(n)], dtype=np.int64)
        drivers = np.array([self._idle.popleft() for _ in range(n)], dtype=np.int64)
        prof, sport = self.cars.profile[drivers], self.cars.sportiness[drivers]
        odds = np.stack([type_weights(p, prof, sport, np.full(n, night)) for night in (False, True)])
        night_of = lambda t: self._local_clock(t)[2]  # noqa: E731
        seq, left = replay(
            rng, ctx, self.trips, self.cars, slots, drivers, plans, done, odds, night_of, spacing, now_us
        )
        for s, dv, k, remaining in zip(slots.tolist(), drivers.tolist(), seq.tolist(), left.tolist()):
            self._where[s] = len(self._active)
            self._active.append(s)
            self._slot_driver[s], self._trip_seq[s], self._left[s] = dv, k, remaining
        # a start comes once per E[plan] + 2 arrivals (a trip takes plan + 1 visits): the completion rate
        rested = rests(rng, self._idle, now_us, target / spacing / (mean_plan + 2.0), p.trip_start_prob)
        for dv, at in zip(self._idle, rested.tolist()):
            self._rest_until[dv] = at

    def _pool_target(self, times: np.ndarray) -> tuple[int, float]:
        """Target number of active trips and the resulting event-time spacing of a trip's events (s)."""
        if len(times) > 1 and times[-1] > times[0]:
            rate = (len(times) - 1) * 1e6 / float(times[-1] - times[0])
            self._rate = rate if self._rate is None else 0.8 * self._rate + 0.2 * rate
        rate = self._rate or 1.0 / self.params.sample_interval_s
        target = int(min(self.trips.capacity, max(1, round(rate * self.params.sample_interval_s))))
        return target, target / rate

    def _schedule(
        self,
        rng: np.random.Generator,
        ctx: BlockContext[TelematicsParams],
        times: np.ndarray,
        target: int,
        spacing: float,
    ) -> tuple[np.ndarray, ...]:
        """What each arrival does, to which slot and driver; rank orders the state updates of the block.

        Rank r holds every arrival whose slot and driver were last touched at ranks < r, so each rank
        is one vectorised step with distinct slots and drivers.
        """
        p, n = ctx.params, len(times)
        plan = planned_events(rng, p.trip_duration_minutes, spacing, n)
        # a crash may come at any driving event (odds rate / planned events), and ends the trip there
        crash_odds = min(1.0, p.crash_rate * ctx.boost("crash"))
        u_crash = rng.random(n).tolist()
        rest = (rng.geometric(p.trip_start_prob, n) * MINUTE_US).tolist()
        u_start, u_pick = rng.random((2, n)).tolist()
        active, where, free, idle, left, seqs, slot_driver, rest_until = (
            self._active,
            self._where,
            self._free,
            self._idle,
            self._left,
            self._trip_seq,
            self._slot_driver,
            self._rest_until,
        )
        slot_rank: dict[int, int] = {}
        driver_rank: dict[int, int] = {}
        rows: list[tuple[int, int, int, int, int, int]] = []  # kind, slot, rank, driver, seq, crash
        row = rows.append
        for t, us, up, uc, planned, rest_us in zip(times.tolist(), u_start, u_pick, u_crash, plan.tolist(), rest):
            na = len(active)
            # start with probability (target - na) / target: every trip is then visited once per
            # `target` arrivals on average, while the pool fills as well as once it is full
            if na == 0 or (us * target < target - na and idle and rest_until[idle[0]] <= t):
                s, dv = free.pop(), idle.popleft()
                slot_driver[s], where[s], left[s], seqs[s] = dv, na, planned, 0
                active.append(s)
                r = max(slot_rank.get(s, 0), driver_rank.get(dv, 0))
                row((START, s, r, dv, 0, 0))
            else:
                s = active[int(up * na)]
                dv, r = slot_driver[s], slot_rank.get(s, 0)
                if left[s]:
                    left[s] -= 1
                    seqs[s] += 1
                    crashed = uc * (left[s] + seqs[s]) < crash_odds
                    if crashed:
                        left[s] = 0
                    row((DRIVE, s, r, dv, seqs[s], crashed))
                else:
                    last = active.pop()
                    if last != s:
                        active[where[s]] = last
                        where[last] = where[s]
                    free.append(s)
                    idle.append(dv)
                    rest_until[dv] = t + rest_us
                    driver_rank[dv] = r + 1
                    row((COMPLETE, s, r, dv, seqs[s], 0))
            slot_rank[s] = r + 1
        kind, slot, rank, drv, seq, crash = np.array(rows, dtype=np.int64).T
        return kind, slot, rank, drv, seq, plan, crash.astype(bool)
