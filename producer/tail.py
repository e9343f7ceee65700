"""`datagen tail`: a topic's last events (and with --follow every new one), decoded through the registry, as JSON lines.

On a Kafka broker tail is an ordinary consumer-group member: it subscribes with a group id and its
on_assign callback seeks each partition it is given to that partition's last N records (or, for
`--follow --group`, to the group's committed offset). Offsets are committed only by `--follow` with
an explicit `--group`, so a restarted follower resumes where it stopped; a plain `tail -n N` commits
nothing. Without `--group` each call joins a private group of its own, `datagen-tail-<random>`:
concurrent tails then never split a topic's partitions between them, and, holding no offsets, the
group is dropped by Kafka once empty. The prefix lets an ACL grant tail its groups.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from producer.client_conf import check_client_conf, kafka_part, registry_part
from producer.encoding.jsonl import to_json
from producer.errors import BrokerUnavailable, UsageError
from producer.redact import safe_url

log = logging.getLogger(__name__)
GROUP_PREFIX = "datagen-tail-"
BATCH = 1000
POLL_SECONDS = 0.5  # how long one consume() may block: bounds how late a stop signal is noticed


@dataclass(frozen=True)
class Connection:
    """Where tail reads, and whether that is the embedded Tansu broker (which needs the workarounds)."""

    bootstrap: str
    registry_url: str | None
    embedded: bool


def connection(bootstrap: str | None, registry_url: str | None) -> Connection:
    """The given broker, else the running embedded stack's; embedded when it is the stack's broker."""
    from producer.embedded import stack

    info = stack.status()
    if bootstrap is not None:
        return Connection(bootstrap, registry_url, info is not None and bootstrap == info.bootstrap_servers)
    if info is None:
        raise UsageError(
            "--bootstrap-servers: expected a broker (or KAFKA_BOOTSTRAP_SERVERS), found none, "
            "and no embedded broker is running (start one with `datagen run` or `datagen embedded start`)"
        )
    return Connection(info.bootstrap_servers, registry_url or info.registry_url, True)


def tail(
    topic: str,
    n: int,
    bootstrap: str | None,
    registry_url: str | None,
    timeout: float = 10.0,
    conf: dict[str, str] | None = None,
    group: str | None = None,
    follow: bool = False,
    conf_sources: dict[str, str] | None = None,
) -> int:
    """Print the last `n` events of `topic` (in timestamp order); with `follow`, then every new one until signalled."""
    from confluent_kafka import Consumer

    conf = conf or {}
    if "group.id" in conf:
        source = (conf_sources or {}).get("group.id", "-X group.id")
        raise UsageError(f"{source}: expected --group NAME for tail's consumer group, found {conf['group.id']!r}")
    check_client_conf(conf, registry_url, consumer=True, sources=conf_sources)  # a bad -X fails before connecting
    link = connection(bootstrap, registry_url)
    explicit_group = group is not None
    commit = follow and explicit_group and not link.embedded
    group = group or f"{GROUP_PREFIX}{uuid.uuid4().hex[:12]}"
    decode = _decoder(topic, link.registry_url, registry_part(conf))
    with _stop_on_signal(follow) as stop:
        consumer = Consumer(_consumer_conf(link.bootstrap, group, commit, conf))
        try:
            level = logging.INFO if follow else logging.DEBUG  # a plain tail prints events only
            reader = _Reader(consumer, topic, n, resume=commit, eof_only=link.embedded, log_level=level)
            reader.incremental = _incremental(kafka_part(conf))
            partitions = _partitions(consumer, topic, link.bootstrap)
            shown = "(none: assign)" if link.embedded else group
            log.log(level, "tail topic=%s group=%s follow=%s commit=%s", topic, shown, follow, commit)
            if link.embedded:
                # Tansu: a group join takes ~20 s there, so read with assign() and no group (nor --group)
                if explicit_group:
                    log.warning("tail on the embedded broker reads without a group: --group %s not joined", group)
                reader.on_assign(consumer, partitions)
            else:
                consumer.subscribe(
                    [topic], on_assign=reader.on_assign, on_revoke=reader.on_revoke, on_lost=reader.on_revoke
                )
            if follow:
                _follow(consumer, decode, commit, stop)
                return 0
            messages = reader.read_to_end(timeout)
        finally:
            consumer.close()  # leaves the group; with commit on, commits what was printed
    messages.sort(key=lambda m: (m.timestamp()[1], m.partition(), m.offset()))
    for message in messages[-n:] if n else []:
        sys.stdout.write(to_json(decode(message.value())) + "\n")
    sys.stdout.flush()
    return 0


def _consumer_conf(bootstrap: str, group: str, commit: bool, conf: dict[str, str]) -> dict[str, Any]:
    """The consumer's settings: offsets committed only when `commit`, and only once printed."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": "datagen-tail",
        "enable.auto.commit": commit,
        "enable.auto.offset.store": False,  # stored once printed, so a commit never runs ahead of stdout
        "auto.offset.reset": "earliest",  # a committed offset deleted by retention since: the oldest left
        "enable.partition.eof": True,
        **kafka_part(conf),
    }


def _incremental(kafka_conf: dict[str, str]) -> bool:
    """Whether the group hands out partitions incrementally (cooperative assignor, or KIP-848's protocol)."""
    strategy = kafka_conf.get("partition.assignment.strategy", "")
    return "cooperative" in strategy or kafka_conf.get("group.protocol", "classic").lower() == "consumer"


