"""Whole runs to the file sink: determinism across rates, label modes, Avro container output."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro

from producer.cli import main

SCENARIO = str(Path(__file__).resolve().parents[1] / "fixtures" / "transactions.yaml")


def run(out, *flags):
    assert main(["run", SCENARIO, "--sink", "file", "--out", str(out), "--no-metrics", *flags]) == 0


def test_same_seed_same_bytes_at_any_rate(tmp_path):
    run(tmp_path / "paced", "--events", "5000", "--rate", "1000", "--format", "jsonl")
    run(tmp_path / "max", "--events", "5000", "--rate", "max", "--format", "jsonl")
    paced = (tmp_path / "paced" / "fintech.transactions.jsonl").read_bytes()
    fast = (tmp_path / "max" / "fintech.transactions.jsonl").read_bytes()
    assert paced == fast
    assert paced.count(b"\n") == 5000


def test_seed_changes_content(tmp_path):
    run(tmp_path / "a", "--events", "200", "--rate", "max", "--format", "jsonl", "--seed", "1")
    run(tmp_path / "b", "--events", "200", "--rate", "max", "--format", "jsonl", "--seed", "2")
    assert (tmp_path / "a" / "fintech.transactions.jsonl").read_bytes() != (
        tmp_path / "b" / "fintech.transactions.jsonl"
    ).read_bytes()


def test_avro_container_files_are_readable_and_identical_across_rates(tmp_path):
    run(tmp_path / "x", "--events", "1500", "--rate", "max")
    run(tmp_path / "y", "--events", "1500", "--rate", "3000")
    x = (tmp_path / "x" / "fintech.transactions.avro").read_bytes()
    assert x == (tmp_path / "y" / "fintech.transactions.avro").read_bytes()
    with open(tmp_path / "x" / "fintech.transactions.avro", "rb") as handle:
        records = list(fastavro.reader(handle))
    assert len(records) == 1500
    assert records[0]["truth"]["scenario"] == "transactions_only"


def test_labels_topic_moves_truth_to_ground_truth_topic(tmp_path):
    run(tmp_path, "--events", "400", "--rate", "max", "--format", "jsonl", "--labels", "topic")
    events = [json.loads(line) for line in (tmp_path / "fintech.transactions.jsonl").read_text().splitlines()]
    records = [json.loads(line) for line in (tmp_path / "ground-truth.jsonl").read_text().splitlines()]
    labels = [r for r in records if r["kind"] == "event"]
    assert len(events) == len(labels) == 400
    assert all(e["truth"] is None for e in events)
    assert [label["event_id"] for label in labels] == [e["event_id"] for e in events]
    assert labels[0]["topic"] == "fintech.transactions" and "is_anomaly" in labels[0]["truth"]
    # one record per injected episode: the entity, the pattern, start and end, how many events
    episodes = [r["episode"] | {"key": r["entity_key"]} for r in records if r["kind"] == "episode"]
    anomalous = {(label["entity_key"], label["truth"]["pattern"]) for label in labels if label["truth"]["is_anomaly"]}
    assert anomalous and {(e["key"], e["pattern"]) for e in episodes} == anomalous
    assert all(e["start"] <= e["end"] and e["event_count"] >= 1 for e in episodes)
    assert sum(e["event_count"] for e in episodes) == sum(label["truth"]["is_anomaly"] for label in labels)


def test_labels_off_drops_truth(tmp_path):
    run(tmp_path, "--events", "100", "--rate", "max", "--format", "jsonl", "--labels", "off")
    events = [json.loads(line) for line in (tmp_path / "fintech.transactions.jsonl").read_text().splitlines()]
    assert all(e["truth"] is None for e in events)
    assert not (tmp_path / "ground-truth.jsonl").exists()
