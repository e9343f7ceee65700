"""Anomaly episodes: consecutive labelled events of one entity and pattern, summarised once they end."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from producer.domains.base import Event, to_datetime

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
    }
    return episode_id, value
