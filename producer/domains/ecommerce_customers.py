"""ecommerce.customers: weekly churn-feature snapshots of a bounded customer panel, with drift and degradation.

Every arrival is one `customer-snapshot`: the seed's full feature vector for one customer, labelled
with its true risk level (also in the payload, as the seed's data schema has it). An arrival first
draws a risk level from `risk_distribution` (so the label mix follows the parameter at once when
drift moves it), then a customer currently at that level from a bounded panel of `num_customers`
customers (a third per level), and emits that customer's next snapshot.

Compressed rate mode: the event timestamp is the arrival instant; the customer's own calendar is in
the payload: `snapshot_index` counts its snapshots (0, 1, 2, ...), `lifecycle_day` = index x
`snapshot_interval_days` (weekly, as the seed's lifecycle), and `customer_age_days` /
`account_age_days` grow by the interval each snapshot. A customer is followed for `lifecycle_days`
(180: 26 weekly snapshots), then leaves and a fresh customer of its level takes the slot.

Between snapshots a customer evolves plausibly: its rolling metrics (order frequency, visits,
email open, cart abandonment, views, discount and premium rates) wander within its level's seed
range (reflected random walk, so the per-level distribution stays the seed's uniform); recency
grows by the interval and drops back when the customer orders; lifetime counters (orders,
revenue, tickets, returns, refunds, failed payments) only grow. Drift (`drift_factor`,
`drift_direction`) multiplies the emitted features by the seed's formulas (ecommerce_profiles);
its effect on tenure and lifetime totals of low-risk customers applies when a customer joins.

Lifecycle degradation (the seed's lifecycle mode): a share `degrading_share` of customers joining
at low risk degrade over `lifecycle_days` with the seed's formulas (engagement and frequency fall,
recency, cart abandonment and open tickets rise) and are labelled low, then medium (from 30% of the
lifecycle), then high (from 70%). At a level change the customer moves to that level's part of the
panel at the end of the block, displacing a steady customer there (who leaves unannounced; a
degrading one only if no steady one is left), so each level's snapshots keep coming from
`risk_distribution`. Whole lifecycles need medium and high traffic to spare: with every joiner
degrading, the mix must give medium and high clearly more than the lifecycle's own 8/10/8 weeks
per level (20/40/40 keeps every one whole), else some are displaced before they end.

Memory is flat: state is one row per panel slot, and nothing is held back (every event is at its
arrival instant). Drift changes only what is emitted, never the random draws, so a run with
drift_factor 0 equals one without drift, and a drifted run pairs snapshot by snapshot with its base.

The seed has no churn or anomaly label: truth.is_anomaly is False and truth.pattern None on every
event; truth.risk_level is the snapshot's true_risk_level.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar

import numpy as np
from pydantic import Field, field_validator

from producer.domains import ecommerce_profiles as tab
from producer.domains.base import (
    BlockContext,
    DomainParams,
    Event,
    StreamGenerator,
    StreamSpec,
    dollars,
    envelope,
    uuids,
)
from producer.domains.sampling import pick

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
DEFAULT_RISK_DISTRIBUTION = {"low": 0.5, "medium": 0.3, "high": 0.2}

# per-slot float state: rolling-metric positions in [0, 1], recency (days, before drift), average
# order value (cents), medium-risk drift sign
NR = len(tab.ROLLING)
REC, AOV, SIGN = NR, NR + 1, NR + 2
NF = NR + 3
# per-slot integer state
(K, AGE, ACCT, ORDERS, REVENUE, T_TOTAL, T_OPEN, RETURNS, REFUNDS, FAILED, CATEGORY, PAYMENT, SHIPPING,
 DEGRADING, PROFILE) = range(15)
NI = 15
ENROL_UNIFORMS, STEP_UNIFORMS = 22, 10


class CustomerParams(DomainParams):
    """Parameters of ecommerce.customers (the seed's CLI options that shape data, plus panel extras)."""

    num_customers: int = Field(1000, ge=3, le=5_000_000, description=(
        "size of the bounded customer panel, split into thirds by current risk level"))
    risk_distribution: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_RISK_DISTRIBUTION),
        description="share of snapshots per true risk level (the seed's --low/--medium/--high)")
    drift_factor: Rate = Field(0.0, description="the seed's drift amount: 0 no drift, 1 full drift")
    drift_direction: float = Field(1.0, ge=-1.0, le=1.0, description=(
        "the seed's drift direction: +1 worsens low-risk customers (and high), -1 improves high-risk "
        "ones (and low); values between scale the effect linearly"))
    lifecycle_days: int = Field(180, ge=1, le=3650, description="days a customer is followed (the seed's --days)")
    snapshot_interval_days: int = Field(7, ge=1, le=365, description="customer days between snapshots (weekly)")
    degrading_share: Rate = Field(0.2, description=(
        "share of customers joining at low risk that degrade to high over lifecycle_days"))

    @field_validator("risk_distribution")
    @classmethod
    def _known_nonnegative_levels(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(tab.LEVELS))
        if unknown:
            raise ValueError(f"unknown risk levels {unknown}; expected a subset of {list(tab.LEVELS)}")
        if any(w < 0 or not math.isfinite(w) for w in v.values()):
            raise ValueError("risk shares must be finite and non-negative")
        if sum(v.values()) <= 0:
            raise ValueError("risk shares must sum to more than 0")
        return v


