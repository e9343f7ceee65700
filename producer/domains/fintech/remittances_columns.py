"""fintech.remittances as columns: the in-flight records store and the Parts its events are gathered into.

A remittance is a row of columns (drawn in blocks by the generator); each of its events is that
row and a step (0 initiated, 1-4 the processing stages, then completed or failed). A block's
events are gathered into one Part per event type by fancy indexing, never one dict per event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from producer.domains.common.base import BlockContext, StreamSpec
from producer.domains.common.columns import Decimals, Micros, Part, TruthColumns
from producer.domains.fintech.remittances_tables import DAY_US, HOUR_US, METHODS, PARTNERS, REFUND_STATUSES, STAGES
from producer.domains.fintech.takeover import in_chain

RATE_SCALE = 10_000  # exchange rates are kept as integers of 1/10,000 HTG
LAST_STEP = len(STAGES) + 1  # the step of a remittance that completes: after its stages, done
COMPACT_SLACK = 4096  # rows of finished remittances the store keeps before it compacts
INITIATED, PROCESSING, COMPLETED, FAILED = range(4)
REMITTANCE_EVENTS = ("remittance-initiated", "remittance-processing", "remittance-completed", "remittance-failed")
# enum symbols by index, as object arrays to gather from
METHOD_NAMES, PARTNER_NAMES = np.array(METHODS, dtype=object), np.array(PARTNERS, dtype=object)
STAGE_NAMES, REFUND_NAMES = np.array(STAGES, dtype=object), np.array(REFUND_STATUSES, dtype=object)
# truth labels by remittance kind (0 genuine, 1 fraud, 2 fraud drawn inside an injection window)
PATTERN_BY_KIND = np.array([None, "fraud", "fraud"], dtype=object)
RISK_BY_KIND = np.array([None, "high", "high"], dtype=object)


def last_steps(fail_stage: np.ndarray) -> np.ndarray:
    """Each remittance's last step: completed after the four stages, or failed after its last stage reached."""
    return np.where(fail_stage == 0, LAST_STEP, fail_stage + 1)


class Records:
    """Remittances in flight as columns: rows appended as they are drawn, compacted once most are done.

    `step` (next step) and `last` (last step) are plain lists, per row: the state loop reads them
    one remittance at a time, where a list is much faster than a numpy array.
    """

    def __init__(self) -> None:
        self.columns: dict[str, np.ndarray] = {}
        self.size = 0
        self.step: list[int] = []
        self.last: list[int] = []

    def append(self, columns: dict[str, np.ndarray], steps: np.ndarray | None = None) -> int:
        """Add one row per remittance in `columns` (next step 1 unless given); the row of the first."""
        n, first = len(columns["fail_stage"]), self.size
        if not self.columns or first + n > len(self.columns["fail_stage"]):
            self._grow(columns, first + n)
        for name, values in columns.items():
            self.columns[name][first : first + n] = values
        self.size = first + n
        self.step.extend([1] * n if steps is None else steps.tolist())
        self.last.extend(last_steps(columns["fail_stage"]).tolist())
        return first

    def _grow(self, like: dict[str, np.ndarray], need: int) -> None:
        """Room for at least `need` rows (doubling, so appends cost O(1) amortised)."""
        capacity = max(2 * need, 1024)
        grown = {name: np.empty((capacity, *v.shape[1:]), dtype=v.dtype) for name, v in like.items()}
        for name, values in self.columns.items():
            grown[name][: self.size] = values[: self.size]
        self.columns = grown

    def compact(self, live: np.ndarray) -> None:
        """Keep only the rows `live`, renumbered 0, 1, ... in that order."""
        for values in self.columns.values():
            values[: len(live)] = values[live]
        self.step[:] = np.asarray(self.step)[live].tolist()
        self.last[:] = np.asarray(self.last)[live].tolist()
        self.size = len(live)


