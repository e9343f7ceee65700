"""The bundled steady_state scenario emits every event type of every stream."""

from __future__ import annotations

import json
from collections import Counter

from producer.cli import main
from producer.domains import SPECS

DAILY = {"exchange-rate-updated"}


def test_steady_state_emits_every_event_type_of_every_stream(tmp_path):
    assert (
        main(
            [
                "run",
                "steady_state",
                "--sink",
                "file",
                "--format",
                "jsonl",
                "--out",
                str(tmp_path),
                "--events",
                "200000",
                "--rate",
                "max",
                "--no-metrics",
            ]
        )
        == 0
    )
    for name, spec in SPECS.items():
        path = tmp_path / f"{name}.jsonl"
        seen = Counter(json.loads(line)["event_type"] for line in path.read_text().splitlines())
        # the USD/HTG rate is published once per event-day (tests/unit/domains cover it): with a warm
        # start, the day's update went out during the burn-in, before the first emitted event
        missing = set(spec.event_types) - set(seen) - DAILY
        assert not missing, f"{name} never emitted {sorted(missing)} in 200k events"
