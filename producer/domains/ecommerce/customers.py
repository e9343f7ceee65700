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
`drift_direction`) multiplies the emitted features by the seed's formulas (customers_profiles);
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

In the rate mode memory is flat: state is one row per panel slot, and nothing is held back (every event is at its
arrival instant). Warm start (`prime`, before the scheduler's burn-in): each customer
is aged by a uniform number of snapshots of its lifecycle, then the panel runs a quarter of its
slowest level's lifecycle unseen, so the first snapshots come from customers at every point of their
lifecycles, not a panel enrolled at once. Drift changes only what is emitted, never the random draws, so a run with
drift_factor 0 equals one without drift, and a drifted run pairs snapshot by snapshot with its base.

Replay mode (scenario `mode: replay`, `replay_arrivals`): every arrival is a new customer whose
whole lifecycle is returned at once, at natural event times: snapshot k at the arrival instant +
k x `snapshot_interval_days` days while k x interval < `lifecycle_days` (26 weekly snapshots over
180 days). Its starting level comes from `risk_distribution`, and degrading (`degrading_share` of
low starters), drift multipliers and truth.drift_progress are those at the start, kept for the
whole journey. Snapshots and the evolution between them are the compressed mode's, so a steady
customer keeps its level and a degrading one goes low -> medium -> high at 30% / 70%. There is no
panel: the base class holds each journey's future snapshots until due, so memory is start rate x
lifecycle length (about 26 held snapshots per customer started in the last 175 days).

The seed has no churn or anomaly label: truth.is_anomaly is False and truth.pattern None on every
event; truth.risk_level is the snapshot's true_risk_level.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from producer.domains.common.base import (
    MICROS,
    BlockContext,
    DomainParams,
    StreamGenerator,
    StreamSpec,
    check_weights,
    uuids,
)
from producer.domains.common.columns import Decimals, Micros, Part
from producer.domains.common.sampling import pick
from producer.domains.ecommerce import customers_profiles as tab

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
DEFAULT_RISK_DISTRIBUTION = {"low": 0.5, "medium": 0.3, "high": 0.2}

DAY_US = 86_400 * MICROS
# the warm start's pre-roll (prime): lifecycles of the slowest level, a cap on the fastest, block size
PRIME_LIFECYCLES = 0.25
PRIME_MAX_SNAPSHOTS = 150
PRIME_BLOCK = 4096
NO_DRIFT = tab.drift_rows(0.0, 1.0)  # a customer's simulated history never depends on drift (see measure)
# enum symbols as object arrays: a block's column is one fancy index into them, sharing the str objects
_LEVELS = np.array(tab.LEVELS, dtype=object)
_CATEGORIES = np.array(tab.CATEGORIES, dtype=object)
_PAYMENT_METHODS = np.array(tab.PAYMENT_METHODS, dtype=object)
_SHIPPING_METHODS = np.array(tab.SHIPPING_METHODS, dtype=object)


class CustomerParams(DomainParams):
    """Parameters of ecommerce.customers (the seed's CLI options that shape data, plus panel extras)."""

    num_customers: int = Field(
        1000,
        ge=3,
        le=5_000_000,
        description=("size of the bounded customer panel, split into thirds by current risk level"),
    )
    risk_distribution: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_RISK_DISTRIBUTION),
        description="share of snapshots per true risk level (the seed's --low/--medium/--high)",
    )
    drift_factor: Rate = Field(0.0, description="the seed's drift amount: 0 no drift, 1 full drift")
    drift_direction: float = Field(
        1.0,
        ge=-1.0,
        le=1.0,
        description=(
            "the seed's drift direction: +1 worsens low-risk customers (and high), -1 improves high-risk "
            "ones (and low); values between scale the effect linearly"
        ),
    )
    lifecycle_days: int = Field(180, ge=1, le=3650, description="days a customer is followed (the seed's --days)")
    snapshot_interval_days: int = Field(7, ge=1, le=365, description="customer days between snapshots (weekly)")
    degrading_share: Rate = Field(
        0.2, description=("share of customers joining at low risk that degrade to high over lifecycle_days")
    )

    @field_validator("risk_distribution")
    @classmethod
    def _known_nonnegative_levels(cls, v: dict[str, float]) -> dict[str, float]:
        return check_weights(v, tab.LEVELS, "risk levels")


