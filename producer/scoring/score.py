"""The scoreboard's arithmetic: alarms against the ground truth, per detector (definitions in docs/scoring.md).

Drift (Basseville & Nikiforov 1993; Gama et al. 2014): a drift episode's detection window runs from its
start to the start of the next drift episode on the same topic, else to the topic's last event. The
first drift alarm of a detector on that topic inside the window detects it; the delay is that alarm's
event time minus the episode start, in seconds and in events of the topic. Drift alarms outside every
window are false alarms, counted per event-hour outside the windows.

Anomalies: event-level. A detector's alarmed events are the distinct event ids of its anomaly alarms.
For pattern P on topic T, true positives are alarmed events of P, false positives are alarmed normal
events of T (a normal event belongs to no pattern, so every pattern of T is charged with them), false
negatives are unalarmed events of P. Time to detect an episode: the event time of its first alarmed
event minus the episode's start.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from producer.scoring.alarms import Alarm
from producer.scoring.truth import AnomalyEpisode, DriftWindow, GroundTruth

US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True)
class DriftResult:
    """One detector on one drift episode."""

    detector: str
    episode: DriftWindow
    window_end_us: int  # where its detection window ends (next episode on the topic, or the topic's last event)
    alarm_us: int | None  # the first drift alarm in the window (None: missed)

    @property
    def detected(self) -> bool:
        """Whether a drift alarm fell in the detection window."""
        return self.alarm_us is not None

    @property
    def delay_s(self) -> float | None:
        """Detection delay in event-seconds from the episode's start."""
        return None if self.alarm_us is None else (self.alarm_us - self.episode.start_us) / 1e6


@dataclass(frozen=True)
class FalseAlarms:
    """One detector's drift alarms outside every drift window of one topic."""

    detector: str
    topic: str
    count: int
    hours: float  # event-hours of the topic's span outside its drift windows

    @property
    def per_hour(self) -> float | None:
        """False alarms per event-hour outside drift (None when the topic spent no time outside drift)."""
        return self.count / self.hours if self.hours > 0 else None


@dataclass(frozen=True)
class PatternResult:
    """One detector's event-level precision and recall on one anomaly pattern of one topic."""

    detector: str
    topic: str
    pattern: str
    events: int  # anomalous events of the pattern
    true_positives: int
    false_positives: int  # alarmed normal events of the topic

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP); None when nothing was alarmed."""
        alarmed = self.true_positives + self.false_positives
        return self.true_positives / alarmed if alarmed else None

    @property
    def recall(self) -> float | None:
        """TP / events of the pattern; None when the pattern has none."""
        return self.true_positives / self.events if self.events else None

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall (0 when either is 0, None when either is undefined)."""
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class EpisodeResult:
    """One detector on one anomaly episode: when its first alarmed event came, if any."""

    detector: str
    episode: AnomalyEpisode
    first_alarm_us: int | None

    @property
    def time_to_detect_s(self) -> float | None:
        """Event-seconds from the episode's start to its first alarmed event."""
        return None if self.first_alarm_us is None else (self.first_alarm_us - self.episode.start_us) / 1e6


@dataclass
class Scoreboard:
    """Every score of every detector."""

    detectors: list[str] = field(default_factory=list)
    drift: list[DriftResult] = field(default_factory=list)
    false_alarms: list[FalseAlarms] = field(default_factory=list)
    patterns: list[PatternResult] = field(default_factory=list)
    episodes: list[EpisodeResult] = field(default_factory=list)
    unmatched: dict[str, int] = field(default_factory=dict)  # detector -> anomaly alarms on unknown event ids
    alarms: list[Alarm] = field(default_factory=list)

    def false_alarm_rate(self, detector: str) -> float | None:
        """A detector's false alarms per event-hour outside drift, over every topic it monitors."""
        rows = [row for row in self.false_alarms if row.detector == detector]
        hours = sum(row.hours for row in rows)
        return sum(row.count for row in rows) / hours if hours > 0 else None


Watch = set[tuple[str, str, str]]  # (detector, topic, kind): scored there even without an alarm


def monitored(alarms: list[Alarm], kind: str, watch: Watch) -> dict[str, set[str]]:
    """Detector -> the topics it is scored on for `kind`: those of its alarms of that kind, plus --watch."""
    out: dict[str, set[str]] = defaultdict(set)
    for alarm in alarms:
        if alarm.kind == kind:
            out[alarm.detector].add(alarm.topic)
    for detector, topic, watched in watch:
        if watched == kind:
            out[detector].add(topic)
    return out


