"""The Kafka sink: confluent-kafka Producer, acks=all, idempotent, compressed, every delivery counted."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from producer.errors import BrokerUnavailable, UsageError
from producer.sinks.base import DeliveryListener, Record, Sink, TopicInfo

log = logging.getLogger(__name__)

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
SECRET_WORDS = ("password", "secret", "sasl.oauthbearer.config", "key.pem", "token")
# librdkafka keys that configure the client (and so the admin client too), not just the producer
_ADMIN_PREFIXES = ("security.", "sasl.", "ssl.", "client.", "socket.", "broker.", "enable.ssl", "bootstrap")


def redact(conf: dict[str, Any]) -> dict[str, Any]:
    """A copy of a client config that is safe to log: secret values replaced."""
    return {k: ("***" if any(w in k for w in SECRET_WORDS) else v) for k, v in conf.items()}


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

    def _client_conf(self) -> dict[str, Any]:
        admin = {k: v for k, v in self.overrides.items() if k.startswith(_ADMIN_PREFIXES)}
        return {"bootstrap.servers": self.bootstrap_servers, **admin}

    def producer_conf(self) -> dict[str, Any]:
        """The producer configuration: safe defaults, then every -X override untouched."""
        return {"bootstrap.servers": self.bootstrap_servers, **DEFAULTS, **self.overrides}

    def open(self, topics: list[TopicInfo]) -> None:
        """Start the producer (rejecting bad -X first), wait for the broker, create missing topics."""
        conf = self.producer_conf()
        try:
            self._producer = Producer({**conf, "logger": logging.getLogger("librdkafka")})
        except KafkaException as exc:
            raise UsageError(f"-X: expected valid librdkafka properties, found {exc.args[0].str()}") from exc
        log.info("producer config %s", " ".join(f"{k}={v}" for k, v in sorted(redact(conf).items())))
        admin = AdminClient({**self._client_conf(), "logger": logging.getLogger("librdkafka.admin")})
        metadata = self._wait_for_broker(admin)
        missing = [t.name for t in topics if t.name not in metadata.topics]
        if missing:
            self._create_topics(admin, missing, min(3, len(metadata.brokers)))
        self._ready = True

    def _create_topics(self, admin: AdminClient, names: list[str], replication: int) -> None:
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=self.partitions, replication_factor=replication) for name in names]
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
                return admin.list_topics(timeout=5)
            except KafkaException as exc:
                error = exc.args[0].str() if exc.args else str(exc)
            log.warning(
                "broker unreachable bootstrap=%s attempt=%d retry_in=%.0fs error=%s",
                self.bootstrap_servers, attempt, delay, error,
            )
            if self._stop.wait(delay):
                raise BrokerUnavailable(f"broker {self.bootstrap_servers} unreachable: {error}")
            delay = min(delay * 2, self._max_backoff)

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        size = len(msg.value() or b"")
        if err is None:
            entry = self._delivered[msg.topic()]
            latency = msg.latency()
            if latency is not None:
                self._latencies.append(latency)
        else:
            entry = self._failed[msg.topic()]
            if self.first_error is None:
                self.first_error = f"{err.name()}: {err.str()}"
                log.error("delivery failed topic=%s error=%s", msg.topic(), self.first_error)
        entry[0] += 1
        entry[1] += size

    def write(self, records: list[Record]) -> None:
        """Produce a batch; on a full local queue, serve callbacks and retry (never drop)."""
        producer = self._producer
        assert producer is not None, "open() first"
        produce, callback = producer.produce, self._on_delivery
        for record in records:
            while True:
                try:
                    produce(
                        record.topic, record.value, record.key, timestamp=record.timestamp_ms, on_delivery=callback
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
                    self._report()
        producer.poll(0)
        self._report()

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

    @property
    def ready(self) -> bool:
        """True once the broker answered and the producer runs."""
        return self._ready
