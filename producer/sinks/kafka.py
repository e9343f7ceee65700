"""The Kafka sink: confluent-kafka Producer, acks=all, idempotent, compressed, every delivery counted."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from producer.errors import BrokerUnavailable, UsageError
from producer.observability import repeats
from producer.redact import redact_conf, redact_values
from producer.sinks.base import DeliveryListener, Record, Sink, TopicInfo

log = logging.getLogger(__name__)
# producer and admin client log here; repeats of a line are let through once per 10 s, then counted
rdkafka_log = logging.getLogger("librdkafka")
# local give-ups whose real cause is the broker error reported before them
_GIVE_UPS = frozenset(
    {KafkaError._MSG_TIMED_OUT, KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT, KafkaError._TIMED_OUT}
)

DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "compression.type": "lz4",
    "linger.ms": 20,
    "batch.num.messages": 10000,
    "queue.buffering.max.messages": 200000,
    "queue.buffering.max.kbytes": 262144,
    "message.timeout.ms": 120000,
}
# Record timestamps are event time, which a scenario clock may put months in the past: time-based retention
# (Kafka's default is 7 days) would delete such records at the broker's next check, minutes after delivery.
# So topics datagen creates keep records whatever their timestamps; an existing topic that would delete
# them gets one warning naming it.
CREATED_TOPIC_CONFIG = {"retention.ms": "-1"}
_RETENTION_CHECK_BATCHES = 8  # batches whose records are compared with existing topics' retention
# Kafka also forgets an idempotent producer by its records' timestamps (producer.id.expiration.ms, 1 day by
# default, checked every 10 min and when a restarted broker reloads its log): past that, a batch retried
# after a broker failure can be appended twice. The first batch is compared with the broker's setting.
# librdkafka keys that configure the client (and so the admin client too), not just the producer
_ADMIN_PREFIXES = ("security.", "sasl.", "ssl.", "client.", "socket.", "broker.", "enable.ssl", "bootstrap")


# the logger of throwaway check clients: "no bootstrap.servers" and other notices are about them, not the run
_QUIET = logging.getLogger("producer.sinks.kafka.check")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def _offline(conf: dict[str, Any]) -> dict[str, Any]:
    """`conf` made safe to instantiate without any I/O: no brokers, no token fetch, no kinit."""
    offline = {k: v for k, v in conf.items() if k not in ("bootstrap.servers", "metadata.broker.list")}
    mechanism = str(offline.get("sasl.mechanism", offline.get("sasl.mechanisms", ""))).upper()
    if mechanism == "OAUTHBEARER" and str(offline.get("sasl.oauthbearer.method", "")).lower() == "oidc":
        # OIDC fetches a token from the endpoint as the client starts; SASL starts only with a SASL protocol
        # (the oidc settings themselves are still checked when the client is configured)
        protocol = str(offline.get("security.protocol", "PLAINTEXT")).upper()
        offline["security.protocol"] = {"SASL_SSL": "SSL", "SASL_PLAINTEXT": "PLAINTEXT"}.get(protocol, protocol)
    if mechanism == "GSSAPI":
        offline["sasl.kerberos.min.time.before.relogin"] = 0  # no kinit run at start
    return offline


def check_conf(conf: dict[str, Any], client: type = Producer) -> None:
    """Reject what librdkafka rejects in `conf` (a UsageError naming -X), without opening a socket."""
    try:
        client({**_offline(conf), "logger": _QUIET})
    except (KafkaException, TypeError, ValueError) as exc:  # the Python layer rejects callbacks given as text
        raise conf_error(exc, conf) from exc


def conf_error(exc: Exception, conf: dict[str, Any]) -> UsageError:
    """librdkafka's refusal of `conf` as one line naming -X, secret values hidden."""
    message = exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else str(exc)
    message = message.removeprefix("Failed to create producer: ").removeprefix("Failed to create consumer: ")
    return UsageError(f"-X: expected valid librdkafka properties, found {redact_values(message, conf)}")


