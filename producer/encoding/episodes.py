"""Ground-truth episodes: anomaly episodes (labelled events of one entity and pattern, summarised once
they end) and drift episodes (one per drift block and pass, announced when its window starts)."""

from __future__ import annotations

import itertools
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from producer.domains.common.base import DomainParams, Event, to_datetime
from producer.scenario.model import EVENT_TIME_LIMIT_US, DriftBlock, Scenario
from producer.scheduling.drift import DriftPlan, get_path

EPISODE_GAP_US = 10 * 60 * 1_000_000  # an entity quiet for 10 event-minutes ends its episode
MAX_OPEN = 100_000  # bound on open episodes; the oldest is closed early beyond it
_NAMESPACE = uuid.UUID("6f1c2a34-8d0e-4b5c-9a7f-3e2d1c0b9a88")


@dataclass
class _Open:
    start_us: int
    end_us: int
    count: int
    truth: dict[str, Any]


class EpisodeTracker:
    """Groups anomalous events by (stream, key, pattern) and closes an episode after a quiet gap."""

    def __init__(self, gap_us: int = EPISODE_GAP_US, max_open: int = MAX_OPEN) -> None:
        self.gap_us = gap_us
        self.max_open = max_open
        self._open: OrderedDict[tuple[str, str, str], _Open] = OrderedDict()
        self._seen = 0

    def observe(self, events: list[Event]) -> list[tuple[str, str, str, _Open]]:
        """Feed a batch; returns the episodes that ended."""
        closed: list[tuple[str, str, str, _Open]] = []
        opened = self._open
        for event in events:
            truth = event.value["truth"]
            if not truth["is_anomaly"] or truth.get("disorder") == "duplicate":
                continue
            ident = (event.stream, event.key, truth["pattern"] or "anomaly")
            current = opened.get(ident)
            if current is not None and event.time_us - current.end_us <= self.gap_us:
                current.end_us = max(current.end_us, event.time_us)
                current.count += 1
                opened.move_to_end(ident)
                continue
            if current is not None:
                closed.append((*ident, opened.pop(ident)))
            opened[ident] = _Open(event.time_us, event.time_us, 1, truth)
            if len(opened) > self.max_open:
                closed.append((*(old := next(iter(opened))), opened.pop(old)))
        if events:
            now = events[-1].time_us
            while opened:
                ident, first = next(iter(opened.items()))
                if now - first.end_us <= self.gap_us:
                    break
                closed.append((*ident, opened.pop(ident)))
        return closed

    def finish(self) -> list[tuple[str, str, str, _Open]]:
        """Close every open episode (end of run)."""
        closed = [(*ident, episode) for ident, episode in self._open.items()]
        self._open.clear()
        return closed


def episode_record(topic: str, key: str, pattern: str, episode: _Open) -> tuple[str, dict[str, Any]]:
    """The episode's id and its ground-truth value."""
    episode_id = str(uuid.uuid5(_NAMESPACE, f"{topic}|{key}|{pattern}|{episode.start_us}"))
    value = {
        "kind": "episode",
        "event_id": None,
        "topic": topic,
        "event_type": None,
        "timestamp": to_datetime(episode.start_us),
        "entity_key": key,
        "truth": episode.truth,
        "episode": {
            "episode_id": episode_id,
            "pattern": pattern,
            "start": to_datetime(episode.start_us),
            "end": to_datetime(episode.end_us),
            "event_count": episode.count,
        },
        "drift": None,
    }
    return episode_id, value


@dataclass(frozen=True)
class DriftEpisode:
    """One drift block in one pass of the phases, placed in event time."""

    episode_id: str
    stream: str
    pass_index: int
    start_us: int
    end_us: int
    block: DriftBlock
    params: list[dict[str, Any]]  # {path, from, to} per numeric leaf
    truth: dict[str, Any]  # the label at the window's start (its phase and the stream's progress then)


