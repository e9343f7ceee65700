"""Per-event labels: `truth.phase` and `truth.drift_progress` from each event's own timestamp.

A generator labels a block with the phase and drift progress of the block's first arrival, and
follow-ups (a completion after its initiation, a circle's contribution on the transactions topic)
keep the label of the arrival that drew them. `relabel` rewrites both fields from the event's own
event time, so they are exact for every event on every topic:

- `truth.phase`: the phase containing the event's scenario instant
  tau = (time_us - clock start) / (1e6 x clock.speed), resolved as `Timeline.at(tau)` does
  (repeats included; an instant at a phase's end belongs to the next phase).
- `truth.drift_progress`: the progress at tau of the drift acting on the stream whose topic the
  event is on (`Event.stream`): the largest p(t) over that stream's drift blocks, each rounded to
  4 decimals as the effective parameters are (`DriftPlan.drift_progress`). So a
  fintech.transactions event emitted by fintech.circles carries the fintech.transactions drift,
  like every other event on that topic: a detector reading one topic scores against one curve.

Events of a block nearly always share phase and progress: both are computed once per block when
the block lies inside one phase and outside every moving drift window, and a truth dict is copied
only for the events whose label changes (generators share one truth dict across a block).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from producer.domains.common.base import EVENT_TIME, Event
from producer.scheduling.drift import DriftPlan
from producer.scheduling.timeline import Timeline


def phase_names(timeline: Timeline, taus: list[float]) -> str | list[str]:
    """The phase of each scenario instant; one name when they all fall in the same phase."""
    low, high = min(taus), max(taus)
    point = timeline.at(low)
    if high < point.phase_end:
        return point.phase.name
    return [timeline.at(tau).phase.name for tau in taus]


def drift_values(plan: DriftPlan, stream: str, taus: list[float]) -> float | list[float]:
    """The drift progress of `stream` at each instant; one value when it cannot move among them."""
    low, high = min(taus), max(taus)
    if plan.steady(stream, low, high):
        return plan.drift_progress(stream, low)
    return plan.drift_progress_many(stream, taus)


def relabel(events: list[Event], timeline: Timeline, plan: DriftPlan, start_us: int, us_per_tau: float) -> list[Event]:
    """`events` with truth.phase and truth.drift_progress set from each event's own time (copy on write)."""
    if not events:
        return events
    times = np.fromiter(map(EVENT_TIME, events), dtype=np.int64, count=len(events))
    taus: list[float] = ((times - start_us) / us_per_tau).tolist()
    phases = phase_names(timeline, taus)
    progress = _progress(events, plan, taus)
    out = events
    copies: dict[tuple[int, str, float], dict[str, Any]] = {}
    for i, event in enumerate(events):
        truth = event.value.get("truth")
        phase = phases if isinstance(phases, str) else phases[i]
        value = progress[event.stream] if isinstance(progress, dict) else progress[i]
        if truth is None or (truth["phase"] == phase and truth["drift_progress"] == value):
            continue
        key = (id(truth), phase, value)
        fresh = copies.get(key)
        if fresh is None:
            fresh = copies[key] = {**truth, "phase": phase, "drift_progress": value}
        if out is events:
            out = list(events)
        out[i] = event._replace(value={**event.value, "truth": fresh})
    return out


def _progress(events: list[Event], plan: DriftPlan, taus: list[float]) -> dict[str, float] | list[float]:
    """Drift progress per event: one value per stream when no stream's drift moves within the block."""
    low, high = min(taus), max(taus)
    streams = {e.stream for e in events}
    if all(plan.steady(stream, low, high) for stream in streams):
        return {stream: plan.drift_progress(stream, low) for stream in streams}
    by_stream: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        by_stream.setdefault(event.stream, []).append(i)
    progress = [0.0] * len(events)
    for stream, indices in by_stream.items():
        values = drift_values(plan, stream, [taus[i] for i in indices])
        for j, i in enumerate(indices):
            progress[i] = values if isinstance(values, float) else values[j]
    return progress
