"""fintech.circles: sou-sou circle lifecycles, with their contributions and payouts as transactions.

A circle is created, its members join, then in every cycle each member contributes (on time, late
or not at all), one member in rotation receives the pot, and members may drop (voluntarily, after
two missed payments, or removed by the organizer), until every member has been paid
(circle-completed) or the circle fails (insufficient members or excessive defaults). Every
received contribution and every payout also emits transaction-initiated and transaction-completed
on fintech.transactions with the circle event's correlation_id, keyed by the member's user_id.
Injected episodes, labelled on every event they touch: collusion (the first recipients drop right
after their payout) and fraud (a stolen identity that pays with stolen cards and is removed). The
lifecycle rules live in circles_lifecycle.

Compressed rate mode: circles live weeks to months, so events are not scheduled at their natural
times. A bounded pool of active circles (max_active_circles) is kept; each arrival advances one
circle, chosen uniformly, by its next lifecycle step, or creates a circle while the pool has room.
Event time is the arrival time, so each circle's events keep their lifecycle order; the circle's
own calendar (start_date, cycle, due_date, paid_date, days_late, payout_date) is in the payload and
follows its frequency. A lifecycle takes minutes of event time, so its calendar is history, moved
back at creation to end by the creation day: no date of something that happened lies after its
event (start_date has passed too). Memory is bounded by the pool and the user pool, whatever the run length.

Replay mode (scenario `mode: replay`, `replay_arrivals`): every arrival creates a new circle at its
instant, and the circle's whole lifecycle is returned at once at natural event times: the joins over
the following days (the last at least three days before start_date), then each cycle on its
frequency's grid: drops a few days before the due date, contributions on their paid_date (on-time
ones up to two days early, late ones days_late after the due date), missed ones when the grace
week ends, the payout the day after the last payment (or the grace week), a colluder's drop the
day after, and finally circle-completed or circle-failed. Every event happens on the date its
payload names, at a uniformly drawn time of that day (the creation day's events after the creation
instant), in lifecycle order. When a cycle overruns (a missed payment's grace week, a payment many
days late) past three days before the next due date, the grid slips by the overrun: about half of
weekly cycles do (mean spacing ~8.7 days); biweekly and monthly ones almost never. Rates, labels
and transaction pairs are the compressed mode's; parameters (drift, injection boosts) are those at
the circle's creation, kept for its whole life. The base class holds each lifecycle's future events
until due: memory is start rate x lifecycle events (~190 events over ~140 days per circle at the
defaults, up to a year for monthly twelve-member circles).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field, field_validator, model_validator

from producer.domains.common.base import (
    BlockContext,
    DomainParams,
    Part,
    StreamGenerator,
    StreamSpec,
    World,
    check_weights,
    uuids,
)
from producer.domains.common.geo import (
    CITY_COUNTRY,
    CITY_NAME,
    CITY_STATE,
    DEVICE_P,
    DEVICE_TYPES,
    FOREIGN_BLOCKS,
    FRAUD_DEVICE_P,
    HOSTING_BLOCKS,
)
from producer.domains.common.sampling import element, fresh_ips, hex_tokens, pick, whereabouts
from producer.domains.fintech.circles_columns import (
    Transfers,
    block_rows,
    circle_parts,
    money_columns,
    transaction_parts,
)
from producer.domains.fintech.circles_lifecycle import (
    EVENT_TYPES,
    FREQUENCIES,
    PATTERNS,
    PAYOUT,
    RECEIVED,
    Circle,
    Draws,
    lifecycle_steps,
    natural_lifecycle,
    open_circle,
    plan_cycle,
)
from producer.domains.fintech.population import population
from producer.domains.fintech.transactions import TransactionsGenerator

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
DAY_US = 86_400_000_000
NAME_THEMES = (
    "Lakay",
    "Konbit",
    "Tèt Ansanm",
    "Men Kontre",
    "Lespwa",
    "Fanmi",
    "Solidarite",
    "Zanmi",
    "Kouraj",
    "Lavi Miyò",
    "Ayiti Cheri",
    "Bon Vwazen",
    "Pitit Desalin",
    "Sen Jak",
    "Anba Lakay",
    "Fòs",
)
DEVICE_TYPE_NAMES = np.array(DEVICE_TYPES, dtype=object)
NAME_KINDS = ("Savings Group", "Sou-Sou", "Sol", "Circle", "Mutual Fund", "Sabotay")
DEFAULT_FREQUENCY_WEIGHTS = {"weekly": 0.2, "biweekly": 0.3, "monthly": 0.5}
INSTANT_PAYOUT_P = 0.2  # payouts to a debit card (1.5%, min 25c); the rest by free ACH
# share of lifecycle steps that are received contributions or payouts at default params, measured with
# lifecycle_steps(CircleParams(), 300_000 circles, seed 12345): 17,433,490 of 22,070,538 steps
MONEY_STEP_SHARE_AT_DEFAULTS = 0.78990


class CircleParams(DomainParams):
    """Parameters of fintech.circles: the seed's circle table plus the bounded pools.

    Rates and their denominators: late_payment_rate and miss_payment_rate per due contribution,
    member_drop_rate per member and cycle (voluntary drops), circle_failure_rate and
    collusion_rate per circle, fraud_injection_rate per joining member other than the organizer.
    """

    member_range: list[int] = Field(default_factory=lambda: [5, 12], description="[min, max] members per circle")
    contribution_range: list[float] = Field(
        default_factory=lambda: [50.0, 300.0], description="[min, max] contribution per member and cycle, USD"
    )
    frequency_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_FREQUENCY_WEIGHTS))
    late_payment_rate: Rate = 0.10
    late_payment_days_mean: float = Field(3.0, ge=0.0, le=90.0, description="Gaussian, rounded, at least 1")
    late_payment_days_std: float = Field(2.0, ge=0.0, le=60.0)
    miss_payment_rate: Rate = 0.05
    member_drop_rate: Rate = 0.03
    circle_failure_rate: Rate = 0.05
    collusion_rate: Rate = 0.02
    fraud_injection_rate: Rate = 0.02
    max_active_circles: int = Field(200, ge=1, le=1_000_000, description="bound on circles in flight")
    num_users: int = Field(5000, ge=50, le=5_000_000, description="size of the bounded member pool")

    @field_validator("member_range")
    @classmethod
    def _member_range(cls, v: list[int]) -> list[int]:
        if len(v) != 2 or not 2 <= v[0] <= v[1] <= 50:
            raise ValueError("member_range must be [min, max] with 2 <= min <= max <= 50")
        return v

    @field_validator("contribution_range")
    @classmethod
    def _contribution_range(cls, v: list[float]) -> list[float]:
        if len(v) != 2 or not (math.isfinite(v[1]) and 1.0 <= v[0] <= v[1] <= 100_000.0):
            raise ValueError("contribution_range must be [min, max] USD with 1 <= min <= max <= 100000")
        return v

    @field_validator("frequency_weights")
    @classmethod
    def _frequencies(cls, v: dict[str, float]) -> dict[str, float]:
        return check_weights(v, FREQUENCIES, "frequencies")

    @model_validator(mode="after")
    def _payment_outcomes(self) -> CircleParams:
        if self.late_payment_rate + self.miss_payment_rate > 1.0:
            raise ValueError("late_payment_rate + miss_payment_rate must not exceed 1")
        return self


def expected_events_per_arrival(p: CircleParams, circles: int = 20_000, seed: int = 0) -> float:
    """Mean events one arrival yields in steady state, measured on whole lifecycles under `p`.

    Every arrival is one lifecycle step and one circle event; received contributions and payouts add
    a transaction-initiated/-completed pair. The share of such steps depends on the whole lifecycle
    (drops shorten rotations, misses remove members), so it is simulated rather than derived.
    """
    steps, money = lifecycle_steps(p, circles, seed, p.num_users)
    return 1.0 + 2.0 * money / steps


class CirclesGenerator(StreamGenerator[CircleParams]):
    """Sou-sou circles in compressed mode: a bounded pool of circles, one lifecycle step per arrival."""

    spec = StreamSpec(
        name="fintech.circles",
        key_field="circle_id",
        event_types={t: f"datagen.fintech.circles.{''.join(w.title() for w in t.split('-'))}" for t in EVENT_TYPES},
        source_service="circle-service",
        schema="fintech/circles.avsc",
        description="Sou-sou savings circles: creation, joins, contribution cycles with late and missed "
        "payments, rotating payouts, drops, failures and completions; collusion and fraud labelled.",
    )
    companions = (TransactionsGenerator.spec,)
    Params = CircleParams
    driftable = (
        "member_range",
        "contribution_range",
        "frequency_weights",
        "late_payment_rate",
        "late_payment_days_mean",
        "late_payment_days_std",
        "miss_payment_rate",
        "member_drop_rate",
        "circle_failure_rate",
        "collusion_rate",
        "fraud_injection_rate",
    )
    patterns = ("collusion", "fraud")
    pool_fields = ("max_active_circles", "num_users")
    # a circle's steps (joins, contributions, payouts) follow over minutes, and the circles in flight
    # take that long to reach their steady mix: 30 s leaves the first minute's windows 10-18% off
    burn_in_s = 120.0
    # one circle event per arrival + a transaction pair per money step: 2.5798 (see expected_events_per_arrival)
    events_per_arrival: ClassVar[float] = 1.0 + 2.0 * MONEY_STEP_SHARE_AT_DEFAULTS

    uses_world = True

    def __init__(self, params: CircleParams, rng: np.random.Generator, world: World | None = None) -> None:
        super().__init__(params, rng)
        n = params.num_users
        # members are the fintech population's users (population.py): the same people who log in and transact
        pop = population(world if world is not None else World.of(rng), n)
        self._user_ids, self._home, self._home_lat, self._home_lon = pop.ids, pop.home, pop.home_lat, pop.home_lon
        self._two_devices = pop.device_count_u >= 0.55  # 45% use a second device (the same law's share as before)
        self._device_ids = pop.device_ids[:, :2]
        self._device_types = pick(DEVICE_P, pop.device_u[:, :2])
        self._ip_first, self._ip_second, self._usual_ip = pop.ip_first, pop.ip_second, pop.usual_ip
        self._prefers_card = rng.random(n) < 0.6
        self._card = np.array(hex_tokens(rng, n, 12, "pm_"), dtype=object)
        self._bank = np.array(hex_tokens(rng, n, 12, "ba_"), dtype=object)
        self._active: list[Circle] = []  # at most max_active_circles

    @property
    def active_count(self) -> int:
        """Circles in flight."""
        return len(self._active)

    def arrivals(self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[CircleParams]) -> list[Part]:
        """Each arrival creates a circle while the pool has room, else advances a random active circle."""
        n = len(times_us)
        if n == 0:
            return []
        draws = Draws(rng, 4 * n)
        picks = rng.random(n).tolist()
        active, limit, p = self._active, self.params.max_active_circles, ctx.params
        circles: list[Circle] = []  # per arrival: the circle it advances, and the step
        steps: list[Step] = []
        opened: list[Circle] = []
        injected = tuple(ctx.injects(pattern) for pattern in PATTERNS)
        for t, u in zip(times_us.tolist(), picks):
            if len(active) < limit:
                circle = open_circle(Circle(), t // DAY_US, p, ctx.boost, draws, self.params.num_users)
                circle.injected = injected  # its colluders and stolen identities keep the label all their life
                active.append(circle)
                opened.append(circle)
                i = len(active) - 1
            else:
                i = int(u * len(active))
                circle = active[i]
            if not circle.steps:
                plan_cycle(circle, p, draws)
            circles.append(circle)
            steps.append(circle.steps.popleft())
            if circle.done and not circle.steps:
                active[i] = active[-1]
                active.pop()
        self._name(rng, opened)
        return self._parts(rng, ctx, np.asarray(times_us, dtype=np.int64), circles, steps)

    def replay_arrivals(
        self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[CircleParams]
    ) -> list[Part]:
        """Each arrival creates a circle: its whole lifecycle at natural times (the base class holds the future).

        A step happens on its calendar day (natural_lifecycle); the times of a circle's steps on one day
        are sorted uniform draws over that day (after the creation instant on the creation day), so
        event-time order is lifecycle order.
        """
        n = len(times_us)
        if n == 0:
            return []
        p, starts = ctx.params, times_us.tolist()
        draws = Draws(rng, 200 * n)  # ~190 draws per whole lifecycle at the defaults
        circles = [
            open_circle(Circle(), t // DAY_US, p, ctx.boost, draws, self.params.num_users, natural=True) for t in starts
        ]
        self._name(rng, circles)
        injected = tuple(ctx.injects(pattern) for pattern in PATTERNS)
        for circle in circles:
            circle.injected = injected
        owner: list[int] = []
        days: list[int] = []
        steps: list[Step] = []
        for i, circle in enumerate(circles):
            lifecycle = natural_lifecycle(circle, p, draws)
            owner += [i] * len(lifecycle)
            for day, step in lifecycle:
                days.append(day)
                steps.append(step)
        own, day_arr = np.array(owner, dtype=np.int64), np.array(days, dtype=np.int64)
        start = np.asarray(times_us, dtype=np.int64)[own]
        lo = np.maximum(day_arr * DAY_US, start)  # the creation day's events follow the creation instant
        span = (day_arr + 1) * DAY_US - lo
        u = rng.random(len(steps))
        u[np.flatnonzero(np.diff(own, prepend=-1))] = 0.0  # each circle's first step, its creation, at its start
        u = u[np.lexsort((u, day_arr, own))]  # rows are grouped by (circle, day): sort the draws in each group
        t_us = lo + np.minimum((u * span).astype(np.int64), span - 1)
        return self._parts(rng, ctx, t_us, [circles[i] for i in owner], steps)

    @staticmethod
    def _name(rng: np.random.Generator, circles: list[Circle]) -> None:
        """Ids, pool account and a name for the circles opened in this block."""
        k = len(circles)
        ids, names = uuids(rng, k), rng.integers(0, len(NAME_THEMES) * len(NAME_KINDS), k).tolist()
        for circle, cid, name in zip(circles, ids, names):
            circle.circle_id, circle.pool_id = cid, "circle_pool_" + cid[:8] + cid[9:13]
            circle.name = f"{NAME_THEMES[name // len(NAME_KINDS)]} {NAME_KINDS[name % len(NAME_KINDS)]}"

    def _transfers(
        self, rng: np.random.Generator, users: np.ndarray, cents: np.ndarray, payout: np.ndarray, fraud: np.ndarray
    ) -> Transfers:
        """Device, IP, geo, funding and timing of each money movement: the member's own, or a stolen identity's."""
        m = len(users)
        slot = ((rng.random(m) < 0.2) & self._two_devices[users]).astype(np.int64)
        dev_ids, dev_types = self._device_ids[users, slot], self._device_types[users, slot]
        k = int(fraud.sum())
        dev_ids[fraud] = hex_tokens(rng, k, 8, "device_")
        dev_types[fraud] = pick(FRAUD_DEVICE_P, rng.random(k))
        foreign = fraud & (rng.random(m) < 0.6)
        city, lat, lon = whereabouts(
            rng, self._home[users], self._home_lat[users], self._home_lon[users], fraud, foreign
        )
        mobile = ~fraud & (rng.random(m) < 0.12)  # same carrier block, different address
        blocks = rng.random(m)
        first = np.where(
            mobile,
            self._ip_first[users],
            np.where(fraud, np.where(foreign, element(FOREIGN_BLOCKS, blocks), element(HOSTING_BLOCKS, blocks)), 0),
        )
        ips = fresh_ips(rng, first, mobile, self._usual_ip[users], self._ip_second[users])
        card = fraud | (rng.random(m) < np.where(self._prefers_card[users], 0.9, 0.1))
        funding = np.where(card, self._card[users], self._bank[users])
        funding[fraud] = hex_tokens(rng, k, 12, "pm_")  # a stolen card each time
        # card 2.9% + 30c, ACH 0.8% to $5; instant payouts 1.5% (min 25c), standard ones free
        instant = payout & (rng.random(m) < INSTANT_PAYOUT_P)
        fee = np.where(
            payout,
            np.where(instant, np.maximum(np.rint(cents * 0.015), 25), 0),
            np.where(card, np.rint(cents * 0.029 + 30), np.minimum(np.rint(cents * 0.008), 500)),
        )
        fee = np.minimum(fee, cents // 2).astype(np.int64)
        proc_ms = np.clip(rng.lognormal(6.8, 0.8, m), 50.0, 120_000.0).astype(np.int64)
        return Transfers(
            dev_ids,
            DEVICE_TYPE_NAMES[dev_types],
            ips,
            np.round(lat, 4),
            np.round(lon, 4),
            CITY_NAME[city],
            CITY_STATE[city],
            CITY_COUNTRY[city],
            card,
            funding,
            self._bank[users],
            fee,
            proc_ms,
        )

    def _parts(
        self,
        rng: np.random.Generator,
        ctx: BlockContext[CircleParams],
        times: np.ndarray,
        circles: list[Circle],
        steps: list[Step],
    ) -> list[Part]:
        """Circle events for the block's steps (rows in emission order), with each money step's transaction pair."""
        n = len(steps)
        money = int(sum(s[0] in MONEY_STEPS for s in steps))
        block = block_rows(times, circles, steps, uuids(rng, 2 * n + 3 * money))
        users, cents, payout, fraud = drawn = money_columns(block, self._user_ids)
        transfers = self._transfers(rng, users, cents, payout, fraud)
        uids = self._user_ids[users]
        tx_ids = np.array(block.ids[2 * n : 2 * n + money], dtype=object)
        return [
            *circle_parts(self.spec, ctx, block, self._user_ids, tx_ids),
            *transaction_parts(TransactionsGenerator.spec, ctx, block, drawn, uids, transfers),
        ]


Step = tuple[Any, ...]
MONEY_STEPS = frozenset((RECEIVED, PAYOUT))  # steps that move money: each has a transaction pair
