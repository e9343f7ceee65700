"""The scoreboard as one self-contained HTML page: an inline SVG timeline above the report's tables."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path

from producer.scoring.report import render_text
from producer.scoring.score import Scoreboard, drift_windows
from producer.scoring.truth import GroundTruth

WIDTH, LEFT, RIGHT, LANE, GAP, TOP = 1100, 190, 20, 64, 14, 34
MAX_MARKS = 4000  # per lane and kind: beyond it the marks are sampled evenly (the tables keep every count)
COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def _every(items: list, limit: int = MAX_MARKS) -> list:
    step = max(1, len(items) // limit)
    return items[::step]


class _Axis:
    """Event time (epoch microseconds) to x pixels."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.span = first, max(1, last - first)

    def x(self, us: int) -> float:
        """The x pixel of an event time, clamped to the plot."""
        share = min(1.0, max(0.0, (us - self.first) / self.span))
        return round(LEFT + share * (WIDTH - LEFT - RIGHT), 1)


def _lanes(board: Scoreboard, truth: GroundTruth) -> list[str]:
    """Topics worth a lane: those with drift, anomaly episodes or alarms, drift first."""
    drift = sorted({d.topic for d in truth.drifts})
    others = sorted(({e.topic for e in truth.episodes} | {a.topic for a in board.alarms}) - set(drift))
    return drift + others


def timeline_svg(board: Scoreboard, truth: GroundTruth) -> str:
    """The timeline: per topic, drift windows and progress, anomaly episodes, and every detector's alarms."""
    lanes = _lanes(board, truth)
    times = [t for topic in lanes for t in truth.event_times(topic)[:1] + truth.event_times(topic)[-1:]]
    times += [a.event_time_us for a in board.alarms]
    axis = _Axis(min(times, default=0), max(times, default=1))
    colour = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(board.detectors)}
    height = TOP + len(lanes) * (LANE + GAP) + 40
    size = f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}"'
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" {size} font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        _legend(colour),
    ]
    for index, topic in enumerate(lanes):
        out.append(_lane(board, truth, topic, TOP + index * (LANE + GAP), axis, colour))
    out.append(_ticks(axis, TOP + len(lanes) * (LANE + GAP)))
    out.append("</svg>")
    return "\n".join(out)


def _legend(colour: dict[str, str]) -> str:
    items = [
        ('<rect x="0" y="-9" width="14" height="10" fill="#fdd49e"/>', "drift window"),
        ('<rect x="0" y="-9" width="14" height="10" fill="#fc8d59"/>', "ramp"),
        ('<line x1="0" y1="-4" x2="14" y2="-4" stroke="#b30000" stroke-width="2"/>', "drift progress"),
        ('<rect x="0" y="-9" width="14" height="10" fill="#756bb1"/>', "anomaly episode"),
    ]
    items += [
        (f'<line x1="7" y1="-10" x2="7" y2="2" stroke="{c}" stroke-width="2"/>', f"alarm: {n}")
        for n, c in colour.items()
    ]
    parts, x = [], LEFT
    for mark, text in items:
        parts.append(f'<g transform="translate({x},18)">{mark}<text x="18" y="0">{escape(text)}</text></g>')
        x += 30 + 7 * len(text)
    return "".join(parts)


def _lane(board: Scoreboard, truth: GroundTruth, topic: str, y: int, axis: _Axis, colour: dict[str, str]) -> str:
    x0, x1 = LEFT, WIDTH - RIGHT
    out = [
        f'<text x="{LEFT - 8}" y="{y + LANE / 2 + 4}" text-anchor="end">{escape(topic)}</text>',
        f'<rect x="{x0}" y="{y}" width="{x1 - x0}" height="{LANE}" fill="#f7f7f7" stroke="#ccc"/>',
    ]
    for episode, window_end in drift_windows(truth, topic):
        a, b, c = axis.x(episode.start_us), axis.x(episode.end_us), axis.x(window_end)
        out.append(f'<rect x="{a}" y="{y}" width="{max(c - a, 1)}" height="{LANE}" fill="#fdd49e"/>')
        out.append(f'<rect x="{a}" y="{y}" width="{max(b - a, 1)}" height="{LANE}" fill="#fc8d59" opacity="0.6"/>')
    points = _every(truth.progress.get(topic, []))
    if points:
        path = " ".join(f"{axis.x(t)},{round(y + LANE - 4 - p * (LANE - 8), 1)}" for t, p in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="#b30000" stroke-width="1.5"/>')
    episodes = _every([e for e in truth.episodes if e.topic == topic])
    for e in episodes:
        a, b = axis.x(e.start_us), axis.x(e.end_us)
        fill = "#54278f" if e.injected else "#756bb1"
        out.append(f'<rect x="{a}" y="{y + LANE - 10}" width="{max(b - a, 1)}" height="8" fill="{fill}"/>')
    alarms = _every([a for a in board.alarms if a.topic == topic])
    for alarm in alarms:
        x, top = axis.x(alarm.event_time_us), y if alarm.kind == "drift" else y + LANE - 22
        stroke = colour.get(alarm.detector, "#000")
        out.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{y + LANE}" stroke="{stroke}" stroke-width="1.5"/>')
    return "\n".join(out)


def _ticks(axis: _Axis, y: int) -> str:
    out = []
    for i in range(7):
        us = axis.first + axis.span * i // 6
        x = axis.x(us)
        label = datetime.fromtimestamp(us / 1e6, UTC).strftime("%H:%M:%S")
        out.append(f'<line x1="{x}" y1="{TOP}" x2="{x}" y2="{y}" stroke="#ddd"/>')
        anchor = "end" if i == 6 else "middle"  # the last label ends at the plot's edge, inside the page
        out.append(f'<text x="{x}" y="{y + 14}" text-anchor="{anchor}">{label}</text>')
    day = datetime.fromtimestamp(axis.first / 1e6, UTC).strftime("%Y-%m-%d")
    out.append(f'<text x="{LEFT}" y="{y + 30}">event time (UTC), from {day}</text>')
    return "\n".join(out)


def render_html(board: Scoreboard, truth: GroundTruth) -> str:
    """The page: title, timeline, and the terminal report's tables."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>datagen scoreboard</title>'
        "<style>body{font-family:sans-serif;margin:24px}pre{background:#f7f7f7;padding:12px;overflow:auto}</style>"
        "</head><body>\n<h1>datagen scoreboard</h1>\n"
        "<p>Drift windows (light: detection window, dark: ramp), drift progress (line, 0 to 1), anomaly episodes "
        "(bars; dark: injected) and alarms (full height: drift, short: anomaly), per topic, in event time. "
        "Definitions: docs/scoring.md.</p>\n"
        f"{timeline_svg(board, truth)}\n<h2>Scores</h2>\n<pre>{escape(render_text(board, truth))}</pre>\n"
        "</body></html>\n"
    )


def write_html(board: Scoreboard, truth: GroundTruth, path: Path) -> None:
    """Write the HTML page."""
    path.write_text(render_html(board, truth), encoding="utf-8")


def write_svg(board: Scoreboard, truth: GroundTruth, path: Path) -> None:
    """Write the timeline alone (README's image)."""
    path.write_text(timeline_svg(board, truth) + "\n", encoding="utf-8")
