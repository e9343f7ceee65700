"""Delayed fraud labels: confirmed-fraud and chargeback records that reach <prefix>labels days later in event time.

Which events get a label, and each label's delay, are decided per event from a hash of the
scenario seed, the label kind and the event id, never from a random stream: a shard labels
exactly the events the unsharded run labels, with the same delays. A label waits in a queue
until the run's event time (the latest event time seen) reaches its label time, then goes out
with that batch, in (label time, label id) order. See docs/delayed_labels.md.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from statistics import NormalDist
from typing import Any

import numpy as np

from producer.domains.common.base import Event
from producer.domains.common.columns import Part, to_datetime, values
from producer.domains.common.rows import DISORDERS, RowSet
from producer.scenario.model import CHARGEBACK_STREAM, DelayedLabels, LabelDelay

LABELS = "labels"
_DUPLICATE = DISORDERS.index("duplicate")  # the second copy of a duplicated event: its original is labelled
_NAMESPACE = uuid.UUID("0b6f3f0e-5d3c-4f7e-9c61-2f1a8e4d7b35")
_UNIT = 2.0**-53
_NORMAL = NormalDist()
# card payments: a transaction-initiated whose funding source is a card (Stripe) starts one; its
# transaction-completed is the settled payment a cardholder can dispute
CARD_STARTED, CARD_SETTLED, CARD_SOURCE = "transaction-initiated", "transaction-completed", "stripe"
MAX_CARD_MEMORY = 100_000  # card-funded fraudulent transactions remembered until they settle (oldest forgotten)
COUNTS = ("made", "sent_when_due", "sent_early", "held_at_end")


def uniform(seed: int, kind: str, event_id: str, draw: int) -> float:
    """A number in (0, 1) fixed by (seed, kind, event id, draw): the same in every shard."""
    digest = hashlib.blake2b(f"{seed}|{kind}|{event_id}|{draw}".encode(), digest_size=8).digest()
    return ((int.from_bytes(digest, "big") >> 11) + 0.5) * _UNIT


def delay_seconds(delay: LabelDelay, u: float) -> float:
    """The delay at quantile `u` of the distribution truncated to [min, max] (inverse CDF, so exact)."""
    low, high = _cdf(delay, delay.min), _cdf(delay, delay.max)
    p = low + u * (high - low)
    if delay.distribution == "lognormal":
        assert delay.median is not None
        seconds = delay.median * math.exp(delay.sigma * _NORMAL.inv_cdf(min(max(p, 1e-300), 1 - 1e-16)))
    else:
        assert delay.mean is not None
        seconds = -delay.mean * math.log1p(-p)
    return min(max(seconds, delay.min), delay.max)


def _cdf(delay: LabelDelay, seconds: float) -> float:
    """P(delay <= seconds) of the untruncated distribution."""
    if seconds <= 0:
        return 0.0
    if delay.distribution == "lognormal":
        assert delay.median is not None
        return _NORMAL.cdf(math.log(seconds / delay.median) / delay.sigma)
    assert delay.mean is not None
    return -math.expm1(-seconds / delay.mean)


@dataclass(frozen=True, order=True)
class Label:
    """One label, ordered by when it is due."""

    label_time_us: int
    label_id: str
    kind: str
    event_id: str
    topic: str
    entity_key: str
    event_type: str
    event_time_us: int
    pattern: str
    amount: Decimal | None
    episode_id: str | None

    def value(self) -> dict[str, Any]:
        """The record value (schemas/common/labels.avsc)."""
        return {
            "label_id": self.label_id,
            "kind": self.kind,
            "event_id": self.event_id,
            "topic": self.topic,
            "entity_key": self.entity_key,
            "event_type": self.event_type,
            "event_time": to_datetime(self.event_time_us),
            "label_time": to_datetime(self.label_time_us),
            "pattern": self.pattern,
            "amount": self.amount,
            "episode_id": self.episode_id,
        }


class LabelQueue:
    """Makes the labels of a run's events and hands each out once the run's event time reaches it."""

    def __init__(self, config: DelayedLabels, seed: int, prefix: str = "") -> None:
        self.config, self.seed, self.prefix = config, seed, prefix
        self.sources = dict(config.confirmed_fraud.streams)
        self._wanted = {stream: {*rule.event_types} for stream, rule in self.sources.items()}
        self._wanted.setdefault(CHARGEBACK_STREAM, set()).update((CARD_STARTED, CARD_SETTLED))
        self._pending: list[Label] = []
        self._cards: OrderedDict[str, None] = OrderedDict()  # transaction ids of card-funded frauds not yet settled
        self.now_us = -1  # the run's event time: the latest event time seen
        self.counts = dict.fromkeys(COUNTS, 0)  # read by the run's stats (keys fixed: read from another thread)

    def observe(self, rows: RowSet) -> list[Label]:
        """Queue the labels of a batch's events; returns the labels now due, in order."""
        for event in self._candidates(rows):
            self._label(event)
        if len(rows):
            self.now_us = max(self.now_us, int(rows.time_us.max()))
        due = []
        while self._pending and self._pending[0].label_time_us <= self.now_us:
            due.append(heapq.heappop(self._pending))
        self.counts["sent_when_due"] += len(due)
        while len(self._pending) > self.config.max_pending:  # bounded memory: the earliest goes early, counted
            due.append(heapq.heappop(self._pending))
            self.counts["sent_early"] += 1
        return due

    def finish(self) -> list[Label]:
        """The labels not yet due at the end of the run: all of them (at_end send) or none (hold); counted."""
        rest = sorted(self._pending)
        self._pending.clear()
        if self.config.at_end == "hold":
            self.counts["held_at_end"] += len(rest)
            return []
        self.counts["sent_early"] += len(rest)
        return rest

    @property
    def pending(self) -> int:
        """Labels made and not handed out yet."""
        return len(self._pending)

    def _candidates(self, rows: RowSet) -> list[Event]:
        """The anomalous events of wanted streams and event types in the batch, in send order.

        Send order matters: a card payment's transaction-initiated must be seen before its
        transaction-completed whatever the batch boundaries (second copies of duplicates left out).
        """
        found: list[tuple[int, Event]] = []
        for part, group in rows.groups():
            wanted = self._wanted.get(part.stream)
            if not wanted or (isinstance(part, Part) and (part.event_type not in wanted or part.truth is None)):
                continue
            at = group if rows.disorder is None else group[rows.disorder[group] != _DUPLICATE]
            if isinstance(part, Part):  # only anomalous rows become Events: a few percent of the part
                assert part.truth is not None
                at = at[np.array(values(part.truth.is_anomaly, rows.row[at], len(at)), dtype=bool)]
            for position, event in zip(at.tolist(), part.events(rows.row[at])):
                truth = event.value.get("truth")
                if truth and truth["is_anomaly"] and event.value["event_type"] in wanted:
                    found.append((position, event))
        found.sort(key=itemgetter(0))
        return [event for _, event in found]

    def _label(self, event: Event) -> None:
        """Queue the labels one anomalous event earns (none, confirmed fraud, chargeback or both)."""
        value, truth = event.value, event.value["truth"]
        pattern, event_type = truth["pattern"] or "anomaly", value["event_type"]
        rule = self.sources.get(event.stream)
        if rule is not None and pattern in rule.patterns and event_type in rule.event_types:
            self._maybe(event, "confirmed_fraud", self.config.confirmed_fraud.share, self.config.confirmed_fraud.delay)
        if event.stream != CHARGEBACK_STREAM or pattern not in self.config.chargeback.patterns:
            return
        payload = value["payload"]
        if event_type == CARD_STARTED and payload["source"]["type"] == CARD_SOURCE:
            self._cards[payload["transaction_id"]] = None
            if len(self._cards) > MAX_CARD_MEMORY:
                self._cards.popitem(last=False)
        elif event_type == CARD_SETTLED and payload["transaction_id"] in self._cards:
            del self._cards[payload["transaction_id"]]
            self._maybe(event, "chargeback", self.config.chargeback.share, self.config.chargeback.delay)

    def _maybe(self, event: Event, kind: str, share: float, delay: LabelDelay) -> None:
        """Queue a label of `kind` for a `share` of such events, after a drawn delay."""
        event_id = event.value["event_id"]
        if uniform(self.seed, kind, event_id, 0) >= share:
            return
        delay_us = max(1, round(delay_seconds(delay, uniform(self.seed, kind, event_id, 1)) * 1e6))
        payload, truth = event.value["payload"], event.value["truth"]
        amount = payload.get("amount", payload.get("send_amount"))
        label = Label(
            label_time_us=event.time_us + delay_us,
            label_id=str(uuid.uuid5(_NAMESPACE, f"{kind}|{event_id}")),
            kind=kind,
            event_id=event_id,
            topic=self.prefix + event.stream,
            entity_key=event.key,
            event_type=event.value["event_type"],
            event_time_us=event.time_us,
            pattern=truth["pattern"],
            amount=amount if isinstance(amount, Decimal) else None,
            episode_id=truth.get("episode_id"),
        )
        heapq.heappush(self._pending, label)
        self.counts["made"] += 1
