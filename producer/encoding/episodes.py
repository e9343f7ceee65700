"""Ground-truth episodes: anomaly episodes (labelled events of one entity and pattern, summarised once
they end) and drift episodes (one per drift block and pass, announced when its window starts)."""

from __future__ import annotations

import itertools
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    topics: list[str] = field(default_factory=list)  # streams of its events, in order of first appearance


Ident = tuple[str, str, str]  # (stream, key, pattern), or ("", episode_id, pattern) for a cross-topic episode


class EpisodeTracker:
    """Groups anomalous events into episodes and closes one after a quiet gap.

    Events whose truth names an episode_id (an account-takeover chain, on three topics) group by that
    id; the others by (stream, key, pattern). A chain's episode is reported under its first event's
    stream and key, with every stream it touched in `topics`.
    """

    def __init__(self, gap_us: int = EPISODE_GAP_US, max_open: int = MAX_OPEN) -> None:
        self.gap_us = gap_us
        self.max_open = max_open
        self._open: OrderedDict[Ident, _Open] = OrderedDict()
        self._where: dict[Ident, tuple[str, str]] = {}  # a chain's first stream and key
        self._seen = 0

    def observe(self, events: list[Event]) -> list[tuple[str, str, str, _Open]]:
        """Feed a batch; returns the episodes that ended."""
        closed: list[tuple[str, str, str, _Open]] = []
        opened = self._open
        for event in events:
            truth = event.value["truth"]
            if not truth["is_anomaly"] or truth.get("disorder") == "duplicate":
                continue
            pattern = truth["pattern"] or "anomaly"
            chain = truth.get("episode_id")
            ident = ("", chain, pattern) if chain else (event.stream, event.key, pattern)
            current = opened.get(ident)
            if current is not None and event.time_us - current.end_us <= self.gap_us:
                current.end_us = max(current.end_us, event.time_us)
                current.count += 1
                if event.stream not in current.topics:
                    current.topics.append(event.stream)
                opened.move_to_end(ident)
                continue
            if current is not None:
                closed.append(self._close(ident))
            opened[ident] = _Open(event.time_us, event.time_us, 1, truth, [event.stream])
            if chain:
                self._where[ident] = (event.stream, event.key)
            if len(opened) > self.max_open:
                closed.append(self._close(next(iter(opened))))
        if events:
            now = events[-1].time_us
            while opened:
                ident, first = next(iter(opened.items()))
                if now - first.end_us <= self.gap_us:
                    break
                closed.append(self._close(ident))
        return closed

    def _close(self, ident: Ident) -> tuple[str, str, str, _Open]:
        """Take an open episode out: (stream, key, pattern, episode), a chain's stream and key its first event's."""
        episode = self._open.pop(ident)
        stream, key = self._where.pop(ident, ident[:2])
        return stream, key, ident[2], episode

    def finish(self) -> list[tuple[str, str, str, _Open]]:
        """Close every open episode (end of run)."""
        return [self._close(ident) for ident in list(self._open)]


def episode_record(topic: str, key: str, pattern: str, episode: _Open, prefix: str = "") -> tuple[str, dict[str, Any]]:
    """The episode's id (a chain's own, else derived from where it was) and its ground-truth value."""
    episode_id = episode.truth.get("episode_id") or str(
        uuid.uuid5(_NAMESPACE, f"{topic}|{key}|{pattern}|{episode.start_us}")
    )
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
            "topics": [prefix + stream for stream in episode.topics],
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
            "episode_id": None,
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
