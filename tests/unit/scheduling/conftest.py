"""Fixtures shared by the scheduling tests: one long seeded run, generated once per session."""

from __future__ import annotations

import pytest

from producer.domains.common.base import Event
from producer.scenario.loader import load_scenario
from producer.scheduling.sources import EventSource

FRAUD_BURST_CYCLE_S = 90.0  # fraud_burst: a 60 s quiet phase, then a 30 s burst, repeated


@pytest.fixture(scope="session")
def fraud_burst_three_cycles() -> tuple[EventSource, list[Event]]:
    """The first three cycles (270 scenario seconds, ~540k events) of the bundled fraud_burst, seed 13.

    The most expensive sample of the unit suite (~15 s): the injection-label and phase-label tests
    read it and must not change it.
    """
    source = EventSource(load_scenario("fraud_burst"))
    events: list[Event] = []
    while not source.ended:
        batch = source.take(2000)
        kept = [e for e in batch if source.tau_of(e) < 3 * FRAUD_BURST_CYCLE_S]
        events += kept
        if len(kept) < len(batch):
            return source, events
    raise AssertionError("fraud_burst ended before three cycles")
