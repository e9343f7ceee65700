"""`datagen run`: wires scenario, sources, encoding, sink, metrics and the scheduler; I/O lives here."""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

from producer.domains import output_specs
from producer.encoding.pipeline import Encoding, Format, LabelMode
from producer.errors import BrokerUnavailable, DeliveryError, UsageError
from producer.observability.metrics import MetricsServer
from producer.observability.stats import RunStats
from producer.observability.summary import render_summary
from producer.scenario.loader import LoadedScenario, load_scenario
from producer.scheduling.loop import Limits, Scheduler
from producer.scheduling.shard import Shard
from producer.scheduling.sources import EventSource
from producer.sinks.base import Sink

log = logging.getLogger(__name__)
FLUSH_TIMEOUT = 30.0


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

    @property
    def output_format(self) -> Format:
        """The chosen format, defaulting to Avro except on stdout."""
        return self.format or ("jsonl" if self.sink == "stdout" else "avro")


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
        if settings.sink == "stdout" and settings.output_format == "avro":
            raise UsageError("--sink stdout: writes JSON lines; use --format jsonl (or another sink for Avro)")
        self.out = out or (sys.stderr if settings.sink == "stdout" else sys.stdout)
        self.stop = threading.Event()
        self.stats = RunStats(scenario=self.loaded.scenario.name)
        self._exit = contextlib.ExitStack()

    def say(self, text: str) -> None:
        """A line for the person running datagen."""
        print(text, file=self.out, flush=True)

    def execute(self) -> int:
        """Run to the end and return the exit code."""
        with self._exit:
            self._install_signals()
            self._start_metrics()
            specs = output_specs([name for name, c in self.loaded.scenario.streams.items() if c.weight > 0])
            sink, avro_factory = self._make_sink()
            encoding = Encoding(specs, self.settings.output_format, self.settings.labels, self.settings.topic_prefix, avro_factory)
            started = time.monotonic()
            try:
                sink.open(encoding.topics())
                encoding.prepare()
            except BrokerUnavailable:
                if not self.stop.is_set():
                    raise
                self.say(render_summary(self.stats, time.monotonic() - started, "signal-while-connecting"))
                return 0
            source = EventSource(self.loaded, shard=self.settings.shard)
            scheduler = Scheduler(
                source, encoding, sink, self.stats, self.stop,
                Limits(self.settings.events, self.settings.duration), self.settings.rate,
            )
            self.stats.ready = sink.ready
            self.say(f"playing scenario={self.loaded.scenario.name} seed={self.loaded.scenario.seed} sink={sink.name} "
                     f"format={self.settings.output_format} rate={self.settings.rate or 'scenario'} shard={self.settings.shard}")
            # the hot path allocates many short-lived dicts and no cycles: freeze the long-lived
            # setup objects and collect generation 0 less often (a quarter of generator time otherwise)
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)
            started = time.monotonic()
            try:
                ended = scheduler.run()
                scheduler.finish()
            finally:
                self.stats.ready = False
                remaining = sink.flush(FLUSH_TIMEOUT)
                sink.close()
            elapsed = time.monotonic() - started
            self.say(render_summary(self.stats, elapsed, ended, remaining))
            if self.settings.linger and self.settings.metrics_port is not None and not self.stop.is_set():
                self.stats.last_heartbeat = float("inf")  # finished, not stalled
                self.say(f"run ended; serving metrics for {self.settings.linger:g}s more (Ctrl+C to exit)")
                self.stop.wait(self.settings.linger)
            totals = self.stats.totals()
            if totals.failed:
                raise DeliveryError(f"{totals.failed} events failed delivery; first error: {self.stats.first_error}")
        return 0

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handle(signum: int, _frame: object) -> None:
            if self.stop.is_set():
                raise KeyboardInterrupt  # second signal: stop waiting
            log.info("signal received signal=%s; stopping and flushing", signal.Signals(signum).name)
            self.stop.set()

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
        self.say(f"metrics: http://127.0.0.1:{server.port}/metrics (health /healthz, readiness /readyz)")

    def _make_sink(self) -> tuple[Sink, object]:
        s = self.settings
        if s.sink == "file":
            from producer.encoding.avro import schemaless_encoder
            from producer.sinks.file import FileSink

            return FileSink(self.stats, s.out, s.output_format), lambda topic, schema: schemaless_encoder(schema)
        if s.sink == "stdout":
            from producer.sinks.stdout import StdoutSink

            return StdoutSink(self.stats), None
        return self._make_kafka_sink()

    def _make_kafka_sink(self) -> tuple[Sink, object]:
        from producer.encoding.avro import RegistryAvro
        from producer.sinks.kafka import KafkaSink

        s = self.settings
        bootstrap, registry_url = s.bootstrap_servers, s.schema_registry_url
        if bootstrap is None:
            bootstrap, registry_url = self._start_embedded(registry_url)
        factory = None
        if s.output_format == "avro":
            if registry_url is None:
                raise UsageError(
                    "--schema-registry-url: Avro to an external broker needs a schema registry "
                    "(set SCHEMA_REGISTRY_URL, run `datagen registry`, or use --format jsonl)"
                )
            registry_conf = {k[len("schema.registry."):]: v for k, v in s.kafka_conf.items() if k.startswith("schema.registry.")}
            factory = RegistryAvro(registry_url, registry_conf, self.stop).encoder
        kafka_conf = {k: v for k, v in s.kafka_conf.items() if not k.startswith("schema.registry.")}
        sink = KafkaSink(self.stats, bootstrap, kafka_conf, s.partitions, self.stop)
        self.say(f"kafka: bootstrap={bootstrap}" + (f" schema-registry={registry_url}" if factory else ""))
        return sink, factory

    def _start_embedded(self, registry_url: str | None) -> tuple[str, str | None]:
        from producer.embedded import stack

        running = stack.status()
        if running is None:
            self.say("no broker configured: starting the embedded Kafka-compatible broker (Tansu) and schema registry")
        info = running or stack.ensure()
        self.say(f"embedded broker: {info.bootstrap_servers}  schema registry: {info.registry_url}  "
                 "(kept running for `datagen tail`; stop with `datagen embedded stop`)")
        return info.bootstrap_servers, registry_url or info.registry_url
