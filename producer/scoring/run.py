"""`datagen score`: read alarms and ground truth, score, report.

Stopping rule: both topics are read from the beginning up to the end offsets they had when score
started; with `--until-idle D`, reading then goes on until no record came for D seconds; with
`--follow`, until SIGINT or SIGTERM, the scores on /metrics renewed every RESCORE_SECONDS.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from producer.errors import UsageError
from producer.scoring.alarms import Alarm, parse_alarm
from producer.scoring.exporter import ScoreCollector, serve
from producer.scoring.html import write_html, write_svg
from producer.scoring.reader import TopicReader
from producer.scoring.report import render_text, write_json
from producer.scoring.score import Scoreboard, Watch, score
from producer.scoring.truth import GroundTruth
from producer.tail import _stop_on_signal

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
RESCORE_SECONDS = 2.0


@dataclass
class ScoreSettings:
    """Everything `datagen score` was asked to do."""

    bootstrap: str
    registry_url: str | None
    ground_truth_topic: str
    alarms_topic: str
    watch: Watch = field(default_factory=set)
    until_idle: float | None = None
    follow: bool = False
    json_path: Path | None = None
    html_path: Path | None = None
    svg_path: Path | None = None
    metrics_port: int | None = None
    kafka_conf: dict[str, str] = field(default_factory=dict)
    registry_conf: dict[str, str] = field(default_factory=dict)


def _check_outputs(settings: ScoreSettings) -> None:
    """Report files go to folders that exist: checked before reading, not after minutes of it."""
    for flag, path in (("--json", settings.json_path), ("--html", settings.html_path), ("--svg", settings.svg_path)):
        if path is not None and not path.parent.is_dir():
            raise UsageError(f"{flag}: expected a file in an existing folder, found {str(path)!r}")


def run_score(settings: ScoreSettings) -> int:
    """Read, score and report; 0 on success."""
    _check_outputs(settings)
    truth, alarms = GroundTruth(), list[Alarm]()
    topics = [settings.ground_truth_topic, settings.alarms_topic]
    reader = TopicReader(settings.bootstrap, settings.registry_url, topics, settings.kafka_conf, settings.registry_conf)
    collector = ScoreCollector()
    with _stop_on_signal(settings.follow) as stop:
        try:
            reader.open()
            if settings.metrics_port is not None:
                port = serve(collector, settings.metrics_port)
                log.info("score serving metrics port=%d", port)
            _read(reader, settings, truth, alarms, collector, stop)
        finally:
            reader.close()
    board = score(truth, alarms, settings.watch)
    collector.update(board, truth)
    _report(board, truth, settings)
    return 0


def _read(
    reader: TopicReader,
    settings: ScoreSettings,
    truth: GroundTruth,
    alarms: list[Alarm],
    collector: ScoreCollector,
    stop: threading.Event,
) -> None:
    """Consume until the stopping rule says so, rescoring for /metrics now and then."""
    last_record = last_score = time.monotonic()
    while True:
        records = reader.poll(POLL_SECONDS)
        now = time.monotonic()
        for topic, where, value in records:
            if topic == settings.ground_truth_topic:
                truth.add(value, where)
            else:
                alarms.append(parse_alarm(value, where))
        if records:
            last_record = now
        if settings.metrics_port is not None and now - last_score >= RESCORE_SECONDS:
            collector.update(score(truth, alarms, settings.watch), truth)
            last_score = now
        if settings.follow:
            if stop.is_set():
                return
            continue
        idle = settings.until_idle
        if reader.at_end() and (idle is None or now - last_record >= idle):
            return


def _report(board: Scoreboard, truth: GroundTruth, settings: ScoreSettings) -> None:
    """The terminal table, and the files asked for."""
    sys.stdout.write(render_text(board, truth))
    sys.stdout.flush()
    if settings.json_path is not None:
        write_json(board, truth, settings.json_path)
    if settings.html_path is not None:
        write_html(board, truth, settings.html_path)
    if settings.svg_path is not None:
        write_svg(board, truth, settings.svg_path)
