"""Tables and the trip simulator of the telematics streams: event types, archetypes, cars, roads, clock, trips.

The archetypes, their event multipliers and mix, the car categories and the type-specific value
ranges are the mock telematics generator's (`data/mock.py` of the seed project); the posted-limit mix,
the speed dynamics and the time-zone rules are ours.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, NamedTuple

import numpy as np

from producer.domains.common.base import uuids
from producer.domains.common.sampling import pick

# driving event types, in the column order of every per-type table below
TYPES = (
    "hard_braking",
    "aggressive_turn",
    "speeding",
    "tailgating",
    "late_night_driving",
    "harsh_acceleration",
    "ping",
)
HARD_BRAKING, AGGRESSIVE_TURN, SPEEDING, TAILGATING, LATE_NIGHT, HARSH_ACCELERATION, PING = range(7)
AGGRESSIVE = (HARD_BRAKING, AGGRESSIVE_TURN, SPEEDING, TAILGATING, HARSH_ACCELERATION)  # sportiness raises these
RATED = (HARD_BRAKING, AGGRESSIVE_TURN, SPEEDING, TAILGATING, LATE_NIGHT, HARSH_ACCELERATION)  # per-100-mile rates
# the seed's EVENT_TYPE_CONFIG weights (harsh_acceleration from its "adding a new event type" example)
DEFAULT_EVENT_WEIGHTS = {
    "hard_braking": 0.18,
    "aggressive_turn": 0.12,
    "speeding": 0.22,
    "tailgating": 0.10,
    "late_night_driving": 0.08,
    "harsh_acceleration": 0.05,
    "ping": 0.30,
}

# driver archetypes (the seed's risk profiles), the risk level they are labelled with, their base risk
# (expected claims a year: prior_claim_count ~ Poisson(3 * base risk)) and the seed's profile mix
ARCHETYPES = ("ultra_safe", "safe", "moderate", "risky", "ultra_risky")
RISK_LEVEL = ("low", "low", "medium", "high", "high")
BASE_RISK = np.array([0.05, 0.10, 0.20, 0.35, 0.55])
DEFAULT_ARCHETYPE_WEIGHTS = {"ultra_safe": 0.05, "safe": 0.25, "moderate": 0.40, "risky": 0.20, "ultra_risky": 0.10}
# the seed's PROFILE_EVENT_MULTIPLIERS, columns in TYPES order (harsh_acceleration follows hard_braking)
PROFILE_MULTIPLIERS = np.array(
    [
        [0.1, 0.1, 0.12, 0.08, 0.05, 0.1, 2.5],
        [0.4, 0.4, 0.5, 0.4, 0.4, 0.4, 1.6],
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        [3.9, 6.8, 5.0, 4.2, 5.4, 3.9, 0.7],
        [10.2, 9.0, 10.5, 9.8, 12.2, 10.2, 0.2],
    ]
)
# the seed's intensity scaling per archetype: g forces (braking, turning) and over-speed
G_FACTOR = np.array([0.7, 0.7, 1.0, 1.4, 1.8])
LATERAL_FACTOR = np.array([0.7, 0.7, 1.0, 1.4, 1.9])
OVER_SPEED_FACTOR = np.array([1.0, 1.0, 1.0, 1.6, 2.2])
BRAKING_G, LATERAL_G, ACCEL_G = (0.25, 0.9), (0.3, 1.1), (0.3, 1.0)  # uniform ranges before scaling
BRAKING_G_CAP, LATERAL_G_CAP = 2.5, 3.0
FOLLOWING_DISTANCE_M = (4.0, 15.0)
# type-specific value of each driving event type: uniform range, archetype scaling, cap (g, g, -, m, -, g, -)
VALUE_LO = np.array([BRAKING_G[0], LATERAL_G[0], 0.0, FOLLOWING_DISTANCE_M[0], 0.0, ACCEL_G[0], 0.0])
VALUE_HI = np.array([BRAKING_G[1], LATERAL_G[1], 0.0, FOLLOWING_DISTANCE_M[1], 0.0, ACCEL_G[1], 0.0])
VALUE_FACTOR = np.ones((5, 7))
VALUE_FACTOR[:, 0], VALUE_FACTOR[:, 1] = G_FACTOR, LATERAL_FACTOR
VALUE_CAP = np.array([BRAKING_G_CAP, LATERAL_G_CAP, 0.0, 100.0, 0.0, 10.0, 0.0])
CRASH_G = (2.5, 6.0)  # a crash-like deceleration, beyond any driver's hard braking
ABS_SHARE = 0.15
TAILGATING_MIN_MPH = 20.0
SUSTAINED_OVER_SPEED = (25.0, 50.0)  # mph over the limit in a sustained-speeding window (not capped)
SUSTAINED_MINUTES = (2.0, 6.0)

# car categories: name, share, base value in USD, base sportiness (value x U(0.85, 1.25), sportiness +- 0.05)
CAR_TYPES = ("economy", "sedan", "suv", "luxury", "sports", "super")
CAR_P = np.array([0.30, 0.35, 0.18, 0.10, 0.05, 0.02])
CAR_BASE_VALUE = np.array([18_000, 28_000, 40_000, 65_000, 85_000, 140_000])
CAR_SPORTINESS = np.array([0.15, 0.25, 0.30, 0.40, 0.70, 0.90])
SPORTINESS_PIVOT = 0.3  # sportiness at which aggressive odds are unchanged (the fleet mean is ~0.28)

# posted speed limit of a trip's road (the seed's speeding choices) and its share of trips
POSTED_MPH = np.array([25, 35, 45, 55, 65, 70])
POSTED_P = np.array([0.20, 0.25, 0.20, 0.15, 0.12, 0.08])
CRUISE_SHARE = (0.82, 0.98)  # cruising speed as a share of the limit
SPEED_MEMORY, SPEED_NOISE_MPH = 0.6, 3.0  # AR(1) of the segment speed around the cruise speed
HEADING_PULL, HEADING_NOISE_DEG = 0.35, 12.0  # how fast the heading turns toward the destination
TURN_DEG = (45.0, 110.0)  # heading change of an aggressive turn
BRAKE_KEEP = (0.3, 0.6)  # share of speed kept after a hard braking
# a trip starts from rest and speeds up as an everyday driver does (~0.2 g, 0-60 mph in 13 s): no event
# reports a speed the car cannot have reached since the trip started (issue 12: speeding at 71 mph 8 ft out)
ACCEL_MPH_S = 4.5
HOME_RADIUS_MI, ERRAND_MI = 2.0, (2.0, 12.0)  # at home: drive to an errand 2-12 mi away; else drive home

EARTH_RADIUS_M = 6_371_008.8
METERS_PER_MILE = 1609.344
SECOND_US, MINUTE_US, HOUR_US = 1_000_000, 60_000_000, 3_600_000_000


def advance(
    lat: np.ndarray, lon: np.ndarray, heading_deg: np.ndarray, miles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions after driving `miles` straight on compass headings (equirectangular at the mid latitude)."""
    d = miles * METERS_PER_MILE / EARTH_RADIUS_M
    h = np.radians(heading_deg)
    dlat = np.degrees(d * np.cos(h))
    dlon = np.degrees(d * np.sin(h) / np.cos(np.radians(lat + dlat / 2)))
    return lat + dlat, lon + dlon


