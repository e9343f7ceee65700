"""fintech.circles as columns: a block's lifecycle steps gathered into one Part per event type.

A block's rows are (event time, circle, step) in emission order; each money step (a received
contribution, a payout) is followed in that order by its transaction-initiated and -completed on
fintech.transactions. Steps are transposed per event type (one tuple field = one column) and the
circles' terms gathered per row, so no dict is built per event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from producer.domains.common.base import BlockContext, StreamSpec
from producer.domains.common.columns import Decimals, Micros, Part, TruthColumns
from producer.domains.fintech.circles_lifecycle import (
    COMPLETED,
    CREATED,
    DROP_REASONS,
    DROPPED,
    EVENT_TYPES,
    FAILED,
    FAILURE_REASONS,
    FREQUENCIES,
    JOINED,
    MISSED,
    PATTERNS,
    PAYOUT,
    RECEIVED,
    VERIFICATION,
    Circle,
    iso_day,
)

Step = tuple[Any, ...]
Columns = dict[str, Any]
# enum symbols and labels by index, as object arrays to gather from
PATTERN_NAMES = np.array(PATTERNS, dtype=object)
RISK_LEVELS = np.array([None if k == 0 else "high" for k in range(len(PATTERNS))], dtype=object)
VERIFICATION_NAMES, FREQUENCY_NAMES = np.array(VERIFICATION, dtype=object), np.array(FREQUENCIES, dtype=object)
DROP_NAMES, FAILURE_NAMES = np.array(DROP_REASONS, dtype=object), np.array(FAILURE_REASONS, dtype=object)
ROLE_NAMES = np.array(["organizer", "member"], dtype=object)
ROTATION_NAMES = np.array(["sequential", "random"], dtype=object)
TX_TYPE_NAMES = np.array(["circle_contribution", "circle_payout"], dtype=object)


class Transfers(NamedTuple):
    """What CirclesGenerator._transfers drew for each money step, one array per field, money-step order."""

    device_id: np.ndarray
    device_type: np.ndarray
    ip: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    city: np.ndarray
    state: np.ndarray
    country: np.ndarray
    card: np.ndarray
    funding: np.ndarray
    bank: np.ndarray
    fee: np.ndarray
    proc_ms: np.ndarray


class Block(NamedTuple):
    """A block's rows (times, circles, steps in emission order) and what every row's Part needs."""

    times: np.ndarray
    circles: list[Circle]
    steps: list[Step]
    kind: np.ndarray
    pattern: np.ndarray
    injected: np.ndarray
    money: np.ndarray  # bool per row: a received contribution or a payout
    base_seq: np.ndarray  # each row's circle event's place in emission order
    ids: list[str]  # event ids, correlation ids, then per money step tx id, initiated id, completed id


def block_rows(times: np.ndarray, circles: list[Circle], steps: list[Step], ids: list[str]) -> Block:
    """The block's rows with their kinds, labels and places in emission order."""
    n = len(steps)
    kind = np.fromiter((s[0] for s in steps), np.int64, n)
    pattern = np.fromiter((s[1] for s in steps), np.int64, n)
    injected = np.fromiter((c.injected[s[1]] for c, s in zip(circles, steps)), bool, n)
    money = (kind == RECEIVED) | (kind == PAYOUT)
    before = np.cumsum(money) - money  # money steps before each row: each adds two transaction events
    base_seq = np.arange(n, dtype=np.int64) + 2 * before
    return Block(times, circles, steps, kind, pattern, injected, money, base_seq, ids)


