"""Drift episodes on the ground-truth topic: one per drift block and pass, announced as its window starts."""

from __future__ import annotations

import io
import json
from functools import cache

import fastavro

from producer.domains import output_specs
from producer.domains.common.base import Event, to_datetime
from producer.encoding.avro import schemaless_encoder
from producer.encoding.episodes import DriftSchedule, EpisodeTracker, episode_record
from producer.encoding.pipeline import Encoding
from producer.encoding.schemas import GROUND_TRUTH_SCHEMA, schema_dict
from producer.scenario.loader import load_scenario
from producer.scheduling.sources import EventSource

MINUTE_US = 60 * 1_000_000


def drift_ramp_schedule() -> tuple[DriftSchedule, int]:
    loaded = load_scenario("drift_ramp")
    return DriftSchedule(loaded.scenario, loaded.params), loaded.scenario.clock.start_us


def test_drift_ramp_has_one_episode_per_block_over_the_ramp_phase():
    schedule, start = drift_ramp_schedule()
    # the ramp is scenario minutes 2..4 at speed 10: event minutes 20..40
    assert schedule.next_us == start + 20 * MINUTE_US
    assert schedule.due(start + 20 * MINUTE_US - 1) == []
    episodes = schedule.due(start + 20 * MINUTE_US)
    assert [e.stream for e in episodes] == [
        "ecommerce.customers",
        "telematics.driving-events",
        "fintech.transactions",
        "fintech.remittances",
        "telco.accounts",
    ]
    assert all((e.start_us, e.end_us) == (start + 20 * MINUTE_US, start + 40 * MINUTE_US) for e in episodes)
    assert schedule.due(2**62) == []  # repeat 1: nothing more
    customers = {m["path"]: (m["from"], m["to"]) for m in episodes[0].params}
    assert customers == {
        "risk_distribution.low": (0.5, 0.1),
        "risk_distribution.medium": (0.3, 0.3),
        "risk_distribution.high": (0.2, 0.6),
        "drift_factor": (0.0, 1.0),
    }
    transactions = {m["path"]: m["to"] for m in episodes[2].params}
    assert transactions["amount_distribution.log_normal_mean"] == 5.7 and transactions["travel_share"] == 0.1
    assert episodes[0].truth["phase"] == "ramp" and episodes[0].truth["drift_progress"] == 0.0
    assert len({e.episode_id for e in episodes}) == 5
    assert [e.episode_id for e in drift_ramp_schedule()[0].due(2**62)] == [e.episode_id for e in episodes]


def test_each_pass_of_a_repeating_scenario_has_its_own_episodes():
    loaded = load_scenario("drift_ramp")
    scenario = loaded.scenario.model_copy(update={"repeat": "forever"})
    schedule = DriftSchedule(scenario, loaded.params)
    start = scenario.clock.start_us
    first = schedule.due(start + 20 * MINUTE_US)
    second = schedule.due(start + 80 * MINUTE_US)  # a pass is 60 event minutes
    assert len(first) == len(second) == 5
    assert {e.pass_index for e in second} == {1} and second[0].end_us == start + 100 * MINUTE_US
    assert not {e.episode_id for e in first} & {e.episode_id for e in second}


@cache
def transaction() -> Event:
    """One real fintech.transactions event of drift_ramp."""
    source = EventSource(load_scenario("drift_ramp"))
    return next(e for e in source if e.stream == "fintech.transactions" and not e.value["truth"]["is_anomaly"])


def events_at(minutes: list[float], start: int) -> list[Event]:
    """Copies of a real fintech.transactions event at these event minutes."""
    return [transaction()._replace(time_us=start + int(minute * MINUTE_US)) for minute in minutes]


def encoding(fmt: str, labels: str = "topic") -> tuple[Encoding, int]:
    loaded = load_scenario("drift_ramp")
    specs = output_specs(list(loaded.scenario.streams))
    schedule = DriftSchedule(loaded.scenario, loaded.params)
    factory = (lambda topic, schema, names: schemaless_encoder(schema, names)) if fmt == "avro" else None
    enc = Encoding(specs, fmt, labels, "", factory, drifts=schedule)  # type: ignore[arg-type]
    return enc, loaded.scenario.clock.start_us


