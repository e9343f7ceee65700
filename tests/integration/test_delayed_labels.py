"""Delayed fraud labels of whole runs on the file sink: only fraud labelled, exact delays, order, end of run, shards."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from producer.cli import main
from producer.encoding.delayed_labels import delay_seconds, uniform
from producer.scenario.loader import load_scenario

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "delayed_labels.yaml"
STREAMS = ("fintech.transactions", "fintech.sessions", "fintech.circles", "fintech.remittances")


def run(out: Path, scenario: Path = FIXTURE, *flags: str) -> str:
    """Run the scenario to its end on the file sink (JSON lines); returns what it printed (the summary)."""
    argv = ["run", str(scenario), "--sink", "file", "--format", "jsonl", "--out", str(out), "--rate", "max"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main([*argv, "--no-metrics", *flags]) == 0
    return printed.getvalue()


def micros(text: str) -> int:
    """An ISO instant as µs since the epoch (exact: no float)."""
    instant = datetime.fromisoformat(text)
    return (
        (instant.toordinal() - 719163) * 86_400_000_000
        + (instant.hour * 3600 + instant.minute * 60 + instant.second) * 1_000_000
        + instant.microsecond
    )


def lines(out: Path, name: str) -> list[str]:
    """The JSON lines of one topic's file."""
    return (out / f"{name}.jsonl").read_text().splitlines()


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> tuple[Path, str]:
    """One unsharded run with labels inline (the truth of every event) and its printed summary."""
    out = tmp_path_factory.mktemp("whole")
    return out, run(out)


def events_by_id(out: Path) -> dict[str, tuple[str, dict]]:
    """Every event of the run by event_id (a duplicate's original copy), with its topic."""
    found: dict[str, tuple[str, dict]] = {}
    for stream in STREAMS:
        for line in lines(out, stream):
            event = json.loads(line)
            if event["truth"]["disorder"] != "duplicate":
                found[event["event_id"]] = (stream, event)
    return found


def test_each_label_is_a_fraud_event_of_a_listed_pattern_with_its_exact_delay(whole):
    out, _ = whole
    config = load_scenario(str(FIXTURE)).scenario.delayed_labels
    assert config is not None
    events = events_by_id(out)
    card = {
        e["payload"]["transaction_id"]
        for topic, e in events.values()
        if e["event_type"] == "transaction-initiated" and e["payload"]["source"]["type"] == "stripe"
    }
    labels = [json.loads(line) for line in lines(out, "labels")]
    kinds = Counter(label["kind"] for label in labels)
    assert kinds["confirmed_fraud"] > 500 and kinds["chargeback"] > 60, kinds
    for label in labels:
        topic, event = events[label["event_id"]]
        truth = event["truth"]
        assert truth["is_anomaly"] and truth["disorder"] != "duplicate"
        assert (label["topic"], label["event_type"], label["pattern"]) == (topic, event["event_type"], truth["pattern"])
        assert label["entity_key"] in json.dumps(event["payload"]) and label["event_time"] == event["timestamp"]
        if label["kind"] == "confirmed_fraud":
            source = config.confirmed_fraud.streams[topic]
            assert truth["pattern"] in source.patterns and event["event_type"] in source.event_types
            delay = config.confirmed_fraud.delay
        else:
            assert topic == "fintech.transactions" and event["event_type"] == "transaction-completed"
            assert truth["pattern"] in config.chargeback.patterns and event["payload"]["transaction_id"] in card
            delay = config.chargeback.delay
        expected_us = round(delay_seconds(delay, uniform(11, label["kind"], label["event_id"], 1)) * 1e6)
        assert micros(label["label_time"]) - micros(label["event_time"]) == expected_us
        assert delay.min <= expected_us / 1e6 <= delay.max


