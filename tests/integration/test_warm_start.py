"""Warm start: the first third of steady_state is distributed like its last third, field by field.

300,000 events of steady_state (its seed, 42) are grouped by (stream, event_type); for every
numeric payload field (int, float, Decimal; nested dicts flattened with dotted names; booleans, ids,
timestamps and fields constant over the group left out) the group's first third is compared with
its last third by a two-sample Kolmogorov-Smirnov test, which must give p >= 1e-3.

Each side holds one value per entity (the event's key: customer, driver, user, account, circle,
sender): the first one the entity shows in that third. Raw values are no independent samples: a
panel customer is snapshotted a dozen times per third with slowly changing totals, a trip reports
its car a hundred times. Measured with raw values, the process long after its start (events
900k-1.2M) failed 27 fields besides period_minute at seed 42 and 17 at seed 7; with one value per
entity, only the amounts of fintech.transactions at seed 42 (circle contributions: one amount
shared by a circle's members, about 60 circles active) and none at seed 7. So events a stream emits
on another's topic (a circle's transaction pairs) are left out of that topic's groups: their
values are the circle's, tested on fintech.circles.

Tolerance: p >= 1e-3 per field over the 191 fields checked, at a fixed seed (a truly stationary
run would fail one of them about once in six seeds: 1 - 0.999^191).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from scipy.stats import ks_2samp

from producer.domains.common.base import Event
from producer.scenario.loader import load_scenario
from producer.scheduling.sources import EventSource
from tests.helpers import track_origin

EVENTS = 300_000
MIN_P = 1e-3
MIN_SAMPLES = 20  # entities per side; fewer say nothing

# fields that cannot pass by construction: their values follow the clock, not the state
AUTOCORRELATED = {
    ("telematics.driving-events", "period_minute"): "minutes since the partition's first arrival: a clock",
    # steady_state starts at the drivers' local midnight, so trips completing first were driven mostly
    # before it; telematics alone after a 4-hour burn-in (no prime) fails these five alike
    ("telematics.trips", "night_share"): "local time of day: the run starts as late night begins",
    ("telematics.trips", "payd.night_miles"): "the same clock",
    ("telematics.trips", "phyd.late_night_miles_per_100mi"): "the same clock",
    ("telematics.trips", "event_counts.late_night_driving"): "the same clock",
    ("telematics.trips", "events_per_100mi.late_night_driving"): "the same clock",
}


def _numeric(prefix: str, payload: dict[str, Any], out: dict[str, float]) -> None:
    """Numeric leaves of a payload by dotted name (booleans, ids and everything else left out)."""
    for name, value in payload.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            _numeric(path + ".", value, out)
        elif isinstance(value, int | float | Decimal) and not isinstance(value, bool) and not name.endswith("_id"):
            out[path] = float(value)


def _side(events: list[Event]) -> dict[str, list[float]]:
    """Each numeric field's values over one third: the first event of each entity (key) in it."""
    first: dict[str, Event] = {}
    for event in events:
        first.setdefault(event.key, event)
    columns: dict[str, list[float]] = defaultdict(list)
    for event in first.values():
        row: dict[str, float] = {}
        _numeric("", event.value["payload"], row)
        for name, value in row.items():
            columns[name].append(value)
    return columns


def _excluded(stream: str, field: str, table: dict[tuple[str, str], str]) -> bool:
    """Whether a table names this field of this stream, or the whole stream."""
    return (stream, field) in table or (stream, "*") in table


@pytest.fixture(scope="module")
def p_values() -> dict[tuple[str, str, str], float]:
    """KS p-value of first vs last third per (stream, event_type, field) of steady_state's first 300k events."""
    source = EventSource(load_scenario("steady_state"))
    origin = track_origin(source)
    configured = {partition.stream for partition in source.sources}
    events: list[Event] = []
    while len(events) < EVENTS and not source.ended:
        events.extend(source.take(EVENTS - len(events)))
    assert len(events) == EVENTS
    # event ids a stream emitted on another configured stream's topic (a circle's transaction pairs)
    companions = {
        e.value["event_id"] for e in events if origin[e.value["event_id"]] != e.stream and e.stream in configured
    }
    assert companions
    groups: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in events:
        # a companion carries its generating stream's values (a circle's contribution, the same for all
        # its members and steps): those are tested on that stream, one value per circle
        if event.value["event_id"] not in companions:
            groups[event.stream, event.event_type].append(event)
    out: dict[tuple[str, str, str], float] = {}
    for (stream, event_type), group in groups.items():
        third = len(group) // 3
        early, late = _side(group[:third]), _side(group[-third:])
        for field, a in early.items():
            b = late.get(field, [])
            if len(a) < MIN_SAMPLES or len(b) < MIN_SAMPLES or len(set(a) | set(b)) < 2:
                continue
            out[stream, event_type, field] = float(ks_2samp(a, b).pvalue)
    return out


def test_first_third_is_distributed_like_the_last(p_values):
    checked = {key: p for key, p in p_values.items() if not _excluded(key[0], key[2], AUTOCORRELATED)}
    assert len(checked) > 150  # every stream's fields are there (191 today), not a handful
    failing = sorted((p, key) for key, p in checked.items() if p < MIN_P)
    assert not failing, failing


def test_clock_driven_fields_do_fail(p_values):
    # an AUTOCORRELATED entry that passes is no longer excused by the clock: test it above instead
    for (stream, field), why in AUTOCORRELATED.items():
        found = [p for (s, _, f), p in p_values.items() if s == stream and f == field]
        assert found, (stream, field)
        assert min(found) < MIN_P, f"{stream}.{field} now passes ({why}): drop it from AUTOCORRELATED"
