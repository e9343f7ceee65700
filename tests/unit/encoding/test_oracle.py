"""The `oracle:` answer key on hand-built records: Quix Streams' tumbling-window semantics, exactly."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from producer.cli import main
from producer.encoding.oracle import WindowOracle
from producer.scenario.model import OracleSpec

TOPIC = "fintech.transactions"


def oracle(**knobs: object) -> WindowOracle:
    """A 1 s window with 500 ms of allowed lateness over fintech.transactions, one knob turned."""
    spec = {"name": "o", "stream": TOPIC, "window": "1s", "allowed_lateness": "500ms", **knobs}
    return WindowOracle(OracleSpec.model_validate(spec), TOPIC)


def windows(results: list[dict]) -> list[tuple]:
    """(group, start, count, closed_by) of each result."""
    return [(r["group"], r["window_start"], r["count"], r["closed_by"]) for r in results]


def test_a_window_closes_when_the_watermark_reaches_its_end_plus_the_lateness_exactly():
    o = oracle()
    assert o.add("a", 1_000, None) == []
    assert o.add("a", 2_499, None) == []  # 2499 - 500 < 2000: [1000, 2000) still open
    closed = o.add("a", 2_500, None)  # 2500 - 500 == 2000 == the window's end: closed
    assert windows(closed) == [("a", 1_000, 1, "watermark")]
    assert closed[0]["watermark"] == 2_500 and closed[0]["window_end"] == 2_000


def test_a_record_is_late_exactly_when_its_window_has_closed():
    o = oracle()
    o.add("a", 1_000, None)
    o.add("a", 2_499, None)
    assert o.add("a", 1_999, None) == [] and o.late == 0  # still inside the grace: counted
    o.add("a", 2_500, None)  # closes [1000, 2000) with its two records
    assert o.add("a", 1_999, None) == [] and o.late == 1  # its window ended at 2000 <= 2500 - 500
    assert o.add("a", 2_000, None) == [] and o.late == 1  # [2000, 3000) is open: the start is inclusive
    (result,) = o.finish()
    assert (result["window_start"], result["count"], result["late_excluded"]) == (2_000, 3, 1)


def test_a_late_record_moves_no_watermark_and_the_watermark_is_per_key():
    o = oracle()
    o.add("a", 10_000, None)
    assert o.add("b", 1_000, None) == [] and o.late == 0  # b's own watermark: a's time does not make it late
    o.add("a", 5_000, None)  # late for a
    assert o.groups["a"].watermark == 10_000 and o.groups["b"].watermark == 1_000
    assert {(r["group"], r["window_start"], r["watermark"]) for r in o.finish()} == {
        ("a", 10_000, 10_000),
        ("b", 1_000, 1_000),
    }


def test_duplicates_count_twice_by_default_and_once_when_declared():
    twice, once = oracle(sum="payload.amount"), oracle(sum="payload.amount", duplicates="count_once")
    closed = {}
    for name, o in (("twice", twice), ("once", once)):
        o.add("a", 1_000, Decimal("2.50"))
        o.add("a", 1_000, Decimal("2.50"), duplicate=True)
        closed[name] = o.add("a", 3_000, Decimal("1.00"), duplicate=True)
    # counted twice, and the second copy at 3000 advances the watermark, closing [1000, 2000)
    assert [(r["window_start"], r["count"], r["sum"]) for r in closed["twice"]] == [(1_000, 2, "5.00")]
    # counted once: both copies ignored, as if never sent, so they move no watermark either
    assert closed["once"] == [] and once.ignored == 2 and once.groups["a"].watermark == 1_000
    assert [(r["window_start"], r["count"], r["sum"], r["closed_by"]) for r in once.finish()] == [
        (1_000, 1, "2.50", "end")
    ]


def test_the_end_of_the_run_emits_every_open_window_marked_end():
    o = oracle(sum="payload.amount")
    o.add("b", 4_200, 3)
    o.add("a", 1_100, 2)
    o.add("a", 1_900, None)  # an event without the field: counted, adds nothing
    o.add("a", 2_100, 5)
    results = o.finish()
    assert windows(results) == [("a", 1_000, 2, "end"), ("a", 2_000, 1, "end"), ("b", 4_000, 1, "end")]
    assert [r["sum"] for r in results] == ["2", "5", "3"] and [r["watermark"] for r in results] == [2_100, 2_100, 4_200]
    assert o.finish() == []


def test_sums_are_exact_text_added_in_send_order():
    o = oracle(sum="payload.x")
    for value in (0.1, 0.2, 0.3):
        o.add("a", 1_000, value)
    o.add("a", 1_001, None)
    (result,) = o.finish()
    assert result["sum"] == repr(0 + 0.1 + 0.2 + 0.3) == "0.6000000000000001" and result["count"] == 4


def test_the_expected_file_is_the_oracle_replayed_over_the_events_file_in_send_order(tmp_path: Path):
    """The run's expected records equal WindowOracle fed the events as the sink received them."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "out"
    argv = ["run", str(scenario), "--sink", "file", "--format", "jsonl", "--out", str(out), "--no-metrics"]
    assert main([*argv, "--rate", "max"]) == 0
    replay = oracle(sum="payload.amount", window="2s", allowed_lateness="300ms")
    replay.spec = replay.spec.model_copy(update={"name": "tx"})
    results: list[dict] = []
    disorders: dict[str | None, int] = {}
    for line in (out / f"{TOPIC}.jsonl").read_text().splitlines():
        event = json.loads(line)
        disorders[event["truth"]["disorder"]] = disorders.get(event["truth"]["disorder"], 0) + 1
        time_ms = _ms(event["timestamp"])
        amount = Decimal(event["payload"]["amount"])
        results.extend(
            replay.add(event["payload"]["user_id"], time_ms, amount, event["truth"]["disorder"] == "duplicate")
        )
    results.extend(replay.finish())
    expected = [json.loads(line) for line in (out / "expected.jsonl").read_text().splitlines()]
    assert expected == results
    assert replay.late > 0 and min(disorders.values()) > 0 and len(disorders) == 4  # every kind of disorder ran
    assert {r["closed_by"] for r in expected} == {"watermark", "end"}


def _ms(iso: str) -> int:
    """Milliseconds since the epoch of an ISO-8601 event time (the Kafka record timestamp)."""
    from datetime import datetime

    moment = datetime.fromisoformat(iso)
    return (int(moment.timestamp()) * 1_000_000 + moment.microsecond) // 1000


SCENARIO = """\
name: oracle_unit
seed: 4
clock: {start: "2026-01-01T00:00:00Z"}
streams:
  fintech.transactions: {weight: 1, params: {num_users: 10}}
phases:
  - {name: p, duration: 10s, rate: 200}
disorder:
  late_share: 0.05
  lateness: {mean: 1s, max: 3s}
  out_of_order_share: 0.05
  out_of_order_max: 200ms
  duplicate_share: 0.05
oracle:
  - {name: tx, stream: fintech.transactions, window: 2s, sum: payload.amount, allowed_lateness: 300ms}
"""
