"""n shards together emit exactly the unsharded run's events, with disjoint keys."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from producer.cli import main

SCENARIO = str(Path(__file__).resolve().parents[1] / "fixtures" / "short.yaml")


def lines(out: Path) -> list[str]:
    return (out / "fintech.transactions.jsonl").read_text().splitlines()


def run(out: Path, *flags: str) -> list[str]:
    assert (
        main(
            [
                "run",
                SCENARIO,
                "--sink",
                "file",
                "--format",
                "jsonl",
                "--out",
                str(out),
                "--rate",
                "max",
                "--no-metrics",
                *flags,
            ]
        )
        == 0
    )
    return lines(out)


def test_three_shards_partition_the_unsharded_run(tmp_path):
    whole = run(tmp_path / "whole")
    assert len(whole) > 3000  # the scenario ended by itself
    parts = [run(tmp_path / f"s{i}", "--shard", f"{i}/3") for i in range(3)]
    assert Counter(line for part in parts for line in part) == Counter(whole)
    keys = [{json.loads(line)["payload"]["user_id"] for line in part} for part in parts]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert all(len(part) > len(whole) / 6 for part in parts)  # each shard gets a real share