@dataclass(frozen=True, slots=True)
class Steps:
    """Events of remittances: each one's records row, step (0: initiated), instant (µs), emission order and id."""

    rows: np.ndarray
    steps: np.ndarray
    times: np.ndarray
    seq: np.ndarray
    event_ids: np.ndarray

    def take(self, idx: np.ndarray) -> Steps:
        """The events at positions `idx`."""
        return Steps(self.rows[idx], self.steps[idx], self.times[idx], self.seq[idx], self.event_ids[idx])


@dataclass(frozen=True, slots=True)
class Senders:
    """The sender pool as the payloads need it: ids, and account ages (days) at the run's first instant."""

    ids: np.ndarray
    age0_days: np.ndarray
    t0_us: int


def remittance_parts(
    spec: StreamSpec, records: dict[str, np.ndarray], events: Steps, senders: Senders, ctx: BlockContext
) -> list[Part]:
    """One Part per remittance event type among `events` (rows of `records`), empty types left out."""
    rows, steps = events.rows, events.steps
    fail_stage = records["fail_stage"][rows]
    processing = (steps <= len(STAGES)) & ((fail_stage == 0) | (steps <= fail_stage))
    kind = np.where(
        steps == 0, INITIATED, np.where(processing, PROCESSING, np.where(fail_stage == 0, COMPLETED, FAILED))
    )
    builders = (_initiated, _processing, _completed, _failed)
    parts = []
    for k, (event_type, build) in enumerate(zip(REMITTANCE_EVENTS, builders)):
        idx = np.flatnonzero(kind == k)
        if len(idx):
            mine = events.take(idx)
            payload = build(records, mine, senders)
            parts.append(_part(spec, event_type, records, mine, payload, ctx))
    return parts


def _part(
    spec: StreamSpec,
    event_type: str,
    records: dict[str, np.ndarray],
    events: Steps,
    payload: dict[str, Any],
    ctx: BlockContext,
) -> Part:
    """The Part of one event type: envelope columns around `payload`, keyed by sender."""
    return Part(
        stream=spec.name,
        event_type=event_type,
        source_service=spec.source_service,
        time_us=events.times,
        key=payload["sender_id"],
        event_id=events.event_ids,
        correlation_id=records["correlation_id"][events.rows],
        payload=payload,
        truth=_truth(ctx, records["kind"][events.rows], records["episode"][events.rows]),
        seq=events.seq,
    )


def _truth(ctx: BlockContext, kind: np.ndarray, episode: np.ndarray) -> TruthColumns:
    """Labels by remittance kind, and a chain's pattern and id; one shared value for a part without fraud (most)."""
    if not kind.any():
        return ctx.truth()
    chain = in_chain(episode)
    return ctx.truth(
        is_anomaly=kind > 0,
        pattern=np.where(chain, "account_takeover", PATTERN_BY_KIND[kind]) if chain.any() else PATTERN_BY_KIND[kind],
        risk_level=RISK_BY_KIND[kind],
        injected=kind == 2,
        episode_id=episode if chain.any() else None,
    )


def _ids(records: dict[str, np.ndarray], rows: np.ndarray, senders: Senders) -> dict[str, Any]:
    """The first two fields of every remittance payload."""
    return {"remittance_id": records["remittance_id"][rows], "sender_id": senders.ids[records["sender"][rows]]}


def _elapsed_hours(records: dict[str, np.ndarray], events: Steps) -> np.ndarray:
    """Hours from each remittance's initiated event to `events`: what their timestamps say, to 3.6 ms."""
    return np.round((events.times - records["t0"][events.rows]) / HOUR_US, 6)


