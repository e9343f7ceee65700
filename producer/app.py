"""`datagen run`: wires scenario, sources, encoding, sink, metrics and the scheduler; I/O lives here."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

from producer.client_conf import check_client_conf, kafka_part, registry_part
from producer.domains import output_specs
from producer.domains.common.base import StreamSpec
from producer.encoding.delayed_labels import LabelQueue
from producer.encoding.episodes import DriftSchedule
from producer.encoding.oracle import Oracles
from producer.encoding.pipeline import EncoderFactory, Encoding, Format, LabelMode
from producer.errors import BrokerUnavailable, DeliveryError, UsageError
from producer.observability.metrics import MetricsServer
from producer.observability.progress import (
    LINE_INTERVAL,
    Horizon,
    LogFormat,
    ProgressReporter,
    Reading,
    read_stats,
)
from producer.observability.stats import RunStats
from producer.observability.summary import render_summary
from producer.observability.worker_report import ReportWriter
from producer.redact import safe_url
from producer.scenario.loader import LoadedScenario, load_scenario
from producer.scenario.oracle_checks import check_oracle_sharding
from producer.scheduling.loop import TICK_SECONDS, Limits, Scheduler
from producer.scheduling.shard import Shard
from producer.scheduling.sources import EventSource
from producer.sinks.base import Sink

log = logging.getLogger(__name__)
FLUSH_TIMEOUT = 30.0
# after the first SIGINT/SIGTERM a run exits within 10 s: the shutdown flush gets what is left of
# SIGNAL_FLUSH_BUDGET (at least half a second), leaving time for a purge of the rest and the summary
SIGNAL_FLUSH_BUDGET = 4.0


class _StopFlushing(Exception):
    """Raised by the signal handler inside a long shutdown flush: flush again within the signal's budget."""


@dataclass(frozen=True)
class RunSettings:
    """Everything `datagen run` was told, validated by the CLI."""

    scenario: str
    duration: float | None = None
    events: int | None = None
    rate: float | Literal["max"] | None = None
    seed: int | None = None
    sink: Literal["kafka", "file", "stdout"] = "kafka"
    out: Path = Path("out")
    format: Format | None = None
    bootstrap_servers: str | None = None
    schema_registry_url: str | None = None
    metrics_port: int | None = 9400
    topic_prefix: str = ""
    labels: LabelMode = "inline"
    partitions: int = 6
    shard: Shard = Shard()
    linger: float = 0.0  # seconds to keep serving /metrics after the run ends
    kafka_conf: dict[str, str] = field(default_factory=dict)
    kafka_sources: dict[str, str] = field(default_factory=dict)  # properties not from -X: variable or file key
    transactional_id: str | None = None  # each batch one Kafka transaction (the shard appended when sharded)
    report_file: Path | None = None  # set by `--workers N` in its workers: report there, no summary here
    quiet: bool = False  # no live view or progress lines
    log_format: LogFormat = "text"  # progress lines off a terminal: key=value or JSON
    progress_interval: float = LINE_INTERVAL  # seconds between those lines

    @property
    def output_format(self) -> Format:
        """The chosen format, defaulting to Avro except on stdout."""
        return output_format(self.sink, self.format)


def output_format(sink: str, fmt: Format | None) -> Format:
    """The format of a run: the one given, else Avro except on stdout (JSON lines there)."""
    return fmt or ("jsonl" if sink == "stdout" else "avro")


def make_reporter(
    loaded: LoadedScenario, settings: RunSettings, read: Callable[[], Reading | None], deadline: float | None
) -> ProgressReporter:
    """Progress on stderr, where logs go and never the events: live when it is a terminal, else lines."""
    scenario = loaded.scenario
    horizon = Horizon(tuple(p.name for p in scenario.phases), scenario.total_seconds, settings.events, deadline)
    live = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    if settings.sink == "stdout" and sys.stdout.isatty():  # events scroll on that terminal: redrawing would fight them
        live = False
    return ProgressReporter(
        read, horizon, sys.stderr, live, settings.log_format, settings.progress_interval, scenario.name
    )