def money_columns(block: Block, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per money step, in order: the member's user index, the cents moved, whether a payout, whether a fraud."""
    rows = np.flatnonzero(block.money).tolist()
    circles, steps = block.circles, block.steps
    users = np.array([circles[i].members[steps[i][2]] for i in rows], dtype=np.int64)
    payout = block.kind[rows] == PAYOUT
    fraud = block.pattern[rows] == PATTERNS.index("fraud")
    cents = np.array([steps[i][4] if steps[i][0] == PAYOUT else circles[i].cents for i in rows], dtype=np.int64)
    return users, cents, payout, fraud


def iso_days(days: np.ndarray) -> np.ndarray:
    """Day numbers as ISO-8601 dates (object array), each distinct day converted once."""
    distinct, inverse = np.unique(days, return_inverse=True)
    return np.array([iso_day(d) for d in distinct.tolist()], dtype=object)[inverse.reshape(-1)]


def _truth(ctx: BlockContext, pattern: np.ndarray, injected: np.ndarray) -> TruthColumns:
    """Labels by pattern; one shared value for a part of ordinary rows only (most of them)."""
    if not pattern.any() and not injected.any():
        return ctx.truth()
    return ctx.truth(
        is_anomaly=pattern != 0,
        pattern=PATTERN_NAMES[pattern],
        risk_level=RISK_LEVELS[pattern],
        injected=injected,
    )


def circle_parts(
    spec: StreamSpec, ctx: BlockContext, block: Block, user_ids: np.ndarray, tx_ids: np.ndarray
) -> list[Part]:
    """One Part per circle event type among the block's rows, empty types left out."""
    n = len(block.steps)
    event_ids, corr = np.array(block.ids[:n], dtype=object), np.array(block.ids[n : 2 * n], dtype=object)
    money_pos = np.cumsum(block.money) - 1  # each money row's place among the money steps
    parts = []
    for k, event_type in enumerate(EVENT_TYPES):
        rows = np.flatnonzero(block.kind == k)
        if not len(rows):
            continue
        circles = [block.circles[i] for i in rows.tolist()]
        fields = list(zip(*(block.steps[i] for i in rows.tolist())))
        payload = {"circle_id": np.array([c.circle_id for c in circles], dtype=object)}
        payload |= PAYLOADS[k](circles, fields, user_ids)
        if k in (RECEIVED, PAYOUT):
            payload["transaction_id"] = tx_ids[money_pos[rows]]  # the payload's last field, as the schema orders it
        parts.append(
            Part(
                stream=spec.name,
                event_type=event_type,
                source_service=spec.source_service,
                time_us=block.times[rows],
                key=payload["circle_id"],
                event_id=event_ids[rows],
                correlation_id=corr[rows],
                payload=payload,
                truth=_truth(ctx, block.pattern[rows], block.injected[rows]),
                seq=block.base_seq[rows],
            )
        )
    return parts


def transaction_parts(
    spec: StreamSpec,
    ctx: BlockContext,
    block: Block,
    money: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    uids: np.ndarray,
    tx: Transfers,
) -> list[Part]:
    """transaction-initiated and -completed on fintech.transactions for each contribution or payout."""
    rows = np.flatnonzero(block.money)
    m, n = len(rows), len(block.steps)
    if not m:
        return []
    _, cents, payout, _ = money
    ids = np.array(block.ids[2 * n :], dtype=object)
    tx_ids, init_ids, done_ids = ids[:m], ids[m::2], ids[m + 1 :: 2]
    corr = np.array(block.ids[n : 2 * n], dtype=object)[rows]
    pool = np.array([block.circles[i].pool_id for i in rows.tolist()], dtype=object)
    truth = _truth(ctx, block.pattern[rows], block.injected[rows])
    t, seq = block.times[rows], block.base_seq[rows]
    head: Columns = {"transaction_id": tx_ids, "user_id": uids, "type": TX_TYPE_NAMES[payout.astype(np.int64)]}
    head["amount"] = Decimals(cents, 2)
    initiated = head | {
        "currency": "USD",
        "source": {
            "type": np.where(payout, "circle_pool", np.where(tx.card, "stripe", "bank_account")).astype(object),
            "identifier": np.where(payout, pool, tx.funding),
        },
        "destination": {
            "type": np.where(payout, "bank_account", "circle_pool").astype(object),
            "identifier": np.where(payout, tx.bank, pool),
        },
        "initiated_at": Micros(t),
        "ip_address": tx.ip,
        "device_id": tx.device_id,
        "device_type": tx.device_type,
        "geo_location": {
            "latitude": tx.lat,
            "longitude": tx.lon,
            "country": tx.country,
            "city": tx.city,
            "state": tx.state,
        },
    }
    done_us = t + tx.proc_ms * 1000
    completed = head | {
        "fee_amount": Decimals(tx.fee, 2),
        "net_amount": Decimals(cents - tx.fee, 2),  # exact: both scale 2, as Decimal subtraction gives
        "currency": "USD",
        "completed_at": Micros(done_us),
        "processing_time_ms": tx.proc_ms,
    }
    common: dict[str, Any] = {"stream": spec.name, "source_service": spec.source_service, "key": uids, "truth": truth}
    return [
        Part(event_type="transaction-initiated", time_us=t, event_id=init_ids, correlation_id=corr,
             payload=initiated, seq=seq + 1, **common),
        Part(event_type="transaction-completed", time_us=done_us, event_id=done_ids, correlation_id=corr,
             payload=completed, seq=seq + 2, **common),
    ]  # fmt: skip


# --- payload columns of each circle event after circle_id, one builder per step kind. A builder gets
# the rows' circles, the columns of their step tuples (laid out as circles_lifecycle plans them) and
# the user ids.
Fields = list[tuple[Any, ...]]


def _ints(column: tuple[Any, ...]) -> np.ndarray:
    return np.array(column, dtype=np.int64)


def _members(circles: list[Circle], slots: tuple[Any, ...], user_ids: np.ndarray) -> np.ndarray:
    """The user id of each row's member at `slots`."""
    return user_ids[np.array([c.members[s] for c, s in zip(circles, slots)], dtype=np.int64)]


def _cents(circles: list[Circle]) -> Decimals:
    return Decimals(np.array([c.cents for c in circles], dtype=np.int64), 2)


def _created(circles: list[Circle], fields: Fields, user_ids: np.ndarray) -> Columns:
    """circle-created: the circle's terms."""
    return {
        "organizer_id": user_ids[np.array([c.members[0] for c in circles], dtype=np.int64)],
        "name": np.array([c.name for c in circles], dtype=object),
        "contribution_amount": _cents(circles),
        "currency": "USD",
        "frequency": FREQUENCY_NAMES[_ints(tuple(c.frequency for c in circles))],
        "max_members": _ints(tuple(c.size for c in circles)),
        "rotation_order": ROTATION_NAMES[np.array([c.random_rotation for c in circles], dtype=np.int64)],
        "start_date": iso_days(_ints(tuple(c.start_day for c in circles))),
        "status": "pending",
    }


def _joined(circles: list[Circle], fields: Fields, user_ids: np.ndarray) -> Columns:
    """circle-member-joined."""
    _, _, slot, status, day = fields
    slots = _ints(slot)
    return {
        "member_id": _members(circles, slot, user_ids),
        "position": slots + 1,
        "role": ROLE_NAMES[(slots > 0).astype(np.int64)],
        "verification_status": VERIFICATION_NAMES[_ints(status)],
        "joined_date": iso_days(_ints(day)),
    }


def _received(circles: list[Circle], fields: Fields, user_ids: np.ndarray) -> Columns:
    """circle-contribution-received (the caller adds its transaction_id)."""
    _, _, slot, cycle, due, paid, late = fields
    days_late = _ints(late)
    return {
        "member_id": _members(circles, slot, user_ids),
        "cycle": _ints(cycle),
        "amount": _cents(circles),
        "currency": "USD",
        "due_date": iso_days(_ints(due)),
        "paid_date": iso_days(_ints(paid)),
        "days_late": days_late,
        "status": np.where(days_late != 0, "late", "on_time").astype(object),
    }


def _missed(circles: list[Circle], fields: Fields, user_ids: np.ndarray) -> Columns:
    """circle-contribution-missed."""
    _, _, slot, cycle, due, count = fields
    return {
        "member_id": _members(circles, slot, user_ids),
        "cycle": _ints(cycle),
        "amount_due": _cents(circles),
        "currency": "USD",
        "due_date": iso_days(_ints(due)),
        "missed_count": _ints(count),
    }


def _payout(circles: list[Circle], fields: Fields, user_ids: np.ndarray) -> Columns:
    """circle-payout-executed (the caller adds its transaction_id)."""
    _, _, slot, cycle, cents, day, position, received, missed = fields
    return {
        "recipient_id": _members(circles, slot, user_ids),
        "cycle": _ints(cycle),
        "amount": Decimals(_ints(cents), 2),
        "currency": "USD",
        "payout_date": iso_days(_ints(day)),
        "rotation_position": _ints(position),
        "contributions_received": _ints(received),
        "contributions_missed": _ints(missed),
    }


def _dropped(circles: list[Circle], fields: Fields, user_ids: np.ndarray) -> Columns:
    """circle-member-dropped."""
    _, _, slot, cycle, reason, day, got_payout, made, remaining = fields
    return {
        "member_id": _members(circles, slot, user_ids),
        "cycle": _ints(cycle),
        "reason": DROP_NAMES[_ints(reason)],
        "dropped_date": iso_days(_ints(day)),
        "received_payout": np.array(got_payout, dtype=bool),
        "contributions_made": _ints(made),
        "members_remaining": _ints(remaining),
    }


def _failed(circles: list[Circle], fields: Fields, user_ids: np.ndarray) -> Columns:
    """circle-failed."""
    _, _, reason, cycle, day, remaining, cycles, paid_out = fields
    return {
        "reason": FAILURE_NAMES[_ints(reason)],
        "cycle": _ints(cycle),
        "failed_date": iso_days(_ints(day)),
        "members_remaining": _ints(remaining),
        "cycles_completed": _ints(cycles),
        "total_paid_out": Decimals(_ints(paid_out), 2),
        "currency": "USD",
    }


def _completed(circles: list[Circle], fields: Fields, user_ids: np.ndarray) -> Columns:
    """circle-completed."""
    _, _, cycles, day, remaining, dropped, paid_out = fields
    return {
        "cycles_completed": _ints(cycles),
        "completed_date": iso_days(_ints(day)),
        "members_remaining": _ints(remaining),
        "members_dropped": _ints(dropped),
        "total_paid_out": Decimals(_ints(paid_out), 2),
        "currency": "USD",
    }


PAYLOADS: dict[int, Callable[[list[Circle], Fields, np.ndarray], Columns]] = {
    CREATED: _created,
    JOINED: _joined,
    RECEIVED: _received,
    MISSED: _missed,
    PAYOUT: _payout,
    DROPPED: _dropped,
    FAILED: _failed,
    COMPLETED: _completed,
}