def param_moves(base: Any, target: Any, path: str) -> list[dict[str, Any]]:
    """{path, from, to} for each numeric leaf a drift target moves (tables key by key, lists item by item)."""
    if isinstance(target, dict):
        base_table = base if isinstance(base, dict) else {}
        return [
            m for key, value in target.items() for m in param_moves(base_table.get(key, 0.0), value, f"{path}.{key}")
        ]
    if isinstance(target, list) and isinstance(base, list) and len(base) == len(target):
        return [m for i, (a, b) in enumerate(zip(base, target)) for m in param_moves(a, b, f"{path}.{i}")]
    if isinstance(base, (int, float)) and isinstance(target, (int, float)):
        return [{"path": path, "from": float(base), "to": float(target)}]
    return []  # no driftable parameter has another kind of leaf (interpolate switches those at p = 0.5)


class DriftSchedule:
    """Every drift block of a scenario, pass after pass, in order of its window's start in event time."""

    def __init__(self, scenario: Scenario, base: dict[str, DomainParams]) -> None:
        self.plan = DriftPlan(scenario, base)
        self.scenario = scenario.name
        self.start_us = scenario.clock.start_us
        self.us_per_tau = scenario.clock.speed * 1_000_000
        self._windows = sorted(
            (
                (item.start, order, stream, index, item)
                for order, (stream, items) in enumerate(self.plan.drifts.items())
                for index, item in enumerate(items)
            ),
            key=lambda w: (w[0], w[1], w[3]),
        )
        self._episodes = self._all()
        self._head = next(self._episodes, None)

    @property
    def next_us(self) -> int:
        """Event time at which the next episode starts (past any event time when none is left)."""
        return EVENT_TIME_LIMIT_US + 1 if self._head is None else self._head.start_us

    def due(self, time_us: int) -> list[DriftEpisode]:
        """The episodes starting at or before `time_us` not handed out yet, in start order."""
        out = []
        while self._head is not None and self._head.start_us <= time_us:
            out.append(self._head)
            self._head = next(self._episodes, None)
        return out

    def _all(self) -> Iterator[DriftEpisode]:
        if not self._windows:
            return
        timeline = self.plan.timeline
        for pass_index in itertools.count() if timeline.passes is None else range(timeline.passes):
            offset = pass_index * timeline.cycle
            for start, _, stream, index, item in self._windows:
                # the same truncation the sources apply to arrival instants
                start_us = self.start_us + int((offset + start) * self.us_per_tau)
                if start_us > EVENT_TIME_LIMIT_US:
                    return
                yield self._episode(stream, index, item, pass_index, offset, start_us)

    def _episode(
        self, stream: str, index: int, item: Any, pass_index: int, offset: float, start_us: int
    ) -> DriftEpisode:
        block = item.block
        base = self.plan.base[stream].model_dump()
        params = [m for path, target in block.params.items() for m in param_moves(get_path(base, path), target, path)]
        tau = offset + item.start
        truth = {
            "is_anomaly": False,
            "pattern": None,
            "risk_level": None,
            "scenario": self.scenario,
            "phase": self.plan.timeline.at(tau).phase.name,
            "drift_progress": self.plan.drift_progress(stream, tau),
            "disorder": None,
            "delay_ms": 0,
            "injected": False,
        }
        episode_id = str(uuid.uuid5(_NAMESPACE, f"drift|{self.scenario}|{stream}|{index}|{pass_index}"))
        end_us = min(self.start_us + int((offset + item.end) * self.us_per_tau), EVENT_TIME_LIMIT_US)
        return DriftEpisode(episode_id, stream, pass_index, start_us, end_us, block, params, truth)


def drift_record(topic: str, episode: DriftEpisode) -> dict[str, Any]:
    """The ground-truth value announcing a drift episode."""
    curve = episode.block.curve
    curve_params = {
        name: float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
        for name, value in curve.model_dump().items()
        if name != "curve"
    }
    return {
        "kind": "drift",
        "event_id": None,
        "topic": topic,
        "event_type": None,
        "timestamp": to_datetime(episode.start_us),
        "entity_key": episode.stream,
        "truth": episode.truth,
        "episode": None,
        "drift": {
            "episode_id": episode.episode_id,
            "stream": episode.stream,
            "params": episode.params,
            "curve": curve.curve,
            "curve_params": curve_params,
            "start": to_datetime(episode.start_us),
            "end": to_datetime(episode.end_us),
            "persist": episode.block.persist,
            "pass_index": episode.pass_index,
        },
    }