def score(truth: GroundTruth, alarms: list[Alarm], watch: Watch | None = None) -> Scoreboard:
    """Score every detector's alarms against the ground truth."""
    watch = watch or set()
    board = Scoreboard(alarms=list(alarms))
    board.detectors = sorted({a.detector for a in alarms} | {detector for detector, _, _ in watch})
    for detector, topics in sorted(monitored(alarms, "drift", watch).items()):
        for topic in sorted(topics):
            times = sorted(
                a.event_time_us for a in alarms if a.detector == detector and a.kind == "drift" and a.topic == topic
            )
            results, outside = _drift_topic(truth, detector, topic, times)
            board.drift += results
            board.false_alarms.append(outside)
    for detector, topics in sorted(monitored(alarms, "anomaly", watch).items()):
        mine = [a for a in alarms if a.detector == detector and a.kind == "anomaly"]
        _score_anomalies(truth, detector, topics, mine, board)
    return board


def drift_windows(truth: GroundTruth, topic: str) -> list[tuple[DriftWindow, int]]:
    """A topic's drift episodes in start order, each with the end of its detection window."""
    episodes = sorted((d for d in truth.drifts if d.topic == topic), key=lambda d: (d.start_us, d.episode_id))
    span = truth.span(topic)
    last = max([span[1] if span else 0] + [d.end_us for d in episodes])
    out = []
    for episode in episodes:
        later = [d.start_us for d in episodes if d.start_us > episode.start_us]
        out.append((episode, min(later) if later else max(last, episode.start_us)))
    return out


def _drift_topic(
    truth: GroundTruth, detector: str, topic: str, alarm_times: list[int]
) -> tuple[list[DriftResult], FalseAlarms]:
    """A detector's drift results on one topic and its false alarms there (alarm_times ascending)."""
    windows = drift_windows(truth, topic)
    results = []
    for episode, end_us in windows:
        first = next((t for t in alarm_times if episode.start_us <= t <= end_us), None)
        results.append(DriftResult(detector, episode, end_us, first))
    inside = [(episode.start_us, end_us) for episode, end_us in windows]
    false = sum(1 for t in alarm_times if not any(start <= t <= end for start, end in inside))
    return results, FalseAlarms(detector, topic, false, _hours_outside(truth.span(topic), inside))


def _hours_outside(span: tuple[int, int] | None, windows: list[tuple[int, int]]) -> float:
    """Event-hours of [first, last event] not covered by any window."""
    if span is None:
        return 0.0
    first, last = span
    covered, reach = 0, first
    for window_start, window_end in sorted(windows):
        start, end = max(window_start, reach), min(window_end, last)
        if end > start:
            covered += end - start
            reach = end
    return max(0, last - first - covered) / US_PER_HOUR


def delay_events(truth: GroundTruth, result: DriftResult) -> int | None:
    """Detection delay in events: the topic's events from the episode start up to the alarm's event time."""
    if result.alarm_us is None:
        return None
    return truth.events_between(result.episode.topic, result.episode.start_us, result.alarm_us)


def _score_anomalies(
    truth: GroundTruth, detector: str, topics: set[str], alarms: list[Alarm], board: Scoreboard
) -> None:
    """Pattern rows and episode rows of one detector on the topics it monitors for anomalies."""
    alarmed = {a.event_id for a in alarms if a.event_id is not None}
    labels = truth.labels
    missing = sum(1 for event_id in alarmed if event_id not in labels)
    board.unmatched[detector] = missing + sum(1 for a in alarms if a.event_id is None)
    events: dict[tuple[str, str], int] = defaultdict(int)  # (topic, pattern) -> anomalous events
    hits: dict[tuple[str, str], int] = defaultdict(int)
    normal_hits: dict[str, int] = defaultdict(int)
    for label in labels.values():
        if label.pattern is not None and label.topic in topics:
            events[label.topic, label.pattern] += 1
    first_hit: dict[tuple[str, str, str], list[int]] = defaultdict(list)  # (topic, key, pattern) -> alarmed times
    for event_id in alarmed:
        hit = labels.get(event_id)
        if hit is None or hit.topic not in topics:
            continue
        if hit.pattern is None:
            normal_hits[hit.topic] += 1
            continue
        hits[hit.topic, hit.pattern] += 1
        first_hit[hit.topic, hit.entity_key, hit.pattern].append(hit.time_us)
    for topic, pattern in sorted(events):
        row = PatternResult(detector, topic, pattern, events[topic, pattern], hits[topic, pattern], normal_hits[topic])
        board.patterns.append(row)
    for episode in truth.episodes:
        if episode.topic not in topics:
            continue
        times = first_hit.get((episode.topic, episode.entity_key, episode.pattern), [])
        inside = [t for t in times if episode.start_us <= t <= episode.end_us]
        board.episodes.append(EpisodeResult(detector, episode, min(inside) if inside else None))
