"""Fixtures shared across the unit tests: one seeded steady_state sample, generated once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from producer.domains.common.base import Event
from producer.domains.common.rows import RowSet
from producer.scenario.loader import LoadedScenario, load_scenario
from producer.scheduling.sources import EventSource
from tests.helpers import track_origin

STEADY_STATE_EVENTS = 100_000
EVERY_STREAM = Path(__file__).parents[1] / "fixtures" / "every_stream.yaml"


@dataclass(frozen=True)
class Sample:
    """The first events of a bundled scenario, in emitted order, and which stream's partition drew each."""

    loaded: LoadedScenario
    events: list[Event]
    origin: dict[str, str]  # event_id -> generating stream, companions on other topics included


@pytest.fixture(scope="session")
def steady_state_sample() -> Sample:
    """The first 100k events of the bundled steady_state (seed 42), drawn as the scheduler does (take(2000)).

    Shared by the stream-share, merge and encoder tests, which only read it (~5 s to generate).
    """
    loaded = load_scenario("steady_state")
    source = EventSource(loaded)
    origin = track_origin(source)
    events: list[Event] = []
    while len(events) < STEADY_STATE_EVENTS:
        events += source.take(min(2000, STEADY_STATE_EVENTS - len(events)))
    return Sample(loaded, events, origin)


@pytest.fixture(scope="session")
def every_stream_rows() -> tuple[LoadedScenario, list[RowSet]]:
    """every_stream.yaml (seed 5: every stream, drift, injection, disorder) to its end, as batches of 500 rows.

    ~5k events in ~10 batches, so most parts' rows go out over several batches; read-only.
    """
    loaded = load_scenario(str(EVERY_STREAM))
    source = EventSource(loaded)
    batches = []
    while not source.ended:
        rows = source.take_rows(500)
        if len(rows):
            batches.append(rows)
    return loaded, batches