def test_shares_of_eligible_events_get_labels(whole):
    out, _ = whole
    events = events_by_id(out)
    labelled = Counter((json.loads(line)["kind"], json.loads(line)["event_id"]) for line in lines(out, "labels"))
    assert max(labelled.values()) == 1  # one label of a kind per event
    confirmed = [
        i
        for i, (topic, e) in events.items()
        if e["truth"]["is_anomaly"]
        and (topic, e["event_type"], e["truth"]["pattern"])
        in {
            ("fintech.transactions", "transaction-completed", "fraud"),
            ("fintech.transactions", "transaction-completed", "velocity_spike"),
            ("fintech.remittances", "remittance-completed", "fraud"),
            ("fintech.circles", "circle-member-joined", "fraud"),
            ("fintech.circles", "circle-member-joined", "collusion"),
            ("fintech.sessions", "login-success", "account_takeover"),
        }
    ]
    share = sum(("confirmed_fraud", i) in labelled for i in confirmed) / len(confirmed)
    # binomial: 0.6 ± 4 standard deviations of the share over this many events (seed 11)
    assert abs(share - 0.6) < 4 * math.sqrt(0.24 / len(confirmed)), (share, len(confirmed))


def test_labels_leave_in_label_time_order_when_due_and_the_rest_at_the_end(whole):
    out, summary = whole
    labels = [json.loads(line) for line in lines(out, "labels")]
    times = [micros(label["label_time"]) for label in labels]
    assert times == sorted(times)
    last_event = max(micros(json.loads(line)["timestamp"]) for s in STREAMS for line in lines(out, s))
    due = sum(t <= last_event for t in times)
    assert 0 < due < len(times)  # some labels were not due yet: sent at the end (at_end: send, the default)
    assert f"delayed labels: {len(times)} made; {due} sent when due, {len(times) - due} sent before due" in summary


def test_at_end_hold_sends_only_due_labels_and_counts_the_rest(whole, tmp_path):
    out, _ = whole
    scenario = tmp_path / "hold.yaml"
    scenario.write_text(FIXTURE.read_text().replace("delayed_labels:\n", "delayed_labels:\n  at_end: hold\n"))
    held_out = tmp_path / "hold"
    summary = run(held_out, scenario)
    every = lines(out, "labels")
    last_event = max(micros(json.loads(line)["timestamp"]) for s in STREAMS for line in lines(out, s))
    due = [line for line in every if micros(json.loads(line)["label_time"]) <= last_event]
    assert lines(held_out, "labels") == due
    assert f"{len(every)} made; {len(due)} sent when due, 0 sent before due" in summary
    assert f"{len(every) - len(due)} held at the end" in summary


def test_two_shards_emit_the_unsharded_labels_with_labels_off(whole, tmp_path):
    out, _ = whole
    shards = []
    for i in range(2):
        run(tmp_path / f"s{i}", FIXTURE, "--shard", f"{i}/2", "--labels", "off")
        shards.append(lines(tmp_path / f"s{i}", "labels"))
    assert all(shards)
    assert Counter(line for shard in shards for line in shard) == Counter(lines(out, "labels"))


def test_a_share_of_settled_card_fraud_is_charged_back(whole):
    out, _ = whole
    card: set[str] = set()  # card-funded fraudulent transactions initiated so far, in send order
    eligible: list[str] = []
    for line in lines(out, "fintech.transactions"):
        event = json.loads(line)
        truth, payload = event["truth"], event["payload"]
        # the default chargeback patterns: card fraud and the transactions of account-takeover chains
        if truth["pattern"] not in ("fraud", "account_takeover") or truth["disorder"] == "duplicate":
            continue
        if event["event_type"] == "transaction-initiated" and payload["source"]["type"] == "stripe":
            card.add(payload["transaction_id"])
        elif event["event_type"] == "transaction-completed" and payload["transaction_id"] in card:
            eligible.append(event["event_id"])
    charged = {json.loads(line)["event_id"] for line in lines(out, "labels") if '"chargeback"' in line}
    assert charged <= set(eligible)
    share = len(charged) / len(eligible)
    # the fixture's share 0.5 ± 4 standard deviations of a binomial share over this many events (seed 11)
    assert abs(share - 0.5) < 4 * math.sqrt(0.25 / len(eligible)), (share, len(eligible))


def test_workers_write_the_unsharded_labels_and_one_summary_counts_them_all(whole, tmp_path):
    out, _ = whole
    printed = run(tmp_path, FIXTURE, "--workers", "2")
    every = Counter(line for i in range(2) for line in lines(tmp_path / f"worker-{i}", "labels"))
    assert every == Counter(lines(out, "labels"))
    made = re.search(r"delayed labels: (\d+) made; (\d+) sent when due, (\d+) sent before due", printed)
    assert made is not None, printed
    # each worker's event time ends where its own events end, so only the totals must match the one process
    assert int(made[1]) == int(made[2]) + int(made[3]) == every.total()