def _config_ms(admin: AdminClient, resources: list[ConfigResource], key: str) -> dict[str, int]:
    """`key` (a number of ms) of each resource that reports it; one whose config cannot be read is left out."""
    if not resources:
        return {}
    found = {}
    for resource, future in admin.describe_configs(resources).items():
        try:
            entry = future.result(timeout=10).get(key)
        except KafkaException as exc:  # not authorised to describe it, say: no warning rather than no run
            log.debug("cannot read %s of %s: %s", key, resource.name, exc)
            continue
        if entry is not None and entry.value is not None:
            found[resource.name] = int(entry.value)
    return found


def _producer_expiration(admin: AdminClient, brokers: Any) -> int | None:
    """The broker's producer.id.expiration.ms, or None when it does not say (as the embedded broker)."""
    resources = [ConfigResource(ConfigResource.Type.BROKER, str(next(iter(brokers))))] if brokers else []
    return next(iter(_config_ms(admin, resources, "producer.id.expiration.ms").values()), None)


def _time_retention(admin: AdminClient, topics: list[str]) -> dict[str, int]:
    """retention.ms of each of `topics` that deletes by time (not -1)."""
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in topics]
    return {name: ms for name, ms in _config_ms(admin, resources, "retention.ms").items() if ms >= 0}


def _iso(timestamp_ms: float) -> str:
    """A record timestamp as an ISO instant (UTC, seconds), for warnings."""
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="seconds")


def check_producer_overrides(overrides: dict[str, str]) -> None:
    """Check the -X overrides merged over the sink's defaults, as KafkaSink.open() will use them."""
    if "transactional.id" in overrides:  # produce() outside a transaction would fail every event
        found = overrides["transactional.id"]
        raise UsageError(f"-X transactional.id: expected --transactional-id {found} (it runs the transactions)")
    check_conf({**DEFAULTS, **overrides})