def _pool_sizes(n: int) -> np.ndarray:
    """Slots per level: n split in thirds, the remainder to the lower levels."""
    return np.array([n // 3 + (1 if lvl < n % 3 else 0) for lvl in range(3)], dtype=np.int64)


def _ints(lohi: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inclusive integer draws randint(lo, hi) per row of an (m, 2) bounds array, from uniforms."""
    return lohi[:, 0] + (u * (lohi[:, 1] - lohi[:, 0] + 1)).astype(np.int64)


class CustomersGenerator(StreamGenerator[CustomerParams]):
    """Snapshots of a bounded customer panel; each arrival advances one customer by one snapshot."""

    spec = StreamSpec(
        name="ecommerce.customers",
        key_field="customer_id",
        event_types={"customer-snapshot": "datagen.ecommerce.customers.CustomerSnapshot"},
        source_service="customer-feature-service",
        schema="ecommerce/customers.avsc",
        description="Weekly churn-feature snapshots of e-commerce customers at low, medium or high risk; "
        "seed drift formulas and lifecycle degradation; true risk level labelled.",
    )
    Params = CustomerParams
    # the panel's shape (num_customers) and calendar (lifecycle_days, snapshot_interval_days) stay fixed in a run
    driftable = ("risk_distribution", "drift_factor", "drift_direction", "degrading_share")
    events_per_arrival: ClassVar[float] = 1.0  # exactly one snapshot per arrival

    def __init__(self, params: CustomerParams, rng: np.random.Generator) -> None:
        super().__init__(params, rng)
        sizes = _pool_sizes(params.num_customers)
        self._sizes, self._offsets = sizes, np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self._pool_level = np.repeat(np.arange(3), sizes)
        n = int(sizes.sum())
        self._ids = np.empty(n, dtype=object)
        self._f = np.zeros((n, NF))
        self._i = np.zeros((n, NI), dtype=np.int64)
        self._enrol(rng, np.arange(n), params)

    @property
    def panel_size(self) -> int:
        """Customers held in state (the bound on memory)."""
        return len(self._ids)

    # --- panel ---------------------------------------------------------------------------------------

    def _enrol(self, rng: np.random.Generator, slots: np.ndarray, p: CustomerParams) -> None:
        """Fresh customers of each slot's level, drawn from the seed's profile ranges."""
        m = len(slots)
        if m == 0:
            return
        prof = self._pool_level[slots]
        u = rng.random((m, ENROL_UNIFORMS))
        deg = (prof == tab.LOW) & (u[:, 0] < p.degrading_share)
        mult = np.where(prof == tab.LOW, tab.enrolment_multiplier(p.drift_factor, p.drift_direction), 1.0)
        age = tab.CUSTOMER_AGE[prof]
        age = ((age[:, 0] + u[:, 1] * (age[:, 1] - age[:, 0])) * mult).astype(np.int64)
        acct_min = tab.ACCOUNT_AGE_MIN[prof]
        acct = (acct_min + u[:, 2] * np.maximum(age - acct_min, 0)).astype(np.int64)
        orders = tab.TOTAL_ORDERS[prof]
        orders = np.maximum(((orders[:, 0] + u[:, 3] * (orders[:, 1] - orders[:, 0])) * mult).astype(np.int64), 1)
        revenue = tab.TOTAL_REVENUE[prof]
        revenue = np.rint((revenue[:, 0] + u[:, 4] * (revenue[:, 1] - revenue[:, 0])) * mult * 100).astype(np.int64)
        rec = tab.RECENCY[prof]
        f = self._f
        f[slots, :NR] = u[:, 6:6 + NR]
        f[slots, REC] = rec[:, 0] + u[:, 5] * (rec[:, 1] - rec[:, 0])
        f[slots, AOV] = revenue / orders
        f[slots, SIGN] = np.where(u[:, 21] < 0.5, -1.0, 1.0)
        failed = np.where(prof == tab.LOW, (u[:, 17] < tab.LOW_FAILED_PAYMENT_P).astype(np.int64),
                          _ints(tab.FAILED_PAYMENTS[prof], u[:, 17]))
        self._i[slots] = np.column_stack([
            np.zeros(m, np.int64), age, acct, orders, revenue,
            _ints(tab.TICKETS_TOTAL[prof], u[:, 13]), _ints(tab.TICKETS_OPEN[prof], u[:, 14]),
            _ints(tab.RETURNS[prof], u[:, 15]), _ints(tab.REFUNDS[prof], u[:, 16]), failed,
            (u[:, 18] * len(tab.CATEGORIES)).astype(np.int64), (u[:, 19] * len(tab.PAYMENT_METHODS)).astype(np.int64),
            (u[:, 20] * len(tab.SHIPPING_METHODS)).astype(np.int64), deg.astype(np.int64), prof,
        ])
        self._ids[slots] = uuids(rng, m)

    def _place(self, rng: np.random.Generator, parked: list[tuple[np.ndarray, ...]]) -> None:
        """Move customers whose level changed into slots of that level, displacing steady customers first."""
        if not parked:
            return
        ids, f, i, target = (np.concatenate(cols) for cols in zip(*parked))
        for lvl in np.unique(target).tolist():
            rows = np.flatnonzero(target == lvl)
            size = int(self._sizes[lvl])
            if len(rows) > size:  # more movers than slots: the last ones win
                rows = rows[-size:]
            start = self._offsets[lvl]
            # displace steady customers first, in random order; degrading ones only when none is left
            order = np.argsort(self._i[start:start + size, DEGRADING] + rng.random(size), kind="stable")
            slots = start + order[:len(rows)]
            self._ids[slots], self._f[slots], self._i[slots] = ids[rows], f[rows], i[rows]

    # --- snapshots -----------------------------------------------------------------------------------

    def arrivals(
        self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[CustomerParams]
    ) -> list[Event]:
        """One snapshot per arrival: a level from the risk mix, then the next snapshot of a customer at it."""
        n = len(times_us)
        if n == 0:
            return []
        p = ctx.params
        weights = np.array([p.risk_distribution.get(lvl, 0.0) for lvl in tab.LEVELS])
        level = pick(weights, rng.random(n))
        slot, rank = self._draw_slots(rng, level)
        out_i, out_f = np.empty((n, 19), np.int64), np.empty((n, 5))
        out_ids = np.empty(n, dtype=object)
        drift = tab.drift_rows(p.drift_factor, p.drift_direction)
        parked: list[tuple[np.ndarray, ...]] = []
        for r in range(int(rank.max()) + 1):
            pos = np.flatnonzero(rank == r)
            self._snapshot(rng, p, drift, slot[pos], pos, out_i, out_f, out_ids, parked)
        self._place(rng, parked)
        return self._assemble(rng, ctx, times_us, out_i, out_f, out_ids)

    def _draw_slots(self, rng: np.random.Generator, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A customer of each arrival's level, and the round it is advanced in.

        Within a block a level's customers are dealt like cards: a random order of the whole
        sub-panel, reshuffled when exhausted, so a customer recurs in a block only when the block
        has more arrivals of its level than the sub-panel has customers. Round r holds the r-th
        pass over a sub-panel: each round touches a customer at most once, and rounds run in time
        order per customer.
        """
        slot, rank = np.empty(len(level), np.int64), np.empty(len(level), np.int64)
        for lvl in np.unique(level).tolist():
            at = np.flatnonzero(level == lvl)
            size, c = int(self._sizes[lvl]), len(at)
            if c <= size:
                deal = rng.choice(size, size=c, replace=False)
            else:
                deal = np.concatenate([rng.permutation(size) for _ in range(-(-c // size))])[:c]
            slot[at], rank[at] = self._offsets[lvl] + deal, np.arange(c) // size
        return slot, rank

    def _snapshot(
        self, rng: np.random.Generator, p: CustomerParams, drift: tuple[np.ndarray, np.ndarray], s: np.ndarray,
        pos: np.ndarray, out_i: np.ndarray, out_f: np.ndarray, out_ids: np.ndarray,
        parked: list[tuple[np.ndarray, ...]],
    ) -> None:
        """Emit the current snapshot of distinct slots `s` into the block's columns, then advance them."""
        f, i = self._f[s], self._i[s]
        prof, deg, k = i[:, PROFILE], i[:, DEGRADING] == 1, i[:, K]
        interval, life = p.snapshot_interval_days, p.lifecycle_days
        day = k * interval
        progress = np.where(deg, np.minimum(day / life, 1.0), 0.0)
        level = np.where(deg, tab.lifecycle_level(day, life), self._pool_level[s])
        row = np.where(prof == tab.HIGH, 3, np.where((prof == tab.MEDIUM) & (f[:, SIGN] < 0), 2, prof))
        life_roll, life_rec = tab.lifecycle_rows(progress)
        lived = (tab.ROLLING_LO[prof] + tab.ROLLING_SPAN[prof] * f[:, :NR]) * life_roll
        rolling = lived * drift[0][row]
        rolling[:, tab.CART] = np.where(deg, np.minimum(rolling[:, tab.CART], tab.LIFECYCLE_CART_CAP),
                                        rolling[:, tab.CART])
        rates = np.round(np.clip(rolling[:, tab.RATE_ROLLING], 0.0, 1.0), 2)
        counts = rolling[:, tab.INTEGER_ROLLING].astype(np.int64)
        recency = (f[:, REC] * drift[1][row] * life_rec).astype(np.int64)
        aov = np.rint(i[:, REVENUE] / i[:, ORDERS]).astype(np.int64)
        out_i[pos] = np.column_stack([
            level, k, day, i[:, AGE] + day, i[:, ACCT] + day, recency, i[:, ORDERS], i[:, REVENUE], aov,
            counts[:, 0], counts[:, 1], i[:, T_TOTAL], i[:, T_OPEN], i[:, RETURNS], i[:, REFUNDS], i[:, FAILED],
            i[:, CATEGORY], i[:, PAYMENT], i[:, SHIPPING],
        ])
        out_f[pos, 0] = np.round(rolling[:, tab.FREQ], 2)
        out_f[pos, 1:] = rates
        out_ids[pos] = self._ids[s]
        # drift shifts what is measured, not the customer's simulated history (orders come at the undrifted rate)
        self._advance(rng, p, s, f, i, lived[:, tab.FREQ], deg, parked)

    def _advance(
        self, rng: np.random.Generator, p: CustomerParams, s: np.ndarray, f: np.ndarray, i: np.ndarray,
        frequency: np.ndarray, deg: np.ndarray, parked: list[tuple[np.ndarray, ...]],
    ) -> None:
        """One interval of a customer's life: metrics wander, orders and tickets come, counters grow."""
        m, interval, life = len(s), p.snapshot_interval_days, p.lifecycle_days
        prof = i[:, PROFILE]
        u, z = rng.random((m, STEP_UNIFORMS)), rng.standard_normal((m, NR + 1))
        weeks = interval / 7.0
        walk = np.abs(f[:, :NR] + min(tab.WALK_SIGMA_WEEK * math.sqrt(weeks), 0.5) * z[:, :NR])
        f[:, :NR] = np.clip(np.where(walk > 1.0, 2.0 - walk, walk), 0.0, 1.0)  # reflected at 0 and 1
        # orders at the customer's current frequency; recency climbs and drops back when it orders
        orders = tab.poisson_from_uniform(u[:, 0], frequency * interval / tab.DAYS_PER_MONTH)
        rec = tab.RECENCY[prof]
        climbed = f[:, REC] + interval
        # a steady customer orders before recency leaves its level's range; a degrading one need not,
        # its recency (before the seed's x (1 + 5p)) then rests at the range's top
        orders = np.where(~deg & (climbed > rec[:, 1]), np.maximum(orders, 1), orders)
        climbed = np.where(deg, np.minimum(climbed, rec[:, 1]), climbed)
        f[:, REC] = np.where(orders > 0, rec[:, 0] + u[:, 1] * np.minimum(interval, rec[:, 1] - rec[:, 0]), climbed)
        value = orders * f[:, AOV] * np.exp(tab.ORDER_VALUE_SIGMA * z[:, NR] - tab.ORDER_VALUE_SIGMA**2 / 2)
        i[:, ORDERS] += orders
        i[:, REVENUE] += np.rint(value).astype(np.int64)
        # tickets: new ones open, about half the open ones close; open never exceeds the lifetime total
        new = tab.poisson_from_uniform(u[:, 2], tab.NEW_TICKETS_WEEK[prof] * weeks)
        was_open = i[:, T_OPEN]
        closed = (was_open * u[:, 3] + 0.5).astype(np.int64)
        now_open = np.clip(was_open + new - closed, tab.TICKETS_OPEN[prof, 0], tab.TICKETS_OPEN[prof, 1])
        i[:, K] += 1
        next_day = i[:, K] * interval
        now_open = np.where(deg, tab.lifecycle_open(np.minimum(next_day / life, 1.0)), now_open)
        i[:, T_TOTAL] += new + np.maximum(now_open - was_open - new, 0)
        i[:, T_OPEN] = now_open
        i[:, RETURNS] += tab.poisson_from_uniform(u[:, 4], orders * tab.RETURN_PER_ORDER[prof])
        i[:, REFUNDS] += tab.poisson_from_uniform(u[:, 5], orders * tab.REFUND_PER_ORDER[prof])
        i[:, FAILED] += tab.poisson_from_uniform(u[:, 6], orders * tab.FAILED_PER_ORDER[prof])
        for col, share, u_col, choices in ((CATEGORY, tab.CATEGORY_SWITCH, 7, len(tab.CATEGORIES)),
                                           (PAYMENT, tab.PAYMENT_SWITCH, 8, len(tab.PAYMENT_METHODS)),
                                           (SHIPPING, tab.SHIPPING_SWITCH, 9, len(tab.SHIPPING_METHODS))):
            switch = u[:, u_col] < share  # the uniform below the share, rescaled, picks the new value
            i[:, col] = np.where(switch, (u[:, u_col] / share * choices).astype(np.int64), i[:, col])
        self._f[s], self._i[s] = f, i
        ended = next_day >= life
        moving = deg & ~ended & (tab.lifecycle_level(next_day, life) > self._pool_level[s])
        if moving.any():
            parked.append((self._ids[s[moving]], f[moving], i[moving], tab.lifecycle_level(next_day[moving], life)))
        self._enrol(rng, s[ended | moving], p)

    def _assemble(
        self, rng: np.random.Generator, ctx: BlockContext[CustomerParams], times_us: np.ndarray,
        out_i: np.ndarray, out_f: np.ndarray, out_ids: np.ndarray,
    ) -> list[Event]:
        """Build the block's events from its columns."""
        n = len(times_us)
        truths = [ctx.truth(risk_level=lvl) for lvl in tab.LEVELS]
        stream, svc, out = self.spec.name, self.spec.source_service, []
        emit, drift_progress = out.append, float(ctx.drift_progress)
        columns = (times_us.tolist(), out_ids.tolist(), uuids(rng, n), out_i.tolist(), out_f.tolist())
        for t, cid, event_id, (lvl, k, day, age, acct, rec, orders, revenue, aov, visits, views, t_total, t_open,
                               returns, refunds, failed, cat, pay, ship), (freq, email, cart, discount, premium) \
                in zip(*columns):
            payload = {
                "customer_id": cid, "snapshot_index": k, "lifecycle_day": day, "timestamp": None,
                "customer_age_days": age, "account_age_days": acct, "days_since_last_order": rec,
                "total_orders": orders, "total_revenue": dollars(revenue), "avg_order_value": dollars(aov),
                "order_frequency": freq, "website_visits_30d": visits, "email_open_rate": email,
                "cart_abandonment_rate": cart, "product_views_30d": views, "support_tickets_total": t_total,
                "support_tickets_open": t_open, "returns_count": returns, "refunds_count": refunds,
                "favorite_category": tab.CATEGORIES[cat], "discount_usage_rate": discount,
                "premium_product_rate": premium, "payment_method": tab.PAYMENT_METHODS[pay],
                "shipping_method": tab.SHIPPING_METHODS[ship], "failed_payment_count": failed,
                "true_risk_level": tab.LEVELS[lvl], "drift_progress": drift_progress,
            }
            value = envelope(event_id=event_id, event_type="customer-snapshot", time_us=t, source_service=svc,
                             correlation_id=cid, payload=payload, truth=truths[lvl].copy())
            payload["timestamp"] = value["timestamp"]
            emit(Event(stream, cid, t, value))
        return out
