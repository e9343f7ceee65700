"""n shards together emit exactly the unsharded run's events, each generating only its own partitions."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from producer.cli import main
from producer.scenario.loader import load_scenario
from producer.scheduling.shard import Shard
from producer.scheduling.sources import EventSource

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# every stream, an injection window, a drift and disorder; ends by itself after ~5,000 events
EVERY_STREAM = str(FIXTURES / "every_stream.yaml")


def run(out: Path, *flags: str) -> list[str]:
    """Every JSON line the run wrote, on every topic (the ground truth included)."""
    argv = ["run", EVERY_STREAM, "--sink", "file", "--format", "jsonl", "--out", str(out), "--rate", "max"]
    assert main([*argv, "--no-metrics", "--labels", "topic", *flags]) == 0
    return [line for path in sorted(out.glob("*.jsonl")) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> list[str]:
    lines = run(tmp_path_factory.mktemp("whole"))
    assert len(lines) > 8000  # events and their label records: the scenario ended by itself
    return lines


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_shards_union_is_the_unsharded_run_byte_for_byte(tmp_path, whole, n):
    parts = [run(tmp_path / f"s{i}", "--shard", f"{i}/{n}") for i in range(n)]
    assert Counter(line for part in parts for line in part) == Counter(whole)
    keys = [{json.loads(line).get("payload", {}).get("user_id") for line in part} - {None} for part in parts]
    for i in range(n):
        for j in range(i + 1, n):
            assert not keys[i] & keys[j]  # an entity lives in one partition, so in one shard
    if n in (1, 2, 4):  # the default 4 virtual partitions split evenly over these
        assert all(len(part) > len(whole) / n / 2 for part in parts)


def events_until(source: EventSource, limit: int | None = None, horizon: int | None = None) -> list:
    """The source's events: the first `limit`, or all up to event time `horizon`."""
    out: list = []
    while (limit is None or len(out) < limit) and (batch := source.take(2000)):
        if horizon is not None and batch[-1].time_us > horizon:
            return out + [e for e in batch if e.time_us <= horizon]
        out += batch
    return out


def test_three_shards_generate_no_more_than_the_whole_run():
    """Each shard generates only its own partitions: the same events in all, about the same CPU.

    CPU time is measured in this process (generation only, not interpreter start-up); the bound is
    the issue's 1.3x. Repeated three times and the best ratio kept: one slow moment is noise.
    """
    loaded = load_scenario("steady_state")
    ratios = []
    for _ in range(3):
        started = time.process_time()
        whole = events_until(EventSource(loaded), limit=60_000)
        whole_seconds = time.process_time() - started
        started = time.process_time()
        shards = [events_until(EventSource(loaded, shard=Shard(i, 3)), horizon=whole[-1].time_us) for i in range(3)]
        ratios.append((time.process_time() - started) / whole_seconds)
        ids = Counter(e.value["event_id"] for part in shards for e in part)
        assert ids == Counter(e.value["event_id"] for e in whole)  # the same events, each generated once
    assert min(ratios) <= 1.3, ratios


def test_more_processes_than_partitions_is_one_line_and_exit_2(tmp_path, capsys):
    argv = ["run", EVERY_STREAM, "--sink", "file", "--out", str(tmp_path), "--rate", "max", "--no-metrics"]
    assert main([*argv, "--shard", "4/5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "virtual_partitions: 4" in err[0] and "--shard 4/5" in err[0]
    assert main([*argv, "--shard", "1/2", "--workers", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "6 processes" in err[0]
    assert not list(tmp_path.iterdir())  # nothing ran


def test_a_shard_paces_at_its_share_of_the_rate():
    loaded = load_scenario("steady_state")
    assert EventSource(loaded, shard=Shard(1, 2)).rate_share == 0.5
    assert EventSource(loaded, shard=Shard(0, 3)).rate_share == 0.5  # partitions 0 and 3 of 4
    assert EventSource(loaded, shard=Shard(2, 3)).rate_share == 0.25