class KafkaSink(Sink):
    """Produces records to Kafka; delivered + failed always equals produced once flushed."""

    name = "kafka"

    def __init__(
        self,
        listener: DeliveryListener,
        bootstrap_servers: str,
        overrides: dict[str, str] | None = None,
        partitions: int = 6,
        stop: threading.Event | None = None,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__(listener)
        self.bootstrap_servers = bootstrap_servers
        self.overrides = dict(overrides or {})
        self.partitions = partitions
        self._stop = stop or threading.Event()
        self._max_backoff = max_backoff
        self._producer: Producer | None = None
        self._ready = False
        self._delivered: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self._failed: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self._latencies: list[float] = []
        self.first_error: str | None = None
        self._brokers_down = False  # librdkafka said all brokers are down; cleared by a delivery
        self._cause: str | None = None  # first client-level error since the last delivery
        self._retention: dict[str, int] = {}  # existing topics with time-based retention, until checked
        self._retention_batches = _RETENTION_CHECK_BATCHES
        self._producer_expiration: int | None = None  # the broker's, until the first batch is compared

    def _client_conf(self) -> dict[str, Any]:
        admin = {k: v for k, v in self.overrides.items() if k.startswith(_ADMIN_PREFIXES)}
        return {"bootstrap.servers": self.bootstrap_servers, **admin}

    def producer_conf(self) -> dict[str, Any]:
        """The producer configuration: safe defaults, then every -X override untouched."""
        return {"bootstrap.servers": self.bootstrap_servers, **DEFAULTS, **self.overrides}

    def open(self, topics: list[TopicInfo]) -> None:
        """Start the producer (rejecting bad -X first), wait for the broker, create missing topics."""
        conf = self.producer_conf()
        repeats.install(rdkafka_log)
        callbacks: dict[str, Any] = {"logger": rdkafka_log, "error_cb": self._on_error}
        try:
            self._producer = Producer({**conf, **callbacks})
        except KafkaException as exc:
            raise conf_error(exc, conf) from exc
        log.info("producer config %s", " ".join(f"{k}={v}" for k, v in sorted(redact_conf(conf).items())))
        admin = AdminClient({**self._client_conf(), **callbacks})
        metadata = self._wait_for_broker(admin)
        missing = [t.name for t in topics if t.name not in metadata.topics]
        if missing:
            self._create_topics(admin, missing, min(3, len(metadata.brokers)))
        self._retention = _time_retention(admin, [t.name for t in topics if t.name in metadata.topics])
        if str(conf.get("enable.idempotence", False)).lower() == "true":
            self._producer_expiration = _producer_expiration(admin, metadata.brokers)
        self._producer.poll(0)  # serve errors queued while the broker was away: they are history now
        self._brokers_down, self._cause = False, None
        self._ready = True

    def _on_error(self, err: KafkaError) -> None:
        """librdkafka's client-level errors (transport, all brokers down, fatal): logged and kept here."""
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._brokers_down = True
            self._cause = self._cause or f"{err.name()}: {err.str()}"  # a summary: any specific error beats it
        elif self._cause is None or self._cause.startswith("_ALL_BROKERS_DOWN") or err.fatal():
            self._cause = f"{err.name()}: {err.str()}"
        if err.code() != KafkaError._TRANSPORT:  # librdkafka's own FAIL log line already says that one
            level = logging.ERROR if err.fatal() else logging.WARNING
            rdkafka_log.log(level, "kafka error %s: %s", err.name(), err.str())

    def _create_topics(self, admin: AdminClient, names: list[str], replication: int) -> None:
        futures = admin.create_topics(
            [NewTopic(name, self.partitions, replication, config=dict(CREATED_TOPIC_CONFIG)) for name in names]
        )
        for name, future in futures.items():
            try:
                future.result(timeout=30)
                log.info("topic created topic=%s partitions=%d replication=%d", name, self.partitions, replication)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BrokerUnavailable(f"cannot create topic {name}: {exc.args[0].str()}") from exc

    def _wait_for_broker(self, admin: AdminClient) -> Any:
        delay, attempt = 1.0, 0
        while True:
            attempt += 1
            try:
                return self._list_topics(admin, 5.0)
            except KafkaException as exc:
                error = exc.args[0].str() if exc.args else str(exc)
            if self._cause:
                error = f"{error} ({self._cause})"
                self._cause = None
            log.warning(
                "broker unreachable bootstrap=%s attempt=%d retry_in=%.0fs error=%s",
                self.bootstrap_servers,
                attempt,
                delay,
                error,
            )
            if self._stop.wait(delay):
                raise BrokerUnavailable(f"broker {self.bootstrap_servers} unreachable: {error}")
            delay = min(delay * 2, self._max_backoff)

    def _list_topics(self, admin: AdminClient, timeout: float) -> Any:
        """Metadata within `timeout` s, asked in 1 s slices so a stop (signal, --duration) is seen at once."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
            except KafkaException:
                if self._stop.is_set() or time.monotonic() >= deadline:
                    raise

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        size = len(msg)  # the value's length, without copying the value out
        if err is None:
            entry = self._delivered[msg.topic()]
            self._acknowledged(msg)
        else:
            entry = self._failed[msg.topic()]
            if self.first_error is None:
                self.first_error = self.describe_failure(err)
                log.error("delivery failed topic=%s error=%s", msg.topic(), self.first_error)
        entry[0] += 1
        entry[1] += size

    def _acknowledged(self, msg: Any) -> None:
        """A broker acknowledged `msg`: keep its latency, and any outage is over."""
        latency = msg.latency()
        if latency is not None:
            self._latencies.append(latency)
        if self._brokers_down or self._cause is not None:
            self._brokers_down, self._cause = False, None

    def describe_failure(self, err: KafkaError) -> str:
        """A delivery error, named by its cause: a purge or timeout says only that librdkafka gave up."""
        text = f"{err.name()}: {err.str()}"
        if err.code() not in _GIVE_UPS:
            return text
        if self._cause is not None:
            return f"{self._cause} (then {err.name()})"
        if err.code() in (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT):
            return f"{text} (unacknowledged when the shutdown flush timed out; no broker error was reported)"
        return text

    def write(self, records: list[Record]) -> None:
        """Produce a batch; on a full local queue, serve callbacks and retry (never drop)."""
        self._check_record_times(records)
        queued = self._produce(records)
        if queued < len(records):
            self._fail_unqueued(records[queued:])
            return
        assert self._producer is not None
        self._producer.poll(0)
        self._report()

    def _produce(self, records: list[Record]) -> int:
        """Hand records to the producer, waiting while its queue is full; how many it took (fewer if stopped)."""
        producer = self._producer
        assert producer is not None, "open() first"
        produce, callback = producer.produce, self._on_delivery
        for index, (topic, key, value, timestamp_ms) in enumerate(records):
            while True:
                try:
                    produce(topic, value, key, timestamp=timestamp_ms, on_delivery=callback)
                    break
                except BufferError:
                    if self._stop.is_set():  # a signal with the local queue full: exit promptly, not when it drains
                        return index
                    producer.poll(0.05)
                    self._report()
        return len(records)

    def _check_record_times(self, records: list[Record]) -> None:
        """The early batches' timestamps against the broker's producer expiration and the topics' retention."""
        if self._producer_expiration is not None and records:
            self._check_producer_expiration(records)
        if self._retention:
            self._check_retention(records)

    def _check_producer_expiration(self, records: list[Record]) -> None:
        """Warn once when the first batch's record timestamps are past the broker's producer expiration."""
        expiration, self._producer_expiration = self._producer_expiration, None
        oldest = min(record.timestamp_ms for record in records)
        if expiration is not None and oldest < time.time() * 1000 - expiration:
            log.warning(
                "record timestamps (event time) from %s are older than the broker's producer.id.expiration.ms=%d: "
                "Kafka forgets an idempotent producer by its records' timestamps, so after a broker crash a "
                "retried batch can be written twice; start the scenario clock within that window of now for "
                "no duplicates across broker failures (README: Guarantees)",
                _iso(oldest),
                expiration,
            )

    def _check_retention(self, records: list[Record]) -> None:
        """Warn once per existing topic whose time-based retention would delete these records at once."""
        now_ms = time.time() * 1000
        for topic, _, _, timestamp_ms in records:
            retention = self._retention.pop(topic, None)
            if retention is not None and timestamp_ms < now_ms - retention:
                log.warning(
                    "topic %s keeps records for retention.ms=%d, but these carry event times from %s, older than "
                    "that: Kafka deletes them at its next retention check (log.retention.check.interval.ms, "
                    "5 min by default); set retention.ms=-1 on the topic or start the scenario clock later",
                    topic,
                    retention,
                    _iso(timestamp_ms),
                )
            if not self._retention:
                return
        self._retention_batches -= 1
        if not self._retention_batches:
            self._retention.clear()  # topics that got no records early on are not looked for in every batch

    def _fail_unqueued(self, records: list[Record]) -> None:
        """Count records that never entered the producer's queue as failed."""
        self._tally(records, self._failed)
        if self.first_error is None:
            self.first_error = "not queued: stopped while the producer's local queue was full"
        self._report()

    @staticmethod
    def _tally(records: list[Record], into: dict[str, list[int]]) -> None:
        """Add the records and their value bytes, per topic, to `into` (delivered or failed)."""
        for record in records:
            entry = into[record.topic]
            entry[0] += 1
            entry[1] += len(record.value or b"")

    def _report(self) -> None:
        if self._delivered:
            for topic, (count, size) in self._delivered.items():
                self.listener.on_delivered(topic, count, size)
            self._delivered.clear()
        if self._failed:
            for topic, (count, size) in self._failed.items():
                self.listener.on_failed(topic, count, size, self.first_error or "unknown")
            self._failed.clear()
        if self._latencies:
            self.listener.on_latencies(self._latencies)
            self._latencies = []

    def poll(self) -> None:
        """Serve delivery callbacks."""
        if self._producer is not None:
            self._producer.poll(0)
            self._report()

    def flush(self, timeout: float) -> int:
        """Wait for outstanding deliveries up to `timeout` seconds."""
        if self._producer is None:
            return 0
        remaining = self._producer.flush(timeout)
        if remaining:
            # out of time: purge what is left so each purged message reports (and counts) as failed
            log.warning("flush timed out outstanding=%d; purging and counting them as failed", remaining)
            self._producer.purge(in_queue=True, in_flight=True, blocking=True)
            self._producer.flush(5)
        self._report()
        return remaining

    def queue_depth(self) -> int:
        """Messages in the producer's queue, not yet acknowledged."""
        return len(self._producer) if self._producer is not None else 0

    def close(self) -> None:
        """Drop the producer reference (flush first)."""
        self._ready = False
        self._producer = None
        repeats.install(rdkafka_log).flush_summaries(rdkafka_log)

    @property
    def ready(self) -> bool:
        """True once the broker answered and the producer runs, unless librdkafka says all brokers are down."""
        return self._ready and not self._brokers_down
