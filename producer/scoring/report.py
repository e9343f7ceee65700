"""The scoreboard's final report: a terminal table and a JSON document (the HTML page is in html.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from producer.scoring.score import Scoreboard, delay_events
from producer.scoring.truth import GroundTruth


def iso(us: int | None) -> str | None:
    """An event time in epoch microseconds as ISO 8601 (UTC)."""
    return None if us is None else datetime.fromtimestamp(us / 1e6, UTC).isoformat()


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def drift_rows(board: Scoreboard, truth: GroundTruth) -> list[dict[str, Any]]:
    """One row per detector and drift episode."""
    return [
        {
            "detector": row.detector,
            "topic": row.episode.topic,
            "episode_id": row.episode.episode_id,
            "pass_index": row.episode.pass_index,
            "start": iso(row.episode.start_us),
            "ramp_end": iso(row.episode.end_us),
            "window_end": iso(row.window_end_us),
            "detected": row.detected,
            "first_alarm": iso(row.alarm_us),
            "delay_seconds": row.delay_s,
            "delay_events": delay_events(truth, row),
        }
        for row in board.drift
    ]


def to_json(board: Scoreboard, truth: GroundTruth) -> dict[str, Any]:
    """The whole scoreboard as plain JSON data."""
    return {
        "detectors": [
            {
                "detector": name,
                "alarms": sum(1 for a in board.alarms if a.detector == name),
                "false_alarms_per_hour": board.false_alarm_rate(name),
                "unmatched_anomaly_alarms": board.unmatched.get(name, 0),
            }
            for name in board.detectors
        ],
        "drift": drift_rows(board, truth),
        "false_alarms": [
            {"detector": r.detector, "topic": r.topic, "count": r.count, "hours": r.hours, "per_hour": r.per_hour}
            for r in board.false_alarms
        ],
        "patterns": [
            {
                "detector": r.detector,
                "topic": r.topic,
                "pattern": r.pattern,
                "events": r.events,
                "true_positives": r.true_positives,
                "false_positives": r.false_positives,
                "precision": r.precision,
                "recall": r.recall,
                "f1": r.f1,
            }
            for r in board.patterns
        ],
        "episodes": [
            {
                "detector": r.detector,
                "episode_id": r.episode.episode_id,
                "topic": r.episode.topic,
                "pattern": r.episode.pattern,
                "entity_key": r.episode.entity_key,
                "injected": r.episode.injected,
                "start": iso(r.episode.start_us),
                "end": iso(r.episode.end_us),
                "first_alarm": iso(r.first_alarm_us),
                "time_to_detect_seconds": r.time_to_detect_s,
            }
            for r in board.episodes
        ],
    }


def write_json(board: Scoreboard, truth: GroundTruth, path: Path) -> None:
    """Write the JSON report."""
    path.write_text(json.dumps(to_json(board, truth), indent=2) + "\n", encoding="utf-8")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain aligned text table."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def render_text(board: Scoreboard, truth: GroundTruth) -> str:
    """The terminal report: drift episodes, false alarms, anomaly patterns."""
    counts = (
        f"scoreboard: {len(board.detectors)} detector(s), {len(board.alarms)} alarm(s), "
        f"{len(truth.labels)} labelled event(s), {len(truth.drifts)} drift episode(s), "
        f"{len(truth.episodes)} anomaly episode(s)"
    )
    parts = [counts]
    drift = [
        [
            r["detector"],
            r["topic"],
            str(r["pass_index"]),
            "detected" if r["detected"] else "MISSED",
            _num(r["delay_seconds"], 1),
            "-" if r["delay_events"] is None else str(r["delay_events"]),
        ]
        for r in drift_rows(board, truth)
    ]
    if drift:
        parts.append(table(["detector", "drift episode topic", "pass", "result", "delay s", "delay events"], drift))
    false = [
        [r.detector, r.topic, str(r.count), f"{r.hours:.4f}", _num(r.per_hour, 1)]
        for r in board.false_alarms
    ]  # fmt: skip
    if false:
        parts.append(table(["detector", "topic", "false alarms", "event-h outside drift", "per event-h"], false))
    patterns = [
        [r.detector, r.topic, r.pattern, str(r.events), str(r.true_positives), str(r.false_positives),
         _num(r.precision), _num(r.recall), _num(r.f1), _ttd(board, r.detector, r.topic, r.pattern)]
        for r in board.patterns
    ]  # fmt: skip
    if patterns:
        headers = ["detector", "topic", "pattern", "events", "TP", "FP", "precision", "recall", "F1", "episodes found"]
        parts.append(table(headers, patterns))
    return "\n\n".join(parts) + "\n"


def _ttd(board: Scoreboard, detector: str, topic: str, pattern: str) -> str:
    """'found/all (mean time to detect)' for a pattern's episodes."""
    rows = [
        r
        for r in board.episodes
        if r.detector == detector and r.episode.topic == topic and r.episode.pattern == pattern
    ]
    times = [r.time_to_detect_s for r in rows if r.time_to_detect_s is not None]
    mean = f" ({sum(times) / len(times):.1f} s)" if times else ""
    return f"{len(times)}/{len(rows)}{mean}"
