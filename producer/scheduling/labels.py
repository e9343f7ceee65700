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

Both are label columns of the block's rows (see producer.domains.common.rows), which the encoders
write into each event's truth. Events of a block nearly always share phase and progress: both are
computed once per block when the block lies inside one phase and outside every moving drift window.
"""

from __future__ import annotations

import numpy as np

from producer.domains.common.rows import RowSet
from producer.scheduling.drift import DriftPlan
from producer.scheduling.timeline import Timeline


def phase_names(timeline: Timeline, taus: list[float]) -> str | list[str]:
    """The phase of each scenario instant; one name when they all fall in the same phase."""
    low, high = min(taus), max(taus)
    point = timeline.at(low)
    if high < point.phase_end:
        return point.phase.name
    return [timeline.at(tau).phase.name for tau in taus]


def relabel(rows: RowSet, timeline: Timeline, plan: DriftPlan, start_us: int, us_per_tau: float) -> RowSet:
    """`rows` with phase and drift progress label columns set from each row's own event time."""
    n = len(rows)
    if not n:
        return rows
    taus = (rows.time_us - start_us) / us_per_tau
    phases = phase_names(timeline, taus.tolist())
    phase = np.full(n, phases, dtype=object) if isinstance(phases, str) else np.array(phases, dtype=object)
    drift = np.empty(n, dtype=np.float64)
    low, high = float(taus.min()), float(taus.max())
    for stream, at in _positions_by_stream(rows):
        if plan.steady(stream, low, high):
            drift[at] = plan.drift_progress(stream, low)
        else:
            drift[at] = plan.drift_progress_many(stream, taus[at].tolist())
    labels = {**rows.labels(), "phase": phase, "drift": drift}
    return RowSet(rows.parts, rows.pid, rows.row, rows.time_us, labels)


def _positions_by_stream(rows: RowSet) -> list[tuple[str, np.ndarray | slice]]:
    """Each stream among the rows with their positions (a slice when one stream has them all)."""
    streams: dict[str, list[np.ndarray]] = {}
    for part, at in rows.groups():
        streams.setdefault(part.stream, []).append(at)
    if len(streams) == 1:
        return [(next(iter(streams)), slice(None))]
    return [(stream, np.concatenate(ats)) for stream, ats in streams.items()]