def _initiated(records: dict[str, np.ndarray], events: Steps, senders: Senders) -> dict[str, Any]:
    """remittance-initiated payload columns; receive_amount is send x the locked rate, half up to the centime."""
    r = events.rows
    send, rate = records["send"][r], records["rate"][r]
    age = senders.age0_days[records["sender"][r]] + (events.times - senders.t0_us) / DAY_US
    return {
        **_ids(records, r, senders),
        "recipient_name": records["name"][r],
        "recipient_phone": records["phone"][r],
        "recipient_country": "HT",
        "recipient_city": records["city"][r],
        "send_amount": Decimals(send, 2),
        "send_currency": "USD",
        # at most $10,000 x a rate of 10^8 HTG in 1/10,000ths: 10^18, inside int64
        "receive_amount": Decimals((send * rate + RATE_SCALE // 2) // RATE_SCALE, 2),
        "receive_currency": "HTG",
        "exchange_rate": Decimals(rate, 4),
        "delivery_method": METHOD_NAMES[records["method"][r]],
        "delivery_partner": PARTNER_NAMES[records["partner"][r]],
        "agent_id": records["agent"][r].tolist(),  # nullable: a list, None where not a cash pickup
        "fee_amount": Decimals(records["fee"][r], 2),
        "sender_account_age_days": age.astype(np.int64),
        "initiated_at": Micros(events.times),
    }


def _processing(records: dict[str, np.ndarray], events: Steps, senders: Senders) -> dict[str, Any]:
    """remittance-processing payload columns: the stage reached and the hours since initiation."""
    r, s = events.rows, events.steps
    return {
        **_ids(records, r, senders),
        "stage": STAGE_NAMES[s - 1],
        "stage_number": s,
        "elapsed_hours": _elapsed_hours(records, events),
        "processed_at": Micros(events.times),
    }


def _completed(records: dict[str, np.ndarray], events: Steps, senders: Senders) -> dict[str, Any]:
    """remittance-completed payload columns."""
    r = events.rows
    send, rate = records["send"][r], records["rate"][r]
    return {
        **_ids(records, r, senders),
        "send_amount": Decimals(send, 2),
        "receive_amount": Decimals((send * rate + RATE_SCALE // 2) // RATE_SCALE, 2),
        "exchange_rate": Decimals(rate, 4),
        "delivery_method": METHOD_NAMES[records["method"][r]],
        "confirmation_code": records["code"][r],
        "processing_time_hours": _elapsed_hours(records, events),
        "completed_at": Micros(events.times),
    }


def _failed(records: dict[str, np.ndarray], events: Steps, senders: Senders) -> dict[str, Any]:
    """remittance-failed payload columns; captured funds (send + fee) are owed back."""
    r = events.rows
    send, refund = records["send"][r], records["refund"][r]
    return {
        **_ids(records, r, senders),
        "send_amount": Decimals(send, 2),
        "failed_stage": STAGE_NAMES[records["fail_stage"][r] - 1],
        "failure_reason": records["reason"][r],
        "refund_status": REFUND_NAMES[refund],
        "refund_amount": Decimals(np.where(refund > 0, send + records["fee"][r], 0), 2),
        "elapsed_hours": _elapsed_hours(records, events),
        "failed_at": Micros(events.times),
    }


def rate_part(
    spec: StreamSpec,
    key: str,
    first_day: int,
    at_us: np.ndarray,
    rates: list[int],
    previous: list[int | None],
    ids: list[str],
    ctx: BlockContext,
) -> Part:
    """exchange-rate-updated for each new day from first_day (a handful per block at most), keyed by `key`."""
    days = range(first_day, first_day + len(rates))
    payload = {
        "base_currency": "USD",
        "quote_currency": "HTG",
        "rate": Decimals(np.asarray(rates, dtype=np.int64), 4),
        # lists: previous_rate is null on the first day; change_pct takes Python's round (numpy's differs)
        "previous_rate": [None if prev is None else Decimal(prev).scaleb(-4) for prev in previous],
        "change_pct": [
            0.0 if prev is None else round((rate / prev - 1) * 100, 4) for rate, prev in zip(rates, previous)
        ],
        "effective_date": [datetime.fromtimestamp(day * 86_400, UTC).date().isoformat() for day in days],
        "updated_at": Micros(at_us),
    }
    return Part(
        stream=spec.name,
        event_type="exchange-rate-updated",
        source_service=spec.source_service,
        time_us=at_us,
        key=key,
        event_id=ids[0::2],
        correlation_id=ids[1::2],
        payload=payload,
        truth=ctx.truth(),
        seq=np.arange(len(rates), dtype=np.int64),
    )
