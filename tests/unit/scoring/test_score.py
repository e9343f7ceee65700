"""The scoreboard's arithmetic on a hand-built ground truth: delays, misses, false alarms, P/R/F1, time to detect."""

from __future__ import annotations

import uuid

import pytest

from producer.errors import ConfigError
from producer.scoring.alarms import Alarm, parse_alarm, time_us
from producer.scoring.score import delay_events, score
from producer.scoring.truth import GroundTruth

T0 = 1_772_438_400_000_000  # 2026-03-02T08:00:00Z in epoch microseconds
S = 1_000_000
TX, TELCO = "fintech.transactions", "telco.accounts"


def eid(i: int, topic: str = TX) -> str:
    """A stable event id per (topic, index)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{topic}/{i}"))


def event(i: int, topic: str = TX, pattern: str | None = None, key: str = "u0") -> dict:
    """A kind=event ground-truth record at T0 + i seconds."""
    truth = {"is_anomaly": pattern is not None, "pattern": pattern, "drift_progress": 0.0}
    return {"kind": "event", "event_id": eid(i, topic), "topic": topic, "timestamp": T0 + i * S, "entity_key": key,
            "truth": truth}  # fmt: skip


def drift(topic: str, start_s: int, end_s: int, name: str) -> dict:
    """A kind=drift record for `topic` from T0 + start_s to T0 + end_s."""
    window = {"episode_id": name, "stream": topic, "start": T0 + start_s * S, "end": T0 + end_s * S, "pass_index": 0}
    return {"kind": "drift", "topic": topic, "timestamp": T0 + start_s * S, "drift": window}


def episode(name: str, pattern: str, key: str, start_s: int, end_s: int, injected: bool) -> dict:
    """A kind=episode record on TX."""
    body = {"episode_id": name, "pattern": pattern, "start": T0 + start_s * S, "end": T0 + end_s * S, "event_count": 1}
    return {"kind": "episode", "topic": TX, "entity_key": key, "timestamp": T0 + start_s * S, "episode": body,
            "truth": {"injected": injected}}  # fmt: skip


@pytest.fixture
def truth() -> GroundTruth:
    """1000 events on TX one a second (fraud by u1 at 10..19 s, velocity by u2 at 30..33 s), 100 on TELCO;
    a drift ramp on TX from 400 to 600 s and one on TELCO from 20 to 60 s."""
    out = GroundTruth()
    records = [drift(TX, 400, 600, "tx-ramp"), drift(TELCO, 20, 60, "telco-ramp")]
    for i in range(1000):
        pattern, key = ("fraud", "u1") if 10 <= i < 20 else ("velocity_spike", "u2") if 30 <= i < 34 else (None, "u0")
        records.append(event(i, TX, pattern, key))
    records += [event(i, TELCO) for i in range(100)]
    records += [
        episode("e-fraud", "fraud", "u1", 10, 19, True),
        episode("e-velocity", "velocity_spike", "u2", 30, 33, False),
    ]
    for n, record in enumerate(records):
        out.add(record, f"gt@{n}")
    return out


def alarm(kind: str, at_s: int, topic: str = TX, event_id: str | None = None, detector: str = "d") -> Alarm:
    """An alarm at T0 + at_s."""
    return Alarm(detector=detector, topic=topic, kind=kind, event_time_us=T0 + at_s * S, event_id=event_id)


def test_drift_detected_with_its_delay_missed_where_silent_and_false_alarms_per_event_hour(truth):
    alarms = [alarm("drift", 100), alarm("drift", 450), alarm("drift", 700)]
    board = score(truth, alarms, {("d", TELCO, "drift")})
    by_topic = {row.episode.topic: row for row in board.drift}
    tx = by_topic[TX]
    assert tx.detected and tx.delay_s == 50.0
    assert delay_events(truth, tx) == 51  # the events at 400, 401, ..., 450 s
    assert tx.window_end_us == T0 + 999 * S  # no later episode on TX: the window runs to its last event
    assert not by_topic[TELCO].detected and by_topic[TELCO].delay_s is None
    false = {row.topic: row for row in board.false_alarms}
    # the alarm at 100 s is outside [400, 999]; the one at 700 s is in the window, after the detection
    assert false[TX].count == 1 and false[TX].hours == pytest.approx(400 / 3600)
    assert false[TX].per_hour == pytest.approx(9.0)
    # TELCO's window runs from 20 s to its last event (99 s): only 0..20 s is outside drift
    assert false[TELCO].count == 0 and false[TELCO].hours == pytest.approx(20 / 3600)
    assert board.false_alarm_rate("d") == pytest.approx(1 / ((400 + 20) / 3600))


def test_an_alarm_before_the_episode_does_not_detect_it_and_a_later_episode_ends_the_window(truth):
    truth.add(drift(TX, 800, 900, "tx-second"), "gt@late")
    board = score(truth, [alarm("drift", 399), alarm("drift", 850)])
    first, second = sorted(board.drift, key=lambda r: r.episode.start_us)
    assert first.window_end_us == T0 + 800 * S and second.window_end_us == T0 + 999 * S
    assert not first.detected  # 399 s is before its start; 850 s lies in the second one's window
    assert second.detected and second.delay_s == 50.0
    (false,) = board.false_alarms
    assert false.count == 1 and false.hours == pytest.approx(400 / 3600)


def test_event_level_precision_recall_f1_and_time_to_detect(truth):
    unknown = str(uuid.uuid4())
    alarms = [alarm("anomaly", 12, event_id=eid(12)), alarm("anomaly", 12, event_id=eid(12)),
              alarm("anomaly", 13, event_id=eid(13)), alarm("anomaly", 50, event_id=eid(50)),
              alarm("anomaly", 60, event_id=unknown), alarm("anomaly", 61)]  # fmt: skip
    board = score(truth, alarms)
    rows = {row.pattern: row for row in board.patterns}
    fraud = rows["fraud"]
    # 2 distinct fraud events alarmed (12 twice counts once), 1 normal event alarmed, 10 fraud events in all
    assert (fraud.events, fraud.true_positives, fraud.false_positives) == (10, 2, 1)
    assert fraud.precision == pytest.approx(2 / 3) and fraud.recall == pytest.approx(0.2)
    assert fraud.f1 == pytest.approx(2 * (2 / 3) * 0.2 / (2 / 3 + 0.2))
    velocity = rows["velocity_spike"]
    assert (velocity.true_positives, velocity.false_positives, velocity.precision, velocity.f1) == (0, 1, 0.0, 0.0)
    assert board.unmatched["d"] == 2  # an unknown event id, and no event id
    found = {row.episode.episode_id: row for row in board.episodes}
    assert found["e-fraud"].time_to_detect_s == 2.0 and found["e-velocity"].time_to_detect_s is None
    assert not board.drift  # a detector with only anomaly alarms is not scored on drift


def test_a_watched_silent_detector_is_scored_with_no_detection_and_no_false_alarm(truth):
    board = score(truth, [], {("quiet", TX, "drift")})
    assert board.detectors == ["quiet"]
    (row,) = board.drift
    assert not row.detected
    assert board.false_alarm_rate("quiet") == 0.0


def test_alarms_are_checked_against_the_contract():
    good = {"detector": "d", "topic": TX, "kind": "drift", "event_id": None, "event_time": "2026-03-02T08:00:00+00:00"}
    assert parse_alarm(good, "a@0").event_time_us == T0
    assert parse_alarm({**good, "event_time": T0 + 5}, "a@0").event_time_us == T0 + 5
    assert parse_alarm({**good, "event_id": uuid.UUID(eid(1))}, "a@0").event_id == eid(1)
    bad = [({"kind": "shift"}, "kind"), ({"event_id": "x"}, "event_id"), ({"event_time": "yesterday"}, "event_time"),
           ({"detector": ""}, "detector"), ({"score": "high"}, "score")]  # fmt: skip
    for change, field in bad:
        with pytest.raises(ConfigError, match=f"alarms\\[0\\]@7: {field}: expected"):
            parse_alarm({**good, **change}, "alarms[0]@7")
    missing = {k: v for k, v in good.items() if k != "event_time"}
    with pytest.raises(ConfigError, match="event_time: expected a timestamp"):
        parse_alarm(missing, "a@1")
    assert time_us(T0, "x", "y") == T0


def test_malformed_ground_truth_names_the_record_and_field():
    with pytest.raises(ConfigError, match=r"gt\[0\]@3: kind: expected event, episode or drift, found 'label'"):
        GroundTruth().add({"kind": "label", "topic": TX}, "gt[0]@3")
    with pytest.raises(ConfigError, match=r"gt\[0\]@4: truth.is_anomaly: expected a boolean"):
        GroundTruth().add({**event(1), "truth": {}}, "gt[0]@4")
