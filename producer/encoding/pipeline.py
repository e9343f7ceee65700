"""From events to records: route labels, pick topics and keys, encode values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Literal

import numpy as np

from producer.domains.common.base import EVENT_KEY, EVENT_STREAM, EVENT_TIME, EVENT_VALUE, Event, StreamSpec
from producer.domains.common.columns import Part
from producer.domains.common.rows import RowSet
from producer.encoding.avro import Encode
from producer.encoding.delayed_labels import LABELS, Label, LabelQueue
from producer.encoding.episodes import DriftSchedule, EpisodeTracker, drift_record, episode_record
from producer.encoding.jsonl import encode_json
from producer.encoding.oracle import EXPECTED_SCHEMA, Oracles
from producer.encoding.part_records import PartRecords
from producer.encoding.schemas import GROUND_TRUTH_SCHEMA, LABELS_SCHEMA, schema_text
from producer.sinks.base import Record, TopicInfo

LabelMode = Literal["inline", "topic", "off"]
Format = Literal["avro", "jsonl"]
GROUND_TRUTH = "ground-truth"
_NEVER = 1 << 62  # an event time no event reaches

# (topic, schema file, event_type -> payload record name or None) -> encoder of event values
EncoderFactory = Callable[[str, str, dict[str, str] | None], Encode]
_NEW_RECORD = tuple.__new__  # Record instances from plain tuples without its Python-level __new__


@dataclass(frozen=True)
class _Route:
    topic: str
    encode: Callable[[dict[str, Any]], bytes]


class Encoding:
    """Turns batches of events into records for one output format and label mode."""

    def __init__(
        self,
        specs: list[StreamSpec],
        fmt: Format,
        labels: LabelMode,
        prefix: str,
        avro_factory: EncoderFactory | None = None,
        drifts: DriftSchedule | None = None,
        delayed: LabelQueue | None = None,
        oracles: Oracles | None = None,
    ) -> None:
        self.fmt, self.labels, self.prefix = fmt, labels, prefix
        self.specs = {spec.name: spec for spec in specs}
        self.ground_truth_topic = prefix + GROUND_TRUTH
        self._avro_factory = avro_factory
        self._routes: dict[str, _Route] = {}
        self._code: dict[str, int] = {}  # stream -> its index among the routes
        self._topics = np.empty(0, dtype=object)  # route index -> topic
        self._truth_encode: Callable[[dict[str, Any]], bytes] | None = None
        self._parts: PartRecords | None = None  # Avro values read from Parts' columns (labels inline or off)
        self.episodes = EpisodeTracker()
        # drift episodes are announced on the ground-truth topic as event time reaches their start
        self.drifts = drifts if labels == "topic" else None
        # delayed fraud labels (scenario delayed_labels) go to <prefix>labels whatever the label mode
        self.delayed = delayed
        self.labels_topic = prefix + LABELS
        self._label_encode: Callable[[dict[str, Any]], bytes] | None = None
        self.oracles = oracles  # the `oracle:` answer key, on <prefix>expected (producer/encoding/oracle.py)
        self._expected_encode: Callable[[dict[str, Any]], bytes] | None = None

    def topic(self, stream: str) -> str:
        """The topic a stream is written to."""
        return self.prefix + stream

    def topics(self) -> list[TopicInfo]:
        """Every topic this encoding writes, with schema text for Avro files."""
        avro = self.fmt == "avro"
        out = [TopicInfo(self.topic(s.name), schema_text(s.schema) if avro else None) for s in self.specs.values()]
        if self.labels == "topic":
            out.append(TopicInfo(self.ground_truth_topic, schema_text(GROUND_TRUTH_SCHEMA) if avro else None))
        if self.delayed is not None:
            out.append(TopicInfo(self.labels_topic, schema_text(LABELS_SCHEMA) if avro else None))
        if self.oracles is not None:
            out.append(TopicInfo(self.oracles.topic, schema_text(EXPECTED_SCHEMA) if avro else None))
        return out

    def derived_topics(self) -> set[str]:
        """Topics of records derived from the events (ground truth, delayed labels, oracle answers), not events."""
        return {info.name for info in self.topics()} - {self.topic(name) for name in self.specs}

    def prepare(self) -> None:
        """Build every topic's encoder up front (registers Avro schemas, may wait for the registry)."""
        for spec in self.specs.values():
            self._routes[spec.name] = _Route(
                self.topic(spec.name), self._encoder(self.topic(spec.name), spec.schema, spec.event_types)
            )
        self._code = {name: code for code, name in enumerate(self._routes)}
        self._topics = np.array([route.topic for route in self._routes.values()], dtype=object)
        if self.fmt == "avro" and self.labels != "topic":
            self._parts = PartRecords(list(self.specs.values()), inline=self.labels == "inline")
        if self.labels == "topic":
            self._truth_encode = self._encoder(self.ground_truth_topic, GROUND_TRUTH_SCHEMA)
        if self.delayed is not None:
            self._label_encode = self._encoder(self.labels_topic, LABELS_SCHEMA)
        if self.oracles is not None:
            self._expected_encode = self._encoder(self.oracles.topic, EXPECTED_SCHEMA)

    def _encoder(
        self, topic: str, schema: str, event_types: dict[str, str] | None = None
    ) -> Callable[[dict[str, Any]], bytes]:
        """A topic's value encoder: JSON lines, or Avro of its schema file (a stream's, with its event types)."""
        if self.fmt == "jsonl":
            return encode_json
        assert self._avro_factory is not None
        return self._avro_factory(topic, schema, event_types)

    def encode(self, events: list[Event]) -> list[Record]:
        """Records for a batch of events, in the batch's order (label records after their event)."""
        if not self._routes:
            self.prepare()
        if self.labels != "topic":
            return self._encode_columns(events)
        routes = self._routes
        out: list[Record] = []
        append = out.append
        drifts = self.drifts
        drift_due = drifts.next_us if drifts is not None else _NEVER
        for event in events:
            if event.time_us >= drift_due:
                assert drifts is not None
                out.extend(self._drift_records(drifts, event.time_us))
                drift_due = drifts.next_us
            route = routes[event.stream]
            truth = event.value["truth"]
            value = {**event.value, "truth": None}
            append(Record(route.topic, event.key.encode(), route.encode(value), event.time_us // 1000))
            append(self._truth_record(event, route.topic, truth))
        out.extend(self._episode_records(self.episodes.observe(events)))
        return out

    def encode_rows(self, rows: RowSet) -> list[Record]:
        """Records for a batch of rows, then the oracle windows it closed and the delayed labels it made due."""
        records = self._encode_rows(rows)
        if self.oracles is not None and len(rows):
            records.extend(self._expected_records(self.oracles.observe(rows)))
        if self.delayed is not None:
            records.extend(self._label_records(self.delayed.observe(rows)))
        return records

    def _label_records(self, labels: list[Label]) -> list[Record]:
        """Label records keyed by the labelled event's key, timestamped at their label time."""
        encode = self._label_encode
        assert encode is not None
        topic = self.labels_topic
        return [Record(topic, x.entity_key.encode(), encode(x.value()), x.label_time_us // 1000) for x in labels]

    def _expected_records(self, results: list[dict[str, Any]]) -> list[Record]:
        """Expected-topic records: keyed by group, timestamped with the watermark at closing."""
        assert self.oracles is not None and self._expected_encode is not None
        topic, encode = self.oracles.topic, self._expected_encode
        return [Record(topic, r["group"].encode(), encode(r), r["watermark"]) for r in results]

    def _encode_rows(self, rows: RowSet) -> list[Record]:
        """Records for a batch of rows: the same records, in the same order, as encode(rows.events()).

        Avro without label records reads column Parts directly (producer.encoding.part_records);
        other parts (Events from generators that build them) and other modes go through encode().
        """
        if not self._routes:
            self.prepare()
        parts = self._parts
        if parts is None or not len(rows):
            return self.encode(rows.events())
        columnar: list[tuple[Part, np.ndarray]] = []
        other: list[np.ndarray] = []
        for part, at in rows.groups():
            if isinstance(part, Part) and parts.columnar(part, rows, at, self._routes[part.stream].encode):
                columnar.append((part, at))
            else:
                other.append(at)
        n = len(rows)
        topics = np.empty(n, dtype=object)
        encoded, keys = parts.records(columnar, rows, n) if columnar else (np.empty(n, dtype=object), topics.copy())
        times = rows.time_us // 1000
        for part, at in columnar:
            topics[at] = self._routes[part.stream].topic
        if other:
            at = np.sort(np.concatenate(other))
            records = self._encode_columns(rows.take(at).events())
            for column, field in zip((topics, keys, encoded, times), zip(*records), strict=True):
                column[at] = field
        columns = zip(topics.tolist(), keys.tolist(), encoded.tolist(), times.tolist())
        return list(map(_NEW_RECORD, repeat(Record), columns))

    def _encode_columns(self, events: list[Event]) -> list[Record]:
        """Records of a batch without label records: each stream's values encoded as one block."""
        if not events:
            return []
        codes = np.fromiter(map(self._code.__getitem__, map(EVENT_STREAM, events)), dtype=np.intp, count=len(events))
        values = list(map(EVENT_VALUE, events))
        if self.labels == "off":
            values = [{**value, "truth": None} for value in values]
        encoded = np.empty(len(events), dtype=object)
        for code, route in enumerate(self._routes.values()):
            at = np.flatnonzero(codes == code)
            if len(at):
                encoded[at] = list(map(route.encode, [values[i] for i in at.tolist()]))
        times = np.fromiter(map(EVENT_TIME, events), dtype=np.int64, count=len(events)) // 1000
        keys = map(str.encode, map(EVENT_KEY, events))
        columns = zip(self._topics[codes].tolist(), keys, encoded.tolist(), times.tolist())
        return list(map(_NEW_RECORD, repeat(Record), columns))

    def finish(self) -> list[Record]:
        """Records still owed at the end of a run: episodes not ended, windows still open, labels not yet due."""
        out = self._episode_records(self.episodes.finish()) if self.labels == "topic" else []
        if self.oracles is not None:
            out.extend(self._expected_records(self.oracles.finish()))
        if self.delayed is not None:
            out.extend(self._label_records(self.delayed.finish()))
        return out

    def _drift_records(self, drifts: DriftSchedule, time_us: int) -> list[Record]:
        """Records of the drift episodes started by `time_us` (of the streams this encoding writes)."""
        assert self._truth_encode is not None
        out = []
        for episode in drifts.due(time_us):
            if episode.stream not in self.specs:
                continue
            value = drift_record(self.topic(episode.stream), episode)
            key = episode.episode_id.encode()
            out.append(Record(self.ground_truth_topic, key, self._truth_encode(value), episode.start_us // 1000))
        return out

    def _episode_records(self, closed: list) -> list[Record]:
        out = []
        assert self._truth_encode is not None
        for stream, key, pattern, episode in closed:
            episode_id, value = episode_record(self.topic(stream), key, pattern, episode, self.prefix)
            out.append(
                Record(
                    self.ground_truth_topic, episode_id.encode(), self._truth_encode(value), episode.start_us // 1000
                )
            )
        return out

    def _truth_record(self, event: Event, topic: str, truth: dict[str, Any]) -> Record:
        value = event.value
        label = {
            "kind": "event",
            "event_id": value["event_id"],
            "topic": topic,
            "event_type": value["event_type"],
            "timestamp": value["timestamp"],
            "entity_key": event.key,
            "truth": truth,
            "episode": None,
            "drift": None,
        }
        assert self._truth_encode is not None
        return Record(
            self.ground_truth_topic, value["event_id"].encode(), self._truth_encode(label), event.time_us // 1000
        )