def _pool_sizes(n: int) -> np.ndarray:
    """Slots per level: n split in thirds, the remainder to the lower levels."""
    return np.array([n // 3 + (1 if lvl < n % 3 else 0) for lvl in range(3)], dtype=np.int64)


class CustomersGenerator(StreamGenerator[CustomerParams]):
    """Rate mode: each arrival advances one customer of a bounded panel by one snapshot; replay: a whole journey."""

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
    pool_fields = ("num_customers",)
    events_per_arrival: ClassVar[float] = 1.0  # exactly one snapshot per arrival

    def __init__(self, params: CustomerParams, rng: np.random.Generator) -> None:
        super().__init__(params, rng)
        sizes = _pool_sizes(params.num_customers)
        self._sizes, self._offsets = sizes, np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self._pool_level = np.repeat(np.arange(3), sizes)
        n = int(sizes.sum())
        self._ids = np.empty(n, dtype=object)
        self._f = np.zeros((n, tab.NF))
        self._i = np.zeros((n, tab.NI), dtype=np.int64)
        self._enrol(rng, np.arange(n), params)

    @property
    def panel_size(self) -> int:
        """Customers held in state (the bound on memory)."""
        return len(self._ids)

    # --- panel ---------------------------------------------------------------------------------------

    def _enrol(self, rng: np.random.Generator, slots: np.ndarray, p: CustomerParams) -> None:
        """Fresh customers of each slot's level, drawn from the seed's profile ranges."""
        if len(slots):
            self._f[slots], self._i[slots], self._ids[slots] = tab.fresh(rng, self._pool_level[slots], p)

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
            order = np.argsort(self._i[start : start + size, tab.DEGRADING] + rng.random(size), kind="stable")
            slots = start + order[: len(rows)]
            self._ids[slots], self._f[slots], self._i[slots] = ids[rows], f[rows], i[rows]

    # --- snapshots -----------------------------------------------------------------------------------

    def arrivals(self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[CustomerParams]) -> list[Part]:
        """One snapshot per arrival: a level from the risk mix, then the next snapshot of a customer at it."""
        n = len(times_us)
        if n == 0:
            return []
        out_i, out_f, out_ids = self._advance(rng, ctx.params, n)
        return self._part(rng, ctx, times_us, out_i, out_f, out_ids)

    def _advance(self, rng: np.random.Generator, p: CustomerParams, n: int) -> tuple[np.ndarray, ...]:
        """Take n snapshots (levels from the risk mix, customers dealt per level) and advance the panel past them."""
        weights = np.array([p.risk_distribution.get(lvl, 0.0) for lvl in tab.LEVELS])
        level = pick(weights, rng.random(n))
        slot, rank = self._draw_slots(rng, level)
        out_i, out_f = np.empty((n, tab.NOUT_I), np.int64), np.empty((n, tab.NOUT_F))
        out_ids = np.empty(n, dtype=object)
        drift = tab.drift_rows(p.drift_factor, p.drift_direction)
        parked: list[tuple[np.ndarray, ...]] = []
        for r in range(int(rank.max()) + 1):
            pos = np.flatnonzero(rank == r)
            self._snapshot(rng, p, drift, slot[pos], pos, out_i, out_f, out_ids, parked)
        self._place(rng, parked)
        return out_i, out_f, out_ids

    def _spread_ages(self, rng: np.random.Generator, p: CustomerParams) -> None:
        """Age each customer by a uniform number of snapshots of its lifecycle, evolving it through them.

        Lifecycles have a fixed length, so a panel enrolled at once stays in step for hundreds of
        snapshots; spreading the ages directly is what takes its snapshot index to the stationary
        uniform. Each round evolves the customers not yet at their age, all at once.
        """
        snapshots = -(-p.lifecycle_days // p.snapshot_interval_days)
        age = rng.integers(0, snapshots, len(self._ids))
        for r in range(int(age.max(initial=0))):
            s = np.flatnonzero(age > r)
            f, i = self._f[s], self._i[s]
            tab.evolve(rng, p, f, i, tab.measure(p, NO_DRIFT, f, i)[2])
            self._f[s], self._i[s] = f, i

    def prime(self, rng: np.random.Generator, ctx: BlockContext[CustomerParams]) -> None:
        """Run the panel's own dynamics, emitting nothing, until it has forgotten its enrolment.

        A freshly enrolled panel has every customer at snapshot 0, with counters and metrics at their
        enrolment draws; the run's panel has customers at every point of their lifecycles, degrading
        ones spread over the levels and steady ones displaced by them. So ages are spread first, then
        the panel runs PRIME_LIFECYCLES lifecycles of its slowest-advancing level (at most
        PRIME_MAX_SNAPSHOTS per customer of the fastest), in blocks of PRIME_BLOCK snapshots, for the
        degrading customers' moves to settle; nothing is assembled, so it costs the simulation alone.
        """
        p = ctx.params
        self._spread_ages(rng, p)
        shares = np.array([p.risk_distribution.get(lvl, 0.0) for lvl in tab.LEVELS])
        shares = shares / shares.sum()
        live = shares > 0
        snapshots = -(-p.lifecycle_days // p.snapshot_interval_days)
        per_level = float(np.max(self._sizes[live] / shares[live]))  # arrivals for one snapshot per customer
        wanted = PRIME_LIFECYCLES * snapshots * per_level
        cap = PRIME_MAX_SNAPSHOTS * float(np.min(self._sizes[live] / shares[live]))
        left = int(min(wanted, cap))
        while left > 0:
            self._advance(rng, p, min(PRIME_BLOCK, left))
            left -= PRIME_BLOCK

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
        self,
        rng: np.random.Generator,
        p: CustomerParams,
        drift: tuple[np.ndarray, np.ndarray],
        s: np.ndarray,
        pos: np.ndarray,
        out_i: np.ndarray,
        out_f: np.ndarray,
        out_ids: np.ndarray,
        parked: list[tuple[np.ndarray, ...]],
    ) -> None:
        """Emit the current snapshot of distinct slots `s` into the block's columns, then advance them.

        A customer whose lifecycle ended is replaced by a fresh one of its slot's level; a degrading
        one reaching a new level is parked for `_place` and its slot refilled.
        """
        f, i = self._f[s], self._i[s]
        out_i[pos], out_f[pos], frequency = tab.measure(p, drift, f, i)
        out_ids[pos] = self._ids[s]
        next_day = tab.evolve(rng, p, f, i, frequency)
        self._f[s], self._i[s] = f, i
        life = p.lifecycle_days
        ended = next_day >= life
        moving = (i[:, tab.DEGRADING] == 1) & ~ended & (tab.lifecycle_level(next_day, life) > self._pool_level[s])
        if moving.any():
            parked.append((self._ids[s[moving]], f[moving], i[moving], tab.lifecycle_level(next_day[moving], life)))
        self._enrol(rng, s[ended | moving], p)

    # --- replay --------------------------------------------------------------------------------------

    def replay_arrivals(
        self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[CustomerParams]
    ) -> list[Part]:
        """Each arrival starts a new customer: its whole lifecycle, one snapshot per interval from the arrival.

        Everything that may drift is read from ctx.params at the start and kept for the journey. Vectorised
        over the block's customers, one pass per snapshot; events come snapshot by snapshot (the base
        class orders them and holds the future ones back).
        """
        n = len(times_us)
        if n == 0:
            return []
        p = ctx.params
        weights = np.array([p.risk_distribution.get(lvl, 0.0) for lvl in tab.LEVELS])
        f, i, ids = tab.fresh(rng, pick(weights, rng.random(n)), p)
        drift = tab.drift_rows(p.drift_factor, p.drift_direction)
        snapshots = -(-p.lifecycle_days // p.snapshot_interval_days)  # days 0, interval, ... < lifecycle_days
        out_i, out_f = np.empty((snapshots, n, tab.NOUT_I), np.int64), np.empty((snapshots, n, tab.NOUT_F))
        for k in range(snapshots):
            out_i[k], out_f[k], frequency = tab.measure(p, drift, f, i)
            if k + 1 < snapshots:
                tab.evolve(rng, p, f, i, frequency)
        times = np.asarray(times_us, dtype=np.int64)[None, :] + out_i[:, :, 2] * DAY_US  # start + lifecycle_day
        return self._part(
            rng,
            ctx,
            times.ravel(),
            out_i.reshape(-1, tab.NOUT_I),
            out_f.reshape(-1, tab.NOUT_F),
            np.tile(np.asarray(ids, dtype=object), snapshots),
        )

    def _part(
        self,
        rng: np.random.Generator,
        ctx: BlockContext[CustomerParams],
        times_us: np.ndarray,
        out_i: np.ndarray,
        out_f: np.ndarray,
        out_ids: np.ndarray,
    ) -> list[Part]:
        """The block's snapshots as one Part of columns, rows in emission order (event ids drawn last)."""
        times = np.asarray(times_us, dtype=np.int64)
        payload = _payload(times, out_i, out_f, out_ids, float(ctx.drift_progress))
        truth = ctx.truth(risk_level=payload["true_risk_level"])
        part = Part(
            stream=self.spec.name,
            event_type="customer-snapshot",
            source_service=self.spec.source_service,
            time_us=times,
            key=out_ids,
            event_id=uuids(rng, len(times)),
            correlation_id=out_ids,
            payload=payload,
            truth=truth,
        )
        return [part]


def _payload(
    times: np.ndarray, out_i: np.ndarray, out_f: np.ndarray, ids: np.ndarray, drift_progress: float
) -> dict[str, Any]:
    """Snapshot payload columns from measure's integer and float columns, in the schema's field order."""
    # one contiguous row per column, in measure's order
    (lvl, k, day, age, acct, rec, orders, revenue, aov, visits, views, t_total, t_open, returns, refunds,
     failed, cat, pay, ship) = out_i.T.copy()  # fmt: skip
    freq, email, cart, discount, premium = out_f.T.copy()
    return {
        "customer_id": ids,
        "snapshot_index": k,
        "lifecycle_day": day,
        "timestamp": Micros(times),
        "customer_age_days": age,
        "account_age_days": acct,
        "days_since_last_order": rec,
        "total_orders": orders,
        "total_revenue": Decimals(revenue, 2),
        "avg_order_value": Decimals(aov, 2),
        "order_frequency": freq,
        "website_visits_30d": visits,
        "email_open_rate": email,
        "cart_abandonment_rate": cart,
        "product_views_30d": views,
        "support_tickets_total": t_total,
        "support_tickets_open": t_open,
        "returns_count": returns,
        "refunds_count": refunds,
        "favorite_category": _CATEGORIES[cat],
        "discount_usage_rate": discount,
        "premium_product_rate": premium,
        "payment_method": _PAYMENT_METHODS[pay],
        "shipping_method": _SHIPPING_METHODS[ship],
        "failed_payment_count": failed,
        "true_risk_level": _LEVELS[lvl],
        "drift_progress": drift_progress,
    }