def _partitions(consumer: Any, topic: str, bootstrap: str) -> list[Any]:
    """Every partition of `topic`; UsageError if it does not exist, BrokerUnavailable if the broker does not answer."""
    from confluent_kafka import KafkaException, TopicPartition

    try:
        metadata = consumer.list_topics(topic, timeout=10)
    except KafkaException as exc:
        raise BrokerUnavailable(f"broker {safe_url(bootstrap)} unreachable: {exc.args[0].str()}") from exc
    partitions = metadata.topics.get(topic)
    if partitions is None or partitions.error is not None or not partitions.partitions:
        raise UsageError(f"topic {topic!r}: expected an existing topic, found none on {safe_url(bootstrap)}")
    return [TopicPartition(topic, p) for p in sorted(partitions.partitions)]


class _Reader:
    """Where reading starts on each partition this member is given, and, without --follow, where it ends."""

    def __init__(self, consumer: Any, topic: str, n: int, resume: bool, eof_only: bool, log_level: int) -> None:
        self.consumer, self.topic, self.n, self.log_level = consumer, topic, n, log_level
        self.resume = resume  # start at the group's committed offset where it has one
        # Tansu 0.6 under-reports the high watermark, so there a partition ends at end-of-partition only
        self.eof_only = eof_only
        self.ends: dict[int, int] = {}  # partition -> the high watermark when it was assigned, while not read up to it
        self.assigned = False
        self.incremental = False  # partitions come and go one by one (else each rebalance replaces them all)

    def on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        """Seek every partition given to its last N records (or the group's committed offset)."""
        from confluent_kafka import TopicPartition

        committed = consumer.committed(partitions, timeout=10) if self.resume and partitions else partitions
        starts = []
        for tp in committed:
            low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, tp.partition), timeout=10)
            start = tp.offset if self.resume and tp.offset >= 0 else max(low, high - self.n)
            if high > start or self.eof_only:
                self.ends[tp.partition] = high
            starts.append(TopicPartition(self.topic, tp.partition, start))
        (consumer.incremental_assign if self.incremental else consumer.assign)(starts)
        self.assigned = True
        shown = ",".join(f"{tp.partition}:{tp.offset}" for tp in starts)
        log.log(self.log_level, "tail assigned topic=%s partitions=%s", self.topic, shown or "(none)")

    def on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Forget partitions taken away (another member reads them now); an eager revoke waits for the next assign."""
        for tp in partitions:
            self.ends.pop(tp.partition, None)
        self.assigned = self.assigned and self.incremental

    def read_to_end(self, timeout: float) -> list[Any]:
        """Every message from the assigned offsets to each partition's end, or what came before `timeout`."""
        from confluent_kafka import KafkaError

        out: dict[tuple[int, int], Any] = {}  # by (partition, offset): a partition assigned again is read again
        deadline = time.monotonic() + timeout
        while not (self.assigned and not self.ends) and time.monotonic() < deadline:
            for message in self.consumer.consume(BATCH, POLL_SECONDS):
                error, partition = message.error(), message.partition()
                if error is None and partition in self.ends:
                    out[partition, message.offset()] = message
                    if not self.eof_only and message.offset() + 1 >= self.ends[partition]:
                        del self.ends[partition]
                elif error is not None and error.code() == KafkaError._PARTITION_EOF:
                    self.ends.pop(partition, None)
        return list(out.values())


def _follow(consumer: Any, decode: Callable[[bytes], Any], commit: bool, stop: threading.Event) -> None:
    """Print every message as it comes until `stop` is set; with `commit`, store each printed offset."""
    from confluent_kafka import KafkaException, TopicPartition

    while not stop.is_set():
        printed: dict[tuple[str, int], int] = {}
        for message in consumer.consume(BATCH, POLL_SECONDS):
            if message.error() is None:
                sys.stdout.write(to_json(decode(message.value())) + "\n")
                printed[message.topic(), message.partition()] = message.offset() + 1
        sys.stdout.flush()
        if commit and printed:
            # revoked meanwhile (KafkaException): its next reader starts from the last commit
            with contextlib.suppress(KafkaException):
                consumer.store_offsets(offsets=[TopicPartition(t, p, o) for (t, p), o in printed.items()])


@contextlib.contextmanager
def _stop_on_signal(active: bool) -> Iterator[threading.Event]:
    """If `active`, an event set by the first SIGINT or SIGTERM (a second interrupts); handlers restored at exit."""
    stop = threading.Event()
    if not active or threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info("signal received signal=%s; stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _decoder(topic: str, registry_url: str | None, registry_conf: dict[str, Any]) -> Callable[[bytes], Any]:
    """Decode Confluent-framed Avro through the registry; JSON values pass through."""
    import json

    deserializer = None

    def decode(value: bytes) -> dict:
        nonlocal deserializer
        if value[:1] != b"\x00":
            return json.loads(value)
        if deserializer is None:
            if registry_url is None:
                raise UsageError(
                    "--schema-registry-url: expected a registry to decode Avro (or SCHEMA_REGISTRY_URL), found none"
                )
            from confluent_kafka.schema_registry import SchemaRegistryClient
            from confluent_kafka.schema_registry.avro import AvroDeserializer
            from confluent_kafka.serialization import MessageField, SerializationContext

            avro = AvroDeserializer(SchemaRegistryClient({"url": registry_url, **registry_conf}))
            ctx = SerializationContext(topic, MessageField.VALUE)
            deserializer = lambda raw: avro(raw, ctx)  # noqa: E731
        return deserializer(value)

    return decode
