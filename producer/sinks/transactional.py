"""The Kafka sink with `--transactional-id`: each batch the scheduler hands over is one Kafka transaction.

A consumer reading with `isolation.level=read_committed` sees a batch whole or not at all. Events count as
delivered when their transaction commits; an aborted transaction (say, a leader lost mid-batch) is sent
again whole in a new one, so nothing is counted twice and nothing is dropped. A batch still not committed
after `message.timeout.ms`, or when a signal's budget runs out, is aborted and counted as failed, as the
plain sink counts a timed-out event.

Transactions also keep Kafka's duplicate detection when record timestamps are old: the broker never expires
a producer with a transaction open, whereas an idempotent producer whose records are stamped more than
`producer.id.expiration.ms` in the past is forgotten (and a retried batch may be appended twice).
"""

from __future__ import annotations

import enum
import logging
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from producer.errors import BrokerUnavailable
from producer.sinks.base import Record, TopicInfo
from producer.sinks.kafka import KafkaSink

log = logging.getLogger(__name__)
SLICE = 1.0  # seconds one blocking transaction call may take before the stop flag is looked at again
STOP_BUDGET = 3.0  # seconds a signalled run still tries to commit the open batch (the flush budget is 4 s)


class _Outcome(enum.Enum):
    COMMITTED = "committed"
    ABORTED = "aborted"  # send the batch again in a new transaction
    GAVE_UP = "gave up"  # count the batch as failed


class TransactionalKafkaSink(KafkaSink):
    """KafkaSink whose every write() is one transaction, counted when it commits."""

    # a commit is a few round trips that block the scheduler: 100 ms ticks (not 20) keep that a small
    # share of each tick, so the asked-for rate holds; one tick's batch is one transaction
    tick = 0.1

    def __init__(self, *args: Any, transactional_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transactional_id = transactional_id
        self._fatal: str | None = None
        self._stopped_at: float | None = None
        self._abort_pending = False  # an abort that did not go through yet: done before the next transaction
        self._batch_timeout = int(self.producer_conf()["message.timeout.ms"]) / 1000  # seconds a batch may take
        self.aborted = 0  # transactions aborted and sent again

    def producer_conf(self) -> dict[str, Any]:
        """The plain sink's configuration plus the transactional id (and a transaction timeout that allows it)."""
        conf = super().producer_conf()
        # librdkafka wants message.timeout.ms <= transaction.timeout.ms (60 s by default; ours is 120 s)
        timeout = {"transaction.timeout.ms": max(60000, int(conf["message.timeout.ms"]))}
        return {**conf, **timeout, **self.overrides, "transactional.id": self.transactional_id}

    def open(self, topics: list[TopicInfo]) -> None:
        """Open as the plain sink does, then register the transactional id (fencing an older holder)."""
        super().open(topics)
        # a producer with a transaction open is never expired by the broker: the warning does not apply
        self._producer_expiration = None
        assert self._producer is not None
        while True:
            try:
                self._producer.init_transactions(SLICE)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if not error.retriable() or self._stop.is_set():
                    raise self._unusable(error) from exc

    def _unusable(self, error: KafkaError) -> BrokerUnavailable:
        """The error that ends a run whose transactional id cannot be registered (exit 3)."""
        return BrokerUnavailable(f"--transactional-id {self.transactional_id}: {error.name()}: {error.str()}")

    def write(self, records: list[Record]) -> None:
        """One transaction for the batch; aborted ones are sent again until committed or given up."""
        if not records:
            return
        self._check_record_times(records)
        started = time.monotonic()
        while True:
            outcome = _Outcome.GAVE_UP if self._fatal else self._transaction(records, started)
            if outcome is _Outcome.COMMITTED:
                self._tally(records, self._delivered)  # committed: every record of the batch is on its topic
            if outcome is not _Outcome.ABORTED:
                break
            self.aborted += 1
            log.warning("transaction aborted; sending its %d events again in a new one", len(records))
        if outcome is _Outcome.GAVE_UP:
            self.first_error = self.first_error or self._fatal or "transaction not committed in time"
            self._tally(records, self._failed)
        self._report()

    def _transaction(self, records: list[Record], started: float) -> _Outcome:
        """Begin, produce every record, commit: what became of it."""
        producer = self._producer
        assert producer is not None, "open() first"
        if self._abort_pending and not self._abort(started):
            return _Outcome.GAVE_UP
        try:
            producer.begin_transaction()
        except KafkaException as exc:  # a state or fatal error: nothing to retry
            self.first_error = self.first_error or f"{exc.args[0].name()}: {exc.args[0].str()}"
            return self._after_error(exc.args[0], started) or _Outcome.GAVE_UP
        if self._produce(records) < len(records):  # stopped with the local queue full
            self._abort(started)
            return _Outcome.GAVE_UP
        return self._commit(started)

    def _commit(self, started: float) -> _Outcome:
        """Commit in slices, so that a signal or the batch's timeout is noticed."""
        producer = self._producer
        assert producer is not None
        while True:
            try:
                producer.commit_transaction(SLICE)
                return _Outcome.COMMITTED
            except KafkaException as exc:
                outcome = self._after_error(exc.args[0], started)
                if outcome is not None:
                    return outcome

    def _after_error(self, error: KafkaError, started: float) -> _Outcome | None:
        """ABORTED or GAVE_UP after a transaction error, or None to try the same call again."""
        self._remember(error)
        if error.fatal():
            self._fatal = f"{error.name()}: {error.str()} (the producer cannot go on; later batches fail too)"
            self._ready = False
            log.error("transactional producer failed for good: %s", self._fatal)
            return _Outcome.GAVE_UP
        if error.txn_requires_abort():
            aborted = self._abort(started)
            return _Outcome.ABORTED if aborted and not self._out_of_time(started) else _Outcome.GAVE_UP
        if self._out_of_time(started):
            self._abort(started)
            return _Outcome.GAVE_UP
        return None

    def _out_of_time(self, started: float) -> bool:
        """Past the batch's message.timeout.ms, or past the budget a signal leaves."""
        now = time.monotonic()
        if now - started >= self._batch_timeout:
            return True
        if self._stop.is_set():
            self._stopped_at = self._stopped_at or now
            return now - self._stopped_at >= STOP_BUDGET
        return False

    def _abort(self, started: float) -> bool:
        """Abort the open transaction, retrying while the batch has time; False if it is still open."""
        producer = self._producer
        assert producer is not None
        while True:
            try:
                producer.abort_transaction(SLICE)
                self._abort_pending = False
                return True
            except KafkaException as exc:
                error = exc.args[0]
                if not error.retriable() or self._out_of_time(started):
                    # the next batch tries again; else the broker aborts it after transaction.timeout.ms
                    log.warning("abort_transaction failed (%s: %s)", error.name(), error.str())
                    self._abort_pending = True
                    return False

    def _remember(self, error: KafkaError) -> None:
        """Keep a definite (not retriable) error as the first cause."""
        if self.first_error is None and not error.retriable():
            self.first_error = f"{error.name()}: {error.str()}"

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        """Counting waits for the commit; an acknowledgement gives a latency, an error the first cause."""
        if err is not None:
            if self.first_error is None and err.code() not in (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT):
                self.first_error = self.describe_failure(err)
            return
        self._acknowledged(msg)
