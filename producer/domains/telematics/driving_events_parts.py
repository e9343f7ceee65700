"""The telematics streams' events of a block as Parts: each event type's rows, gathered into columns.

Row j of every column is the block's j-th arrival (one event each), so a Part's rows are also its
`seq`: the events come out in arrival order, as one event per arrival always did. Trip-completed
rows are split by whether the trip moved: its rates per 100 miles and PHYD inputs are null when it
did not, and a Part's nested record is either present on every row or one shared null.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from producer.domains.common.base import BlockContext, StreamSpec
from producer.domains.common.columns import Decimals, Micros, Part
from producer.domains.telematics.driving_events_tables import (
    AGGRESSIVE_TURN,
    COMPLETE,
    DRIVE,
    HARD_BRAKING,
    HARSH_ACCELERATION,
    LATE_NIGHT,
    MAX_SPEED,
    MILES,
    NIGHT_MILES,
    NIGHT_S,
    NO_PATTERN,
    RATED,
    SPEEDING,
    SPEEDING_S,
    START,
    TAILGATING,
    TAILGATING_S,
    TYPES,
    CarPool,
)

PATTERNS = (None, "crash", "sustained_speeding")  # by NO_PATTERN, CRASH, SUSTAINED
LEVELS = ("low", "medium", "high")
PATTERN_NAMES, LEVEL_NAMES = np.array(PATTERNS, dtype=object), np.array(LEVELS, dtype=object)
TURN_DIRECTIONS = np.array(["right", "left"], dtype=object)  # by the turn's flag


class Block(NamedTuple):
    """A block's per-arrival columns that its Parts gather from (row j: the block's j-th arrival)."""

    ctx: BlockContext[Any]
    cars: CarPool
    times: np.ndarray  # µs
    kind: np.ndarray  # START, DRIVE or COMPLETE
    drv: np.ndarray  # driver index
    level: np.ndarray  # the driver's risk level (LEVELS index)
    event_id: np.ndarray  # uuid text (object)
    hours: np.ndarray  # drivers' local hour
    offsets: np.ndarray  # drivers' UTC offset (minutes)
    period: np.ndarray  # minutes since the first arrival
    out: dict[str, np.ndarray]  # what the trip steps filled in (TripPool.block_outputs)


def block_parts(driving: StreamSpec, trips: StreamSpec, b: Block) -> list[Part]:
    """The block's events: a Part per driving event type, trip-started, and trip-completed (moved or not)."""
    drive, typ = b.kind == DRIVE, b.out["type"]
    of_type = [(t, np.flatnonzero(drive & (typ == t))) for t in range(len(TYPES))]
    parts = [_part(driving, TYPES[t], b, rows, _driving_payload(b, rows, t), True) for t, rows in of_type if rows.size]
    if (rows := np.flatnonzero(b.kind == START)).size:
        parts.append(_part(trips, "trip-started", b, rows, _started_payload(b, rows), False))
    complete, moved = b.kind == COMPLETE, np.round(b.out["acc"][:, MILES], 6) > 0
    for rows, did in ((np.flatnonzero(complete & moved), True), (np.flatnonzero(complete & ~moved), False)):
        if rows.size:
            parts.append(_part(trips, "trip-completed", b, rows, _completed_payload(b, rows, did), True))
    return parts


def _part(spec: StreamSpec, event_type: str, b: Block, rows: np.ndarray, payload: dict, labelled: bool) -> Part:
    """One event type's rows: envelope columns, the payload's, and the labels (risk level; pattern if labelled)."""
    ctx = b.ctx
    truth = ctx.truth(risk_level=LEVEL_NAMES[b.level[rows]])
    if labelled:  # a trip start carries no pattern: its trip's crash or window comes later
        pattern = b.out["pattern"][rows]
        truth.is_anomaly, truth.pattern = pattern != NO_PATTERN, PATTERN_NAMES[pattern]
        truth.injected = b.out["injected"][rows]
    return Part(
        stream=spec.name,
        event_type=event_type,
        source_service=spec.source_service,
        time_us=b.times[rows],
        key=payload["driver_id"],
        event_id=b.event_id[rows],
        correlation_id=payload["trip_id"],
        payload=payload,
        truth=truth,
        seq=rows,
    )


def _driving_payload(b: Block, rows: np.ndarray, typ: int) -> dict[str, Any]:
    """A driving event's fields: the segment it ends, the trip so far, the car, then its type's own fields."""
    out, cars, d = b.out, b.cars, b.drv[rows]
    payload = {
        "driver_id": cars.id_column[d],
        "trip_id": out["trip"][rows],
        "trip_event_seq": out["seq"][rows],
        "latitude": out["lat"][rows],
        "longitude": out["lon"][rows],
        "speed_mph": out["speed"][rows],
        "heading_deg": out["heading"][rows],
        "posted_speed_mph": out["posted"][rows],
        "trip_miles": out["miles"][rows],
        "period_minute": b.period[rows],
        "car_value": Decimals(cars.value_cents[d], 2),
        "car_sportiness": cars.sportiness[d],
        "car_type": cars.type_column[d],
    }
    value, flag = out["value"][rows], out["flag"][rows]
    if typ == HARD_BRAKING:
        payload.update(braking_g=value, abs_activation=flag != 0)
    elif typ == AGGRESSIVE_TURN:
        payload.update(lateral_g=value, turn_direction=TURN_DIRECTIONS[flag])
    elif typ == SPEEDING:  # rint rounds half to even, as round() does
        payload.update(over_speed_mph=value, duration_sec=np.rint(out["dt"][rows]).astype(np.int64))
    elif typ == TAILGATING:
        payload.update(following_distance_m=value)
    elif typ == LATE_NIGHT:
        payload.update(local_hour=b.hours[rows])
    elif typ == HARSH_ACCELERATION:
        payload.update(accel_g=value)
    return payload


