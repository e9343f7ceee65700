"""The ground truth `datagen score` scores against, gathered from `<prefix>ground-truth` records."""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from producer.errors import ConfigError
from producer.scoring.alarms import time_us

PROGRESS_EVERY_US = 1_000_000  # the timeline keeps one drift-progress point per topic per event-second


class Label(NamedTuple):
    """One event's truth: its topic, event time, pattern (None when normal) and entity key."""

    topic: str
    time_us: int
    pattern: str | None
    entity_key: str


@dataclass(frozen=True)
class DriftWindow:
    """One drift episode (a drift block in one pass) on one topic, in event time."""

    episode_id: str
    topic: str
    stream: str
    start_us: int
    end_us: int  # the end of the block's move from base to target (the ramp's end)
    pass_index: int


@dataclass(frozen=True)
class AnomalyEpisode:
    """One anomaly episode: the anomalous events of one entity and pattern on one topic, start to end."""

    episode_id: str
    topic: str
    entity_key: str
    pattern: str
    start_us: int
    end_us: int
    event_count: int
    injected: bool


@dataclass
class GroundTruth:
    """Every label, drift episode and anomaly episode read so far; the scorer's answer key."""

    labels: dict[str, Label] = field(default_factory=dict)  # event_id -> label
    times: dict[str, list[int]] = field(default_factory=dict)  # topic -> event times, kept sorted on demand
    progress: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # topic -> sampled drift progress
    drifts: list[DriftWindow] = field(default_factory=list)
    episodes: list[AnomalyEpisode] = field(default_factory=list)
    _sorted: set[str] = field(default_factory=set)

    def add(self, record: Any, where: str) -> None:
        """Take one decoded ground-truth record; ConfigError naming it and the field if it is malformed."""
        if not isinstance(record, dict) or record.get("kind") not in ("event", "episode", "drift"):
            found = record.get("kind") if isinstance(record, dict) else record
            raise ConfigError(where, "kind", "event, episode or drift", found)
        topic = _text(record, "topic", where)
        if record["kind"] == "event":
            self._add_event(record, topic, where)
        elif record["kind"] == "episode":
            self._add_episode(record, topic, where)
        else:
            self._add_drift(record, topic, where)

    def _add_event(self, record: dict[str, Any], topic: str, where: str) -> None:
        truth = record.get("truth")
        if not isinstance(truth, dict) or not isinstance(truth.get("is_anomaly"), bool):
            raise ConfigError(where, "truth.is_anomaly", "a boolean", truth)
        stamp = time_us(record.get("timestamp"), where, "timestamp")
        pattern = (truth.get("pattern") or "anomaly") if truth["is_anomaly"] else None
        event_id = record.get("event_id")
        if isinstance(event_id, uuid.UUID):  # the Avro deserializer reads logicalType uuid as UUID
            record = {**record, "event_id": str(event_id)}
        self.labels[_text(record, "event_id", where)] = Label(topic, stamp, pattern, str(record.get("entity_key")))
        self.times.setdefault(topic, []).append(stamp)
        self._sorted.discard(topic)
        points = self.progress.setdefault(topic, [])
        if not points or abs(stamp - points[-1][0]) >= PROGRESS_EVERY_US:
            points.append((stamp, float(truth.get("drift_progress") or 0.0)))

    def _add_episode(self, record: dict[str, Any], topic: str, where: str) -> None:
        episode = record.get("episode")
        if not isinstance(episode, dict):
            raise ConfigError(where, "episode", "an episode record", episode)
        truth = record.get("truth") or {}
        self.episodes.append(
            AnomalyEpisode(
                episode_id=_text(episode, "episode_id", where),
                topic=topic,
                entity_key=str(record.get("entity_key")),
                pattern=_text(episode, "pattern", where),
                start_us=time_us(episode.get("start"), where, "episode.start"),
                end_us=time_us(episode.get("end"), where, "episode.end"),
                event_count=int(episode.get("event_count") or 0),
                injected=bool(isinstance(truth, dict) and truth.get("injected")),
            )
        )

    def _add_drift(self, record: dict[str, Any], topic: str, where: str) -> None:
        drift = record.get("drift")
        if not isinstance(drift, dict):
            raise ConfigError(where, "drift", "a drift record", drift)
        self.drifts.append(
            DriftWindow(
                episode_id=_text(drift, "episode_id", where),
                topic=topic,
                stream=_text(drift, "stream", where),
                start_us=time_us(drift.get("start"), where, "drift.start"),
                end_us=time_us(drift.get("end"), where, "drift.end"),
                pass_index=int(drift.get("pass_index") or 0),
            )
        )

    def event_times(self, topic: str) -> list[int]:
        """The event times of a topic's labelled events, ascending."""
        times = self.times.get(topic, [])
        if topic not in self._sorted:
            times.sort()
            self._sorted.add(topic)
        return times

    def events_between(self, topic: str, start_us: int, end_us: int) -> int:
        """How many labelled events of `topic` have an event time in [start_us, end_us]."""
        times = self.event_times(topic)
        return bisect.bisect_right(times, end_us) - bisect.bisect_left(times, start_us)

    def span(self, topic: str) -> tuple[int, int] | None:
        """The first and last event time of a topic's labelled events (None if it has none)."""
        times = self.event_times(topic)
        return (times[0], times[-1]) if times else None


def _text(record: dict[str, Any], name: str, where: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value:
        raise ConfigError(where, name, "a non-empty string", value)
    return value
