"""Rate mode paces emitted events (companions included), from a warm start, whatever the stream's mix."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from producer.domains import STREAMS
from producer.scenario.loader import load_scenario
from producer.scheduling.sources import EventSource


def one_stream(tmp_path: Path, stream: str, duration: str = "60s", rate: int = 400, speed: int = 1) -> Path:
    """A one-stream, one-phase scenario (seed 7)."""
    path = tmp_path / "s.yaml"
    path.write_text(
        f'name: s\nseed: 7\nclock: {{start: "2026-01-05T08:00:00Z", speed: {speed}}}\n'
        f"streams:\n  {stream}: {{weight: 1}}\n"
        f"phases:\n  - {{name: p, duration: {duration}, rate: {rate}}}\nrepeat: 1\n"
    )
    return path


# the cases that failed before (sessions -69% and remittances +120% at speed 1, sessions' and transactions'
# windows swinging 30% at speed 10) run in the quick pass; the rest of the matrix (~1 s each) is marked slow
QUICK = {("fintech.sessions", 1), ("fintech.remittances", 1), ("fintech.sessions", 10), ("fintech.transactions", 10)}


@pytest.mark.parametrize(
    ("stream", "speed"),
    [
        pytest.param(stream, speed, marks=() if (stream, speed) in QUICK else pytest.mark.slow)
        for stream in sorted(STREAMS)
        for speed in (1, 10)
    ],
)
def test_sixty_event_seconds_at_400_emit_24000_events_evenly(tmp_path, stream, speed):
    """60 event-seconds at 400 events per event-second: at speed 10, a 6 s phase at 4,000/s."""
    path = one_stream(tmp_path, stream, duration=f"{60 // speed}s", rate=400 * speed, speed=speed)
    source = EventSource(load_scenario(path))
    rel = (np.array([e.time_us for e in source]) - source.start_us) / 1e6  # event seconds
    assert rel.min() >= 0 and rel.max() < 60  # nothing before the clock start (burn-in) or after the phase
    # before exact pacing: fintech.sessions -69%, fintech.remittances +120%; now within 0.6% at seed 7
    assert abs(len(rel) - 24_000) <= 0.02 * 24_000, len(rel)  # ±2%
    windows = np.histogram(rel, bins=6, range=(0, 60))[0]
    # each 10 event-second window ±6% of 4,000, the first included (warm start); worst at seed 7: 5.1% (transactions)
    # (at speed 10 the windows of sessions and transactions swung by up to 30% before partitioned pacing)
    assert np.all(np.abs(windows - 4_000) <= 0.06 * 4_000), windows.tolist()


def test_follow_ups_count_against_the_rate_so_pending_never_overshoots(tmp_path):
    source = EventSource(load_scenario(one_stream(tmp_path, "fintech.sessions", duration="30s")))
    events = list(source)
    assert abs(len(events) - 12_000) <= 0.02 * 12_000  # ±2% (was 3,107: -74%)


def test_multi_stream_shares_follow_weights(steady_state_sample):
    # count per generating stream, companions included, over the first 100k events of steady_state
    # (tests/unit/conftest.py): the worst stream at seed 42 is 3.1% off its share (1.6% at 200k, 7.6% at
    # 60k), against ±10% here and -69%/+120% before exact pacing
    produced = Counter(steady_state_sample.origin.values())
    total = sum(produced.values())
    streams = steady_state_sample.loaded.scenario.streams
    weights = {name: cfg.weight for name, cfg in streams.items()}
    assert set(produced) == set(weights)
    for name, count in produced.items():
        share = weights[name] / sum(weights.values())
        assert abs(count / total - share) <= 0.10 * share, (name, count / total, share)  # ±10% relative


def test_same_seed_same_events_twice(tmp_path):
    path = one_stream(tmp_path, "fintech.transactions", duration="10s")
    first = [(e.key, e.time_us, e.value["event_id"]) for e in EventSource(load_scenario(path))]
    second = [(e.key, e.time_us, e.value["event_id"]) for e in EventSource(load_scenario(path))]
    assert first == second


def test_warm_up_ahead_of_the_run_gives_the_same_events(tmp_path):
    path = one_stream(tmp_path, "fintech.circles", duration="10s")
    lazy = [e.value["event_id"] for e in EventSource(load_scenario(path))]
    early = EventSource(load_scenario(path))
    early.warm_up()
    assert all(source.warm for source in early.sources)
    assert [e.value["event_id"] for e in early] == lazy  # the burn-in is the same whenever it runs