def _started_payload(b: Block, rows: np.ndarray) -> dict[str, Any]:
    """A trip start's fields: where the car is parked, the driver's local clock, the car."""
    out, cars, d = b.out, b.cars, b.drv[rows]
    return {
        "trip_id": out["trip"][rows],
        "driver_id": cars.id_column[d],
        "started_at": Micros(b.times[rows]),
        "start_latitude": out["lat"][rows],
        "start_longitude": out["lon"][rows],
        "local_hour": b.hours[rows],
        "utc_offset_minutes": b.offsets[rows],
        "car_value": Decimals(cars.value_cents[d], 2),
        "car_sportiness": cars.sportiness[d],
        "car_type": cars.type_column[d],
    }


def _completed_payload(b: Block, rows: np.ndarray, moved: bool) -> dict[str, Any]:
    """A trip's summary: metrics, counts, rates per 100 miles and PHYD inputs (null unless it moved), PAYD."""
    out, t = b.out, b.times[rows]
    acc, counts, t0 = out["acc"][rows], out["counts"][rows], out["t0"][rows]
    miles, drive_s = np.round(acc[:, MILES], 6), (out["last"][rows] - t0) / 1e6
    return {
        "trip_id": out["trip"][rows],
        "driver_id": b.cars.id_column[b.drv[rows]],
        "started_at": Micros(t0),
        "completed_at": Micros(t),
        "end_latitude": out["lat"][rows],
        "end_longitude": out["lon"][rows],
        "distance_miles": miles,
        "duration_sec": (t - t0) / 1e6,
        "driving_duration_sec": drive_s,
        "avg_speed_mph": ratio(miles, drive_s / 3600.0, 2),
        "max_speed_mph": acc[:, MAX_SPEED],
        "driving_event_count": counts.sum(axis=1),
        "event_counts": {name: counts[:, k] for k, name in enumerate(TYPES)},
        "events_per_100mi": {TYPES[k]: rounded(counts[:, k] * 100.0 / miles, 3) for k in RATED} if moved else None,
        "night_share": ratio(acc[:, NIGHT_S], drive_s, 4),
        "payd": {
            "miles": miles,
            "driving_minutes": rounded(drive_s / 60.0, 3),
            "night_miles": rounded(acc[:, NIGHT_MILES], 6),
        },
        "phyd": _phyd(b, rows, acc, counts, miles, drive_s) if moved else None,
    }


def _phyd(
    b: Block, rows: np.ndarray, acc: np.ndarray, counts: np.ndarray, miles: np.ndarray, drive_s: np.ndarray
) -> dict[str, Any]:
    """PHYD pricing inputs of trips that moved: event and speeding rates per 100 miles, the car and the driver."""
    cars, d = b.cars, b.drv[rows]
    speeding_min = acc[:, SPEEDING_S] / 60.0 * 100.0 / miles
    braking = counts[:, HARD_BRAKING] * 100.0 / miles
    value = cars.value[d]
    return {
        "hard_braking_events_per_100mi": rounded(braking, 3),
        "aggressive_turning_events_per_100mi": rounded(counts[:, AGGRESSIVE_TURN] * 100.0 / miles, 3),
        "tailgating_time_ratio": ratio(acc[:, TAILGATING_S], drive_s, 4),
        "speeding_minutes_per_100mi": rounded(speeding_min, 3),
        "late_night_miles_per_100mi": rounded(acc[:, NIGHT_MILES] * 100.0 / miles, 3),
        "miles": miles,
        "prior_claim_count": cars.prior_claims[d],
        "car_value": np.where(value > 500, value / 10_000, value.astype(np.float64)),
        "car_sportiness": cars.sportiness[d],
        "car_speeding_interaction": rounded(speeding_min / 10.0 * braking / 5.0, 4),
    }


def rounded(x: np.ndarray, digits: int) -> np.ndarray:
    """round(x, digits) per value, as Python rounds: correctly, where numpy's scale-and-rint can be off by one."""
    # a Python step per value, on trip completions only (one row in tens of events)
    return np.array([round(v, digits) for v in x.tolist()], dtype=np.float64)


def ratio(num: np.ndarray, den: np.ndarray, digits: int) -> np.ndarray:
    """round(num / den, digits) where den > 0, else 0.0."""
    share = np.zeros(len(num))
    positive = den > 0
    share[positive] = rounded(num[positive] / den[positive], digits)
    return share