def test_drift_records_come_before_the_first_event_at_their_start():
    enc, start = encoding("jsonl")
    assert not [r for r in enc.encode(events_at([1, 19.9], start)) if b'"kind":"drift"' in r.value]
    records = enc.encode(events_at([20.5, 21], start))
    kinds = [json.loads(r.value)["kind"] if r.topic == "ground-truth" else "value" for r in records]
    assert kinds[:5] == ["drift"] * 5 and kinds[5:] == ["value", "event", "value", "event"]
    drift = json.loads(records[0].value)["drift"]
    assert drift["start"] == to_datetime(start + 20 * MINUTE_US).isoformat()
    assert drift["curve"] == "sigmoid" and drift["curve_params"] == {"position": 0.5, "width": 0.1}
    assert records[0].key == drift["episode_id"].encode() and records[0].timestamp_ms == (start // 1000) + 20 * 60_000
    assert not [r for r in enc.encode(events_at([30], start)) if b'"kind":"drift"' in r.value]
    assert enc.finish() == []


def test_drift_records_encode_as_avro_and_not_with_inline_labels():
    enc, start = encoding("avro")
    records = [r for r in enc.encode(events_at([25], start)) if r.topic == "ground-truth"]
    parsed = fastavro.parse_schema(schema_dict(GROUND_TRUTH_SCHEMA))
    values = [fastavro.schemaless_reader(io.BytesIO(r.value), parsed) for r in records]
    assert [v["kind"] for v in values] == ["drift"] * 5 + ["event"]
    telco = values[4]["drift"]
    assert telco["stream"] == "telco.accounts" and telco["persist"] is True
    assert {"path": "churn_risk.base", "from": 0.05, "to": 0.12} in telco["params"]
    assert values[5]["drift"] is None
    inline, _ = encoding("jsonl", labels="inline")
    assert len(inline.encode(events_at([25], start))) == 1


def labelled(event: Event, stream: str, key: str, minute: float, start: int, chain: str | None) -> Event:
    """A copy of `event` on `stream`, keyed `key`, at an event minute, labelled account_takeover (chain `chain`)."""
    truth = {**event.value["truth"], "is_anomaly": True, "pattern": "account_takeover", "episode_id": chain}
    return event._replace(
        stream=stream, key=key, time_us=start + int(minute * MINUTE_US), value={**event.value, "truth": truth}
    )


def test_a_chain_across_three_topics_is_one_episode_under_its_own_id():
    """Events naming one truth.episode_id group as one episode whatever their stream and key; others as before."""
    start, base = 1_700_000_000_000_000, transaction()
    chain = [
        labelled(base, "fintech.sessions", "u1", 0, start, "chain-1"),
        labelled(base, "fintech.sessions", "u1", 1, start, "chain-1"),
        labelled(base, "fintech.transactions", "u1", 6, start, "chain-1"),
        labelled(base, "fintech.remittances", "u1", 14, start, "chain-1"),
        labelled(base, "fintech.sessions", "u2", 2, start, None),  # an account_takeover of no chain
    ]
    tracker = EpisodeTracker()
    assert tracker.observe(chain) == []
    closed = tracker.finish()
    assert sorted((stream, key, pattern) for stream, key, pattern, _ in closed) == [
        ("fintech.sessions", "u1", "account_takeover"),
        ("fintech.sessions", "u2", "account_takeover"),
    ]
    records = {key: episode_record("p." + stream, key, pattern, e, "p.")[1] for stream, key, pattern, e in closed}
    episode = records["u1"]["episode"]
    assert episode["episode_id"] == "chain-1" and episode["event_count"] == 4
    assert episode["topics"] == ["p.fintech.sessions", "p.fintech.transactions", "p.fintech.remittances"]
    assert episode["end"] == to_datetime(start + 14 * MINUTE_US) and records["u1"]["topic"] == "p.fintech.sessions"
    other = records["u2"]["episode"]
    assert other["episode_id"] != "chain-1" and other["topics"] == ["p.fintech.sessions"]
    parsed = fastavro.parse_schema(schema_dict(GROUND_TRUTH_SCHEMA))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, records["u1"])
    assert fastavro.schemaless_reader(io.BytesIO(out.getvalue()), parsed)["episode"]["topics"][2] == (
        "p.fintech.remittances"
    )