def bearing_and_miles(
    lat: np.ndarray, lon: np.ndarray, to_lat: np.ndarray, to_lon: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Compass bearing (degrees) and distance (miles) from one position to another, locally flat."""
    north = np.radians(to_lat - lat)
    east = np.radians(to_lon - lon) * np.cos(np.radians((lat + to_lat) / 2))
    return np.degrees(np.arctan2(east, north)) % 360.0, np.hypot(north, east) * EARTH_RADIUS_M / METERS_PER_MILE


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


def dst_transitions_us(utc_offset_minutes: int, years: range = range(1970, 2200)) -> np.ndarray:
    """UTC instants (µs) at which US daylight saving time starts and ends, alternating, for a standard offset.

    Current US rule for every year: from the second Sunday of March, 02:00 local standard time, to
    the first Sunday of November, 02:00 local daylight time.
    """
    epoch = date(1970, 1, 1)
    out = []
    for year in years:
        for day, local_std_minutes in ((_nth_sunday(year, 3, 2), 120), (_nth_sunday(year, 11, 1), 60)):
            out.append(((day - epoch).days * 1440 + local_std_minutes - utc_offset_minutes) * MINUTE_US)
    return np.array(out, dtype=np.int64)


def local_offsets_minutes(times_us: np.ndarray, utc_offset_minutes: int, transitions: np.ndarray | None) -> np.ndarray:
    """UTC offset in minutes at each instant: the standard offset, plus an hour inside daylight saving time."""
    if transitions is None:
        return np.full(len(times_us), utc_offset_minutes, dtype=np.int64)
    in_dst = np.searchsorted(transitions, times_us, side="right") % 2 == 1
    return utc_offset_minutes + 60 * in_dst.astype(np.int64)


def is_night(hours: np.ndarray, start_hour: int, end_hour: int) -> np.ndarray:
    """Whether local hours fall in [start_hour, end_hour), wrapping past midnight when start > end."""
    if start_hour < end_hour:
        return (hours >= start_hour) & (hours < end_hour)
    return (hours >= start_hour) | (hours < end_hour)


# --- the trip simulator --------------------------------------------------------------------------------

REFERENCE_S = 10.0  # segment length (s) at which SPEED_MEMORY, HEADING_PULL and the noises apply as given
MILES, DRIVE_S, NIGHT_S, NIGHT_MILES, SPEEDING_S, TAILGATING_S, MAX_SPEED, BURST_EVENTS = range(8)
N_ACC = 8
NO_PATTERN, CRASH, SUSTAINED = range(3)  # anomaly pattern of an event
START, DRIVE, COMPLETE = range(3)  # what an arrival does


def pick_rows(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Column index per row drawn from that row's unnormalised weights by uniforms u (zero weights never)."""
    cum = np.cumsum(weights, axis=1)
    idx = (cum <= (u * cum[:, -1])[:, None]).sum(axis=1)
    return np.minimum(idx, weights.shape[1] - 1)


def event_values(typ: np.ndarray, prof: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Type-specific value of driving events (braking, lateral or acceleration g, following distance)."""
    scaled = (VALUE_LO[typ] + u * (VALUE_HI[typ] - VALUE_LO[typ])) * VALUE_FACTOR[prof, typ]
    return np.round(np.minimum(scaled, VALUE_CAP[typ]), 2)


def span(bounds: tuple[float, float], u: np.ndarray) -> np.ndarray:
    """Uniform values over `bounds` from uniforms `u`."""
    return bounds[0] + u * (bounds[1] - bounds[0])


def speed_cap(p: Any, posted: np.ndarray) -> np.ndarray:
    """Fastest ordinary driving on roads posted at `posted` mph: just below the over-speed threshold."""
    over_speed = p.over_speed_mph
    return np.clip(posted + (over_speed.min_mph - 1.0), p.min_speed_mph, max(p.max_speed_mph, p.min_speed_mph))


def from_rest(typ: np.ndarray, forced: np.ndarray, since_start_s: np.ndarray) -> np.ndarray:
    """Event types, a speeding or tailgating event a ping where the car cannot be that fast yet since its start.

    Speeding needs its forced speed (posted + over), tailgating TAILGATING_MIN_MPH; from rest the car
    reaches ACCEL_MPH_S x the seconds since the trip started, so such events come once it has ramped up.
    """
    need = np.where(typ == SPEEDING, forced, np.where(typ == TAILGATING, TAILGATING_MIN_MPH, 0.0))
    return np.where(need > ACCEL_MPH_S * since_start_s, PING, typ)


def over_speed(p: Any, posted: np.ndarray, prof: np.ndarray, burst: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Miles per hour over the limit of speeding events: the archetype's range, or a sustained window's."""
    limits = p.over_speed_mph
    over = np.minimum(
        span((limits.min_mph, limits.max_mph), u) * OVER_SPEED_FACTOR[prof],
        np.maximum(p.max_speed_mph - posted, limits.min_mph),
    )
    return np.round(np.where(burst, span(SUSTAINED_OVER_SPEED, u), over), 1)


class Segment(NamedTuple):
    """What moves a car over one segment (arrays, one per segment) apart from where the car is and how fast."""

    dt: np.ndarray  # seconds since the car's previous event
    memory: np.ndarray  # share of the speed's deviation from cruise kept over dt
    noise: np.ndarray  # speed shock (mph)
    tailgating: np.ndarray
    speeding: np.ndarray
    forced: np.ndarray  # the reported speed of a speeding event (mph): posted + over
    pull: np.ndarray  # share of the heading's error toward the destination corrected over dt
    swing: np.ndarray  # heading shock (degrees)
    turn: np.ndarray  # an aggressive turn's heading change (degrees), else 0
    keep: np.ndarray  # share of speed kept after the event: braking's, 0 after a crash, else 1
    harsh: np.ndarray  # a harsh acceleration
    reach: np.ndarray  # fastest the car can be (mph): ACCEL_MPH_S x the seconds since the trip started


def segment(
    dt: np.ndarray,
    typ: np.ndarray,
    crash: np.ndarray,
    forced: np.ndarray,
    u: np.ndarray,
    z: np.ndarray,
    since_start_s: np.ndarray,
) -> Segment:
    """The segments ending at driving events of types typ, from their uniforms u[2:5] and normals z[0:2]."""
    steps = np.minimum(dt, 3600.0) / REFERENCE_S  # the processes forget over time, not over events
    memory = SPEED_MEMORY**steps
    noise = SPEED_NOISE_MPH * np.sqrt((1.0 - memory * memory) / (1.0 - SPEED_MEMORY**2))
    turn = np.where(typ == AGGRESSIVE_TURN, np.where(u[2] < 0.5, -1.0, 1.0) * span(TURN_DEG, u[3]), 0.0)
    keep = np.where(crash, 0.0, np.where(typ == HARD_BRAKING, span(BRAKE_KEEP, u[4]), 1.0))
    return Segment(
        dt,
        memory,
        noise * z[0],
        typ == TAILGATING,
        typ == SPEEDING,
        forced,
        1.0 - (1.0 - HEADING_PULL) ** steps,
        np.minimum(HEADING_NOISE_DEG * np.sqrt(steps), 45.0) * z[1],
        turn,
        keep,
        typ == HARSH_ACCELERATION,
        ACCEL_MPH_S * since_start_s,
    )


def move(
    seg: Segment,
    v: np.ndarray,
    h: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    dest_lat: np.ndarray,
    dest_lon: np.ndarray,
    cruise: np.ndarray,
    cap: np.ndarray,
    min_mph: float,
) -> tuple[np.ndarray, ...]:
    """Drive cars over segments: speed, heading, latitude, longitude, speed after the event, miles.

    Speed is an AR(1) around the cruise speed (bounded by min_mph, cap and the ramp from rest: seg.reach;
    a speeding or tailgating event is only drawn once the car can be that fast), the heading turns toward
    the destination, and the car moves at that speed on that heading for dt. The warm start's replay
    calls this once per step of few operations, so it does only what depends on the car's state.
    """
    v = np.minimum(np.maximum(cruise + seg.memory * (v - cruise) + seg.noise, min_mph), cap)  # as np.clip
    v = np.minimum(v, seg.reach)
    v = np.where(seg.tailgating, np.minimum(np.maximum(v, TAILGATING_MIN_MPH), cap), v)
    speed = np.where(seg.speeding, seg.forced, v).round(1)
    north = np.radians(dest_lat - lat)  # bearing to the destination, as bearing_and_miles
    east = np.radians(dest_lon - lon) * np.cos(np.radians((lat + dest_lat) / 2))
    bearing = np.degrees(np.arctan2(east, north)) % 360.0
    h = h + seg.pull * ((bearing - h + 540.0) % 360.0 - 180.0) + seg.swing + seg.turn
    heading = np.rint(h) % 360.0
    miles = speed * seg.dt / 3600.0
    lat, lon = advance(lat, lon, heading, miles)
    after = np.where(seg.harsh, np.minimum(speed * 1.25 + 5.0, cap), speed * seg.keep)
    return speed, heading, lat.round(7), lon.round(7), after, miles


class CarPool:
    """The drivers: id, archetype, car, home, current position and prior claims."""

    def __init__(self, params: Any, rng: np.random.Generator) -> None:
        n = params.num_drivers
        width = max(4, len(str(n - 1)))
        self.ids = [f"D{i:0{width}d}" for i in range(n)]  # the seed's D0000 codes
        self.id_column = np.array(self.ids, dtype=object)
        mix = np.array([params.archetype_weights.get(a, 0.0) for a in ARCHETYPES])
        self.profile = pick(mix, rng.random(n))
        car = pick(CAR_P, rng.random(n))
        self.type_column = np.array(CAR_TYPES, dtype=object)[car]
        self.value = np.rint(CAR_BASE_VALUE[car] * rng.uniform(0.85, 1.25, n)).astype(np.int64)  # USD
        self.value_cents = 100 * self.value
        self.sportiness = np.clip(np.round(CAR_SPORTINESS[car] + rng.uniform(-0.05, 0.05, n), 3), 0.0, 1.0)
        self.home_lat = params.base_lat + rng.uniform(-params.lat_jitter_deg, params.lat_jitter_deg, n)
        self.home_lon = params.base_lon + rng.uniform(-params.lon_jitter_deg, params.lon_jitter_deg, n)
        self.lat, self.lon = self.home_lat.copy(), self.home_lon.copy()  # where the driver's car is parked
        self.prior_claims = rng.poisson(3.0 * BASE_RISK[self.profile])


class TripPool:
    """State of the active trips, one slot each, and the vectorised steps that advance them."""

    def __init__(self, capacity: int) -> None:
        c = self.capacity = capacity
        self.trip = np.empty(c, dtype=object)
        self.t0, self.last = np.zeros(c, np.int64), np.zeros(c, np.int64)
        self.lat, self.lon, self.heading, self.v, self.cruise = (np.zeros(c) for _ in range(5))
        self.dest_lat, self.dest_lon = np.zeros(c), np.zeros(c)
        self.posted, self.plan = np.zeros(c, np.int64), np.zeros(c, np.int64)
        self.crash = np.zeros(c, bool)
        self.burst_lo, self.burst_hi = np.zeros(c, np.int64), np.zeros(c, np.int64)
        # the trip's crash, its sustained-speeding window: drawn while an injection window boosted it
        self.crash_injected, self.burst_injected = np.zeros(c, bool), np.zeros(c, bool)
        self.counts = np.zeros((c, len(TYPES)), np.int64)
        self.acc = np.zeros((c, N_ACC))

    @staticmethod
    def block_outputs(n: int) -> dict[str, np.ndarray]:
        """Per-arrival output columns the steps fill in."""
        out: dict[str, np.ndarray] = {
            k: np.zeros(n, np.int64) for k in ("type", "seq", "heading", "posted", "flag", "pattern", "t0", "last")
        }
        out.update({k: np.zeros(n) for k in ("lat", "lon", "speed", "miles", "value", "dt")})
        out.update(trip=np.empty(n, dtype=object), counts=np.zeros((n, len(TYPES)), np.int64), acc=np.zeros((n, N_ACC)))
        out["injected"] = np.zeros(n, bool)
        return out

    def start(
        self,
        rng: np.random.Generator,
        idx: np.ndarray,
        s: np.ndarray,
        cars: CarPool,
        d: np.ndarray,
        t: np.ndarray,
        plan: np.ndarray,
        u: np.ndarray,
        z: np.ndarray,
        out: dict[str, np.ndarray],
    ) -> None:
        """New trips from where the drivers' cars are: an errand when at home, else the way home."""
        self.trip[s] = uuids(rng, len(idx))
        self.t0[s] = self.last[s] = t
        lat, lon = cars.lat[d], cars.lon[d]
        self.lat[s], self.lon[s] = lat, lon
        _, from_home = bearing_and_miles(lat, lon, cars.home_lat[d], cars.home_lon[d])
        errand_lat, errand_lon = advance(lat, lon, u[0] * 360.0, span(ERRAND_MI, u[1]))
        away = from_home >= HOME_RADIUS_MI
        self.dest_lat[s] = np.where(away, cars.home_lat[d], errand_lat)
        self.dest_lon[s] = np.where(away, cars.home_lon[d], errand_lon)
        bearing, _ = bearing_and_miles(lat, lon, self.dest_lat[s], self.dest_lon[s])
        self.heading[s] = (bearing + 30.0 * z[0]) % 360.0
        self.v[s] = 0.0
        posted = POSTED_MPH[pick(POSTED_P, u[2])]
        self.posted[s], self.cruise[s] = posted, posted * span(CRUISE_SHARE, u[3])
        self.plan[s], self.crash[s], self.burst_lo[s], self.burst_hi[s] = plan, False, 0, 0
        self.crash_injected[s] = self.burst_injected[s] = False
        self.counts[s] = 0
        self.acc[s] = 0.0
        out["trip"][idx], out["lat"][idx], out["lon"][idx] = self.trip[s], lat, lon

    def drive(
        self,
        ctx: Any,
        idx: np.ndarray,
        s: np.ndarray,
        t: np.ndarray,
        seq: np.ndarray,
        crash: np.ndarray,
        typ: np.ndarray,
        value: np.ndarray,
        night: np.ndarray,
        prof: np.ndarray,
        spacing: float,
        u: np.ndarray,
        z: np.ndarray,
        out: dict[str, np.ndarray],
    ) -> None:
        """One driving event per trip: the segment since its previous event, driven at speed_mph on heading_deg.

        `typ` and `value` are the drawn type and type-specific value; a crash (decided by the
        schedule: it ends the trip) or a sustained-speeding window overrides them. A window opens at
        any event with odds rate / planned events, once per trip, so a trip has one with odds ~rate.
        """
        p = ctx.params
        dt, since_start = (t - self.last[s]) / 1e6, (t - self.t0[s]) / 1e6
        odds = min(1.0, p.sustained_speeding_rate * ctx.boost("sustained_speeding"))
        posted, cap = self.posted[s], speed_cap(p, self.posted[s])
        # a window opens once the car can be at any of its speeds, not in the trip's first seconds
        ramped = ACCEL_MPH_S * since_start >= posted + SUSTAINED_OVER_SPEED[1]
        opens = (self.burst_hi[s] == 0) & (u[7] * self.plan[s] < odds) & ramped
        length = np.maximum(3, np.rint(span(SUSTAINED_MINUTES, u[8]) * 60.0 / spacing)).astype(np.int64)
        self.burst_lo[s] = np.where(opens, seq, self.burst_lo[s])
        self.burst_hi[s] = np.where(opens, seq + length, self.burst_hi[s])
        self.burst_injected[s] = np.where(opens, ctx.injects("sustained_speeding"), self.burst_injected[s])
        burst = (seq >= self.burst_lo[s]) & (seq < self.burst_hi[s])
        self.crash[s] |= crash
        self.crash_injected[s] |= crash & ctx.injects("crash")
        over = over_speed(p, posted, prof, burst, u[1])
        typ = np.where(crash, HARD_BRAKING, np.where(burst, SPEEDING, from_rest(typ, posted + over, since_start)))
        speeding, braking, turn, left = typ == SPEEDING, typ == HARD_BRAKING, typ == AGGRESSIVE_TURN, u[2] < 0.5
        seg = segment(dt, typ, crash, posted + over, u, z, since_start)
        speed, heading, lat, lon, self.v[s], miles = move(
            seg,
            self.v[s],
            self.heading[s],
            self.lat[s],
            self.lon[s],
            self.dest_lat[s],
            self.dest_lon[s],
            self.cruise[s],
            cap,
            p.min_speed_mph,
        )
        self.heading[s], self.lat[s], self.lon[s], self.last[s] = heading, lat, lon, t
        self.counts[s, typ] += 1
        acc = self.acc
        total = acc[s] + np.column_stack(
            (miles, dt, dt * night, miles * night, dt * speeding, dt * seg.tailgating, np.zeros_like(dt), burst)
        )
        total[:, MAX_SPEED] = np.maximum(acc[s, MAX_SPEED], speed)
        acc[s] = total
        out["type"][idx], out["seq"][idx], out["trip"][idx] = typ, seq, self.trip[s]
        out["lat"][idx], out["lon"][idx], out["speed"][idx], out["heading"][idx] = lat, lon, speed, heading
        out["posted"][idx], out["miles"][idx], out["dt"][idx] = posted, np.round(total[:, MILES], 6), dt
        out["value"][idx] = np.where(speeding, over, np.where(crash, np.round(span(CRASH_G, u[5]), 2), value))
        out["flag"][idx] = np.where(braking, (u[6] < ABS_SHARE) | crash, turn & left)
        out["pattern"][idx] = np.where(crash, CRASH, np.where(burst, SUSTAINED, NO_PATTERN))
        out["injected"][idx] = np.where(crash, self.crash_injected[s], burst & self.burst_injected[s])

    def complete(
        self, idx: np.ndarray, s: np.ndarray, cars: CarPool, d: np.ndarray, out: dict[str, np.ndarray]
    ) -> None:
        """Trips that emitted all their driving events: snapshot their totals, park the cars."""
        cars.lat[d], cars.lon[d] = self.lat[s], self.lon[s]
        out["trip"][idx], out["lat"][idx], out["lon"][idx] = self.trip[s], self.lat[s], self.lon[s]
        out["t0"][idx], out["last"][idx] = self.t0[s], self.last[s]
        out["counts"][idx], out["acc"][idx] = self.counts[s], self.acc[s]
        out["pattern"][idx] = np.where(
            self.crash[s], CRASH, np.where(self.acc[s, BURST_EVENTS] > 0, SUSTAINED, NO_PATTERN)
        )
        out["injected"][idx] = np.where(
            self.crash[s], self.crash_injected[s], (self.acc[s, BURST_EVENTS] > 0) & self.burst_injected[s]
        )