def with_seed(loaded: LoadedScenario, seed: int | None) -> LoadedScenario:
    """The scenario with its seed replaced by --seed, if given."""
    if seed is None:
        return loaded
    scenario = loaded.scenario.model_copy(update={"seed": seed})
    return LoadedScenario(loaded.source, scenario, loaded.params)


class Run:
    """One `datagen run`: set up, play, shut down cleanly, summarise."""

    def __init__(self, settings: RunSettings, out: TextIO | None = None) -> None:
        self.settings = settings
        self.loaded = with_seed(load_scenario(settings.scenario), settings.seed)
        settings.shard.check(self.loaded.scenario.virtual_partitions)
        check_oracle_sharding(self.loaded.scenario, settings.shard.count)
        if settings.sink == "stdout" and settings.output_format == "avro":
            raise UsageError("--sink stdout: writes JSON lines; use --format jsonl (or another sink for Avro)")
        if settings.sink == "kafka":  # a bad -X fails here: before metrics, the embedded stack or any network
            check_client_conf(settings.kafka_conf, settings.schema_registry_url, sources=settings.kafka_sources)
        if settings.transactional_id is not None and settings.sink != "kafka":
            raise UsageError(f"--transactional-id: expected --sink kafka, found --sink {settings.sink}")
        self.out = out or (sys.stderr if settings.sink == "stdout" else sys.stdout)
        self.stop = threading.Event()
        self._signalled_at: float | None = None
        self._on_signal: Exception | None = None
        self.stats = RunStats(scenario=self.loaded.scenario.name)
        self._exit = contextlib.ExitStack()

    def say(self, text: str) -> None:
        """A line for the person running datagen."""
        print(text, file=self.out, flush=True)

    def execute(self) -> int:
        """Run to the end and return the exit code."""
        run_started = time.monotonic()  # --duration is wall time from here, connecting included
        with self._exit:
            self._install_signals()
            self._start_metrics()
            report = self._start_report()
            specs = output_specs([name for name, c in self.loaded.scenario.streams.items() if c.weight > 0])
            sink, avro_factory = self._make_sink()
            encoding = self._encoding(specs, avro_factory)
            self.stats.derived_topics = encoding.derived_topics()  # counted apart from events in the summary
            self._connect(sink, encoding, run_started)
            source = EventSource(self.loaded, shard=self.settings.shard)
            duration_left = None
            if self.settings.duration is not None:  # at least a moment: Limits reads 0 as "no limit"
                duration_left = max(1e-3, run_started + self.settings.duration - time.monotonic())
            scheduler = Scheduler(
                source,
                encoding,
                sink,
                self.stats,
                self.stop,
                Limits(self.settings.events, duration_left),
                self.settings.rate,
                tick=sink.tick or TICK_SECONDS,
            )
            self.stats.sink_healthy = lambda: sink.ready  # read live by /readyz, not copied once
            self.stats.ready = sink.ready
            self.say(
                f"playing scenario={self.loaded.scenario.name} seed={self.loaded.scenario.seed} sink={sink.name} "
                f"format={self.settings.output_format} rate={self.settings.rate or 'scenario'} "
                f"shard={self.settings.shard}"
            )
            # the burn-in runs before the clock starts: the first phase starts on time at its rate
            source.warm_up(self.stop)
            progress = self._start_progress(run_started)  # before the clock: importing rich is start-up
            # the hot path allocates many short-lived dicts and no cycles: freeze the long-lived
            # setup objects and collect generation 0 less often (a quarter of generator time otherwise)
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)
            started, started_at = time.monotonic(), time.time()  # the wall clock too: workers' windows are compared
            try:
                ended = scheduler.run()
                scheduler.finish()
            finally:
                self.stats.ready = False
                producing = time.monotonic() - started
                remaining = self._flush(sink)
                sink.close()
            flushing = time.monotonic() - started - producing
            if progress is not None:
                progress.stop()  # before the summary; on an error, the exit stack stops it
            if report is None:
                self.say(render_summary(self.stats, producing, ended, remaining, flushing))
            else:  # the parent prints one summary for all workers
                final = {
                    "ended_by": ended,
                    "producing": producing,
                    "flushing": flushing,
                    "outstanding": remaining,
                    "started_at": started_at,
                }
                report.finish(final)
            if self.settings.linger and self.settings.metrics_port is not None and not self.stop.is_set():
                self.stats.last_heartbeat = float("inf")  # finished, not stalled
                self.say(f"run ended; serving metrics for {self.settings.linger:g}s more (Ctrl+C to exit)")
                self.stop.wait(self.settings.linger)
            totals = self.stats.totals()
            if totals.failed:
                raise DeliveryError(f"{totals.failed} events failed delivery; first error: {self.stats.first_error}")
        return 0

    def _start_progress(self, run_started: float) -> ProgressReporter | None:
        """The live view (stderr a terminal) or periodic lines (not), unless --quiet or a `--workers` worker."""
        s = self.settings
        if s.quiet or s.report_file is not None:  # a worker's parent shows the merged view
            return None
        deadline = None if s.duration is None else run_started + s.duration
        reporter = make_reporter(self.loaded, s, lambda: read_stats(self.stats), deadline)
        reporter.start()
        self._exit.callback(reporter.stop)
        return reporter

    def _encoding(self, specs: list[StreamSpec], avro_factory: EncoderFactory | None) -> Encoding:
        """The run's encoding: its streams, format and labels, with drift episodes, oracles and delayed labels."""
        scenario, prefix = self.loaded.scenario, self.settings.topic_prefix
        # drift episodes go to the ground truth once: from shard 0 (of the run, or of the workers)
        drifts = DriftSchedule(scenario, self.loaded.params) if self.settings.shard.index == 0 else None
        return Encoding(
            specs,
            self.settings.output_format,
            self.settings.labels,
            prefix,
            avro_factory,
            drifts=drifts,
            delayed=self._label_queue(),
            oracles=Oracles(scenario.oracle, prefix) if scenario.oracle else None,
        )

    def _label_queue(self) -> LabelQueue | None:
        """The delayed fraud labels of the scenario's delayed_labels, counted in the run's stats."""
        config, scenario = self.loaded.scenario.delayed_labels, self.loaded.scenario
        if config is None:
            return None
        queue = LabelQueue(config, scenario.seed, self.settings.topic_prefix)
        self.stats.delayed_labels = queue.counts  # the same dict: its counts stay live for /metrics
        return queue

    def _connect(self, sink: Sink, encoding: Encoding, run_started: float) -> None:
        """Open the sink and register the schemas; a run that ends before they answer exits 3.

        The waits inside retry until `self.stop` is set, so the --duration deadline sets it too.
        """
        deadline_hit = threading.Event()
        timer = None
        if self.settings.duration is not None:

            def give_up() -> None:
                deadline_hit.set()
                self.stop.set()

            timer = threading.Timer(max(0.0, run_started + self.settings.duration - time.monotonic()), give_up)
            timer.daemon = True
            timer.start()
        try:
            sink.open(encoding.topics())
            encoding.prepare()
        except BrokerUnavailable as exc:
            if not self.stop.is_set():
                raise
            # nothing was produced, so no summary table: the one error line says it all
            waited = time.monotonic() - run_started
            why = f"--duration {self.settings.duration:g}s reached" if deadline_hit.is_set() else "stopped by a signal"
            raise BrokerUnavailable(f"{exc} (gave up after {waited:.0f}s: {why})") from exc
        finally:
            if timer is not None:
                timer.cancel()
        if deadline_hit.is_set():
            self.stop.clear()  # connected just as time ran out: end by duration at once, not as if signalled

    def _flush(self, sink: Sink) -> int:
        """The shutdown flush; returns what stayed outstanding. Bounded so a signal's 10 s promise holds."""
        try:
            with self._interruptible(_StopFlushing()):
                return sink.flush(self._flush_timeout())
        except _StopFlushing:  # signalled during a full-length flush: start over within the budget
            return sink.flush(self._flush_timeout())

    @contextlib.contextmanager
    def _interruptible(self, error: Exception) -> Iterator[None]:
        """Inside, a first signal raises `error` at once: for waits that do not watch `self.stop`."""
        self._on_signal = error
        try:
            yield
        finally:
            self._on_signal = None

    def _flush_timeout(self) -> float:
        """FLUSH_TIMEOUT, or once signalled what is left of SIGNAL_FLUSH_BUDGET since the signal."""
        if self._signalled_at is None:
            return FLUSH_TIMEOUT
        return max(0.5, self._signalled_at + SIGNAL_FLUSH_BUDGET - time.monotonic())

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handle(signum: int, _frame: object) -> None:
            if self.stop.is_set():
                raise KeyboardInterrupt  # second signal: stop waiting
            log.info("signal received signal=%s; stopping and flushing", signal.Signals(signum).name)
            self._signalled_at = time.monotonic()
            self.stop.set()
            if self._on_signal is not None:
                raise self._on_signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.signal(sig, handle)
            self._exit.callback(signal.signal, sig, previous)

    def _start_metrics(self) -> None:
        port = self.settings.metrics_port
        if port is None:
            return
        server = MetricsServer(self.stats, port=port)
        server.start()
        self._exit.callback(server.stop)
        self.say(f"metrics: {server.banner()}")

    def _start_report(self) -> ReportWriter | None:
        """In a `--workers` worker: the periodic report to the parent."""
        if self.settings.report_file is None:
            return None
        writer = ReportWriter(self.stats, self.settings.report_file)
        writer.start()
        self._exit.callback(writer.stop)
        return writer

    def _make_sink(self) -> tuple[Sink, EncoderFactory | None]:
        s = self.settings
        if s.sink == "file":
            from producer.encoding.avro import schemaless_encoder
            from producer.sinks.file import FileSink

            return FileSink(self.stats, s.out, s.output_format), lambda topic, schema, names: schemaless_encoder(
                schema, names
            )
        if s.sink == "stdout":
            from producer.sinks.stdout import StdoutSink

            return StdoutSink(self.stats), None
        return self._make_kafka_sink()

    def _make_kafka_sink(self) -> tuple[Sink, EncoderFactory | None]:
        from producer.encoding.avro import RegistryAvro

        s = self.settings
        bootstrap, registry_url = s.bootstrap_servers, s.schema_registry_url
        if bootstrap is None:
            bootstrap, registry_url = self._start_embedded(registry_url)
        factory: EncoderFactory | None = None
        if s.output_format == "avro":
            if registry_url is None:
                raise UsageError(
                    "--schema-registry-url: Avro to an external broker needs a schema registry "
                    "(set SCHEMA_REGISTRY_URL, run `datagen registry`, or use --format jsonl)"
                )
            factory = RegistryAvro(registry_url, registry_part(s.kafka_conf), self.stop).encoder
        sink = self._kafka_sink(bootstrap)
        shown_registry = f" schema-registry={safe_url(registry_url)}" if factory and registry_url else ""
        self.say(f"kafka: bootstrap={safe_url(bootstrap)}{shown_registry}")
        return sink, factory

    def _kafka_sink(self, bootstrap: str) -> Sink:
        """The plain Kafka sink, or the transactional one, its id suffixed by the shard when sharded."""
        from producer.sinks.kafka import KafkaSink
        from producer.sinks.transactional import TransactionalKafkaSink

        s = self.settings
        args = (self.stats, bootstrap, kafka_part(s.kafka_conf), s.partitions, self.stop)
        if s.transactional_id is None:
            return KafkaSink(*args)
        shard = f"-{s.shard.index}of{s.shard.count}" if s.shard.count > 1 else ""
        return TransactionalKafkaSink(*args, transactional_id=s.transactional_id + shard)

    def _start_embedded(self, registry_url: str | None) -> tuple[str, str | None]:
        from producer.embedded import stack

        running = stack.status()
        if running is None:
            self.say("no broker configured: starting the embedded Kafka-compatible broker (Tansu) and schema registry")
        stopped = BrokerUnavailable(
            "stopped by a signal while the embedded stack was starting "
            "(it goes on starting in the background; `datagen embedded stop` ends it)"
        )
        with self._interruptible(stopped):
            info = running or stack.ensure()
        self.say(
            f"embedded broker: {info.bootstrap_servers}  schema registry: {info.registry_url}  "
            "(kept running for `datagen tail`; stop with `datagen embedded stop`)"
        )
        return info.bootstrap_servers, registry_url or info.registry_url
