"""The disorder stage: shares, lateness, labels, determinism."""

from __future__ import annotations

from collections import Counter

import pytest

from producer.domains.common.base import Event
from producer.domains.common.rows import RowSet, as_parts
from producer.scenario.model import Disorder
from producer.scheduling.disorder import DisorderStage

N = 20_000


def events(n=N):
    for i in range(n):
        yield Event(
            "s", f"k{i % 50}", 1_000_000 * i // 100, {"event_id": str(i), "truth": {"disorder": None, "delay_ms": 0}}
        )


def run(spec: Disorder, seed=3, block=777):
    """The stage applied block by block (as a partition feeds it), then flushed; merge keys checked on the way."""
    stage, source = DisorderStage(spec, seed, 1, 0), list(events())
    out: list[Event] = []
    keys: list[int] = []
    for at in range(0, len(source), block):
        rows, part_keys = stage.apply(RowSet.of_parts(as_parts(source[at : at + block])))
        out += rows.events()
        keys += part_keys.tolist()
    tail, tail_keys = stage.flush()
    out, keys = out + tail.events(), keys + tail_keys.tolist()
    assert keys == sorted(keys)  # merge keys never decrease: partitions merge by them
    assert all(k >= e.time_us for k, e in zip(keys, out))  # an event never leaves before its own time
    return out


def test_block_boundaries_do_not_change_the_result():
    spec = Disorder(late_share=0.1, out_of_order_share=0.1, duplicate_share=0.05)
    assert [e.value for e in run(spec, block=100)] == [e.value for e in run(spec, block=5000)]


def test_no_disorder_is_identity():
    assert [e.value["event_id"] for e in run(Disorder())] == [str(i) for i in range(N)]


def test_shares_labels_and_lateness():
    out = run(
        Disorder(
            late_share=0.05,
            lateness={"mean": "3s", "max": "20s"},
            out_of_order_share=0.03,
            out_of_order_max="1s",
            duplicate_share=0.02,
        )
    )
    labels = Counter(e.value["truth"]["disorder"] for e in out)
    assert abs(labels["late"] / N - 0.05) < 0.006  # 5% ± 0.6 pp on 20k, seed 3
    assert abs(labels["out_of_order"] / N - 0.03) < 0.005  # 3% ± 0.5 pp
    assert abs(labels["duplicate"] / N - 0.02) < 0.004  # 2% ± 0.4 pp
    assert len(out) == N + labels["duplicate"]  # nothing lost, duplicates added
    assert Counter(e.value["event_id"] for e in out if e.value["truth"]["disorder"] != "duplicate") == Counter(
        str(i) for i in range(N)
    )
    late = [e.value["truth"]["delay_ms"] for e in out if e.value["truth"]["disorder"] == "late"]
    assert sum(late) / len(late) == pytest.approx(3000, rel=0.15)  # exponential mean 3 s (capped at 20 s)
    assert max(late) <= 20_000
    shuffled = [e.value["truth"]["delay_ms"] for e in out if e.value["truth"]["disorder"] == "out_of_order"]
    assert max(shuffled) <= 1000
    # a held event arrives after events with later timestamps
    position = {e.value["event_id"]: i for i, e in enumerate(out) if e.value["truth"]["disorder"] != "duplicate"}
    first_late = next(e for e in out if e.value["truth"]["disorder"] == "late")
    later = [e for e in out[: position[first_late.value["event_id"]]] if e.time_us > first_late.time_us]
    assert later


def test_same_seed_same_sequence():
    spec = Disorder(late_share=0.1, duplicate_share=0.05)
    assert [e.value for e in run(spec, 9)] == [e.value for e in run(spec, 9)]
    assert [e.value for e in run(spec, 9)] != [e.value for e in run(spec, 10)]
