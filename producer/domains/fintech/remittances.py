"""fintech.remittances: US-to-Haiti remittances through their processing stages, with a daily USD/HTG rate.

A remittance is initiated by a sender of a bounded pool (to one of their one to three recipients
in Haiti, a common amount or a Gaussian one, by mobile wallet, bank deposit or cash pickup), then
passes compliance_check, funds_captured, partner_submitted and in_transit and is completed, or
fails after one of those stages with a reason and a refund status. Injected fraud (labelled on every
event of the remittance): an account takeover cashing out $750-$2,999 to a new recipient, mostly
at a cash-pickup agent; fraud_detection_rate of it is stopped at compliance_check.

Compressed rate mode: processing takes about a day (processing_time_hours_mean), so remittances are
not scheduled at their natural times. A bounded FIFO pool of in-flight remittances (max_in_flight)
is kept; each producing arrival either initiates a remittance (while the pool has room, with
probability 2 / mean events per remittance, so the pool fills and then stays full) or advances the
longest-waiting one by its next step. Event time is the arrival time, so each remittance's events
keep their order, and a remittance lasts about (steps + 1) x pool / rate, not a day: its payloads'
elapsed_hours and processing_time_hours are the hours since its initiated event, so they agree
with the timestamps (the natural calendar would put the payload a day from its own event time).
Memory is bounded by the pools, whatever the run length. In replay mode instead, each producing
arrival initiates a remittance and its stages follow at their natural hours (log-normal total with
mean processing_time_hours_mean, split across stages; held by the base class until due: memory is
start rate x processing time), which the payloads then report.

Warm start (`prime`, before the scheduler's burn-in, rate mode): the pool starts as a long run
leaves it, not empty and filling for thousands of arrivals. Full, it advances round robin, so each
of its places holds a renewal sequence of remittances counted in turns of the queue: a primed place
holds a length-biased remittance (weighted by its steps after initiation) at its next step, uniform
over those steps; the pool is full but for a stationary draw of places not yet refilled (_vacancies).
Primed remittances lock the first day's rate, the one the walk starts from, and are dated back
from the priming instant by the turns they have spent, at the paced event rate (_date_primed). The
burn-in is paced at the start date's seasonal yield (yield_at) and lasts ten minutes of event time,
long enough at common rates for every primed remittance to finish before the clock start.

Seasonality by event-time date: with seasonal_patterns, an arrival produces an event with
probability multiplier / 2.5 (the table's maximum) and is otherwise dropped. Every producing
arrival yields exactly one event and every remittance a fixed mean number of them, so remittances
per day are proportional to the multiplier: 20 December (2.5) has 2.5 times the volume of 10 March
(1.0). The scheduler's target rate is met on average over a year (events_per_arrival is the mean
keep share, 0.454); it runs 2.2x above it in the holidays and 0.7x in summer.

USD/HTG: the seed's walk. Each day's rate is the previous one times 1 + U, U uniform within
+-exchange_rate_volatility (by default a daily move of at most 2%, sd 1.15%), published once per
event-time day (at midnight UTC, the first day at the first arrival, skipped days included) as
exchange-rate-updated, keyed "USD/HTG" rather than a sender.
These rate events come on top of events_per_arrival. A remittance locks the rate of its
initiation day: receive_amount = send_amount * exchange_rate, rounded half up to the centime.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Annotated, ClassVar

import numpy as np
from pydantic import Field, field_validator

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
from producer.domains.common.geo import CITY_NAME, HOME_P, IS_HAITI
from producer.domains.common.sampling import hex_tokens, pick
from producer.domains.fintech.population import population
from producer.domains.fintech.remittances_columns import (
    COMPACT_SLACK,
    RATE_SCALE,
    Records,
    Senders,
    Steps,
    last_steps,
    rate_part,
    remittance_parts,
)
from producer.domains.fintech.remittances_tables import (
    CASH_PICKUP,
    DAY_US,
    DEFAULT_METHOD_WEIGHTS,
    FAIL_STAGE_P,
    FAILURE_REASONS,
    FRAUD_DOLLARS,
    FRAUD_METHOD_P,
    HOUR_US,
    MAX_MULTIPLIER,
    MAX_SEND_CENTS,
    MEAN_KEEP,
    METHOD_SPEED,
    METHODS,
    MIN_SEND_CENTS,
    MOBILE_WALLET,
    PARTNER_P,
    REASON_CDF,
    RECIPIENT_P,
    REFUNDED_SHARE,
    STAGE_ALPHA,
    STAGES,
    SUSPECTED_FRAUD,
    events_per_remittance,
    fee_cents,
    haitian_names,
    haitian_phones,
    seasonal_multiplier,
)
from producer.domains.fintech.takeover import MINUTE_US, PATTERN, REMITTANCE, TakeoverPlan
from producer.domains.fintech.takeover import Steps as ChainSteps

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
CHAIN_STEP_MIN = (1.0, 4.0)  # minutes between a chain remittance's steps (event time)
PAIR_KEY = "USD/HTG"  # the key of the rate events
MAX_LOG_WALK = math.log(100.0)  # the rate stays within 1/100 .. 100 x its base
UNSET = np.iinfo(np.int64).min  # t0 of a remittance not yet initiated
PROCESSING_SIGMA = 0.7  # log-normal spread of the processing time
MAX_ADVANCES = len(STAGES) + 1  # steps after initiation of a remittance that completes: the stages, then done
PRIME_BLOCK = 4096  # remittances drawn at once when the pool is primed
HT_CITIES = np.flatnonzero(IS_HAITI)
HT_CITY_P = HOME_P[HT_CITIES] / HOME_P[HT_CITIES].sum()
REASON_PATCH = {
    "pickup_expired": (CASH_PICKUP, "recipient_unreachable"),
    "wallet_limit_exceeded": (MOBILE_WALLET, "invalid_recipient_account"),
}


class SendAmountDistribution(DomainParams):
    """Send amount in USD: a common amount with common_amount_probability, else Gaussian, at least $10."""

    common_amounts: list[float] = Field(default_factory=lambda: [50.0, 100.0, 200.0, 300.0, 500.0])
    common_amount_probability: Rate = 0.6
    random_mean: float = Field(200.0, gt=0.0, le=10_000.0)
    random_std: float = Field(150.0, ge=0.0, le=10_000.0)

    @field_validator("common_amounts")
    @classmethod
    def _sendable(cls, v: list[float]) -> list[float]:
        if not v or any(not (MIN_SEND_CENTS / 100 <= a <= MAX_SEND_CENTS / 100) for a in v):
            raise ValueError("common amounts must be a non-empty list of amounts between $10 and $10,000")
        return v


class RemittanceParams(DomainParams):
    """Parameters of fintech.remittances (seed table plus fraud detection and the in-flight pool bound)."""

    num_senders: int = Field(300, ge=1, le=5_000_000, description="size of the bounded sender pool")
    time_span_days: int = Field(
        90,
        ge=1,
        le=3650,
        description=("window before the run over which senders opened their accounts (sender_account_age_days)"),
    )
    exchange_rate_base: float = Field(132.50, gt=0.0, le=1_000_000.0, description="USD/HTG on the first day")
    exchange_rate_volatility: float = Field(
        0.02, ge=0.0, le=0.5, description="largest daily move, as a fraction: each day's is uniform within +-it"
    )
    send_amount_distribution: SendAmountDistribution = Field(default_factory=SendAmountDistribution)
    delivery_method_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_METHOD_WEIGHTS))
    success_rate: Rate = Field(0.95, description="share of (undetected) remittances that complete")
    processing_time_hours_mean: float = Field(24.0, gt=0.0, le=24.0 * 60, description="natural, in payloads")
    seasonal_patterns: bool = Field(True, description="scale volume by the seed's seasonal multipliers")
    fraud_injection_rate: Rate = Field(0.02, description="share of remittances that are injected fraud")
    fraud_detection_rate: Rate = Field(0.5, description="share of fraud stopped at compliance_check")
    max_in_flight: int = Field(1000, ge=1, le=1_000_000, description="bound on remittances in flight")

    @field_validator("delivery_method_weights")
    @classmethod
    def _known_methods(cls, v: dict[str, float]) -> dict[str, float]:
        return check_weights(v, METHODS, "delivery methods")


def expected_events_per_arrival(p: RemittanceParams) -> float:
    """Mean events one arrival yields: exactly one per producing arrival, the seasonal keep share over a year."""
    return MEAN_KEEP if p.seasonal_patterns else 1.0


def _fraud_rate(p: RemittanceParams, ctx: BlockContext | None = None) -> float:
    return min(1.0, p.fraud_injection_rate * (ctx.boost("fraud") if ctx is not None else 1.0))


def _vacancies(rng: np.random.Generator, per_remittance: float, cap: int) -> int:
    """Places of a full pool whose remittance is done and whose replacement has not started yet (stationary draw).

    The count is a birth-death chain over arrivals: a step that ends a remittance (1 / advances on
    average) opens a place unless another is open and the arrival starts one instead (start_p); so
    P(d + 1) / P(d) is q / start_p from 0 and (1 - start_p) q / start_p beyond, q = 1 / (events - 1).
    """
    start_p = min(1.0, 2.0 / per_remittance)
    q = 1.0 / max(per_remittance - 1.0, 1.0)
    first, ratio = q / start_p, (1.0 - start_p) * q / start_p
    full = 1.0 / (1.0 + first / (1.0 - ratio))
    vacancies = 0 if rng.random() < full else int(rng.geometric(1.0 - ratio))
    return min(vacancies, cap - 1)


class RemittancesGenerator(StreamGenerator[RemittanceParams]):
    """Remittances of a bounded sender pool, advanced through a bounded FIFO of in-flight remittances."""

    spec = StreamSpec(
        name="fintech.remittances",
        key_field="sender_id",
        event_types={
            "exchange-rate-updated": "datagen.fintech.remittances.ExchangeRateUpdated",
            "remittance-initiated": "datagen.fintech.remittances.RemittanceInitiated",
            "remittance-processing": "datagen.fintech.remittances.RemittanceProcessing",
            "remittance-completed": "datagen.fintech.remittances.RemittanceCompleted",
            "remittance-failed": "datagen.fintech.remittances.RemittanceFailed",
        },
        source_service="remittance-service",
        schema="fintech/remittances.avsc",
        description="US-to-Haiti remittances initiated, processed through four stages and completed or failed, "
        "with a daily USD/HTG rate and seasonal volume; fraud labelled.",
    )
    Params = RemittanceParams
    driftable = (
        "exchange_rate_base",
        "exchange_rate_volatility",
        "send_amount_distribution",
        "delivery_method_weights",
        "success_rate",
        "processing_time_hours_mean",
        "fraud_injection_rate",
        "fraud_detection_rate",
    )
    patterns = ("fraud", PATTERN)  # account_takeover: the cash-out remittances of chains (takeover.py)
    pool_fields = ("num_senders", "max_in_flight")
    events_per_arrival: ClassVar[float] = expected_events_per_arrival(RemittanceParams())
    # a remittance lasts ~6 x its partition's pool in arrivals (5 turns of 1.2 x the pool): 150-400 s at
    # steady_state's pace. Ten minutes (at most WARM_EVENTS) usually see every primed remittance done
    # before the clock start, so those visible were initiated by the run itself; primed ones that
    # outlive it have their mean duration right but a narrower spread (the turns' noise is not drawn)
    burn_in_s: ClassVar[float] = 600.0

    uses_world = True

    def __init__(self, params: RemittanceParams, rng: np.random.Generator, world: World | None = None) -> None:
        super().__init__(params, rng)
        n = params.num_senders
        world = world if world is not None else World.of(rng)
        # senders are the fintech population's first users (population.py): the same people who log in and transact
        pop = population(world, n)
        self._sender_ids = pop.ids
        self._activity_cum = pop.activity_cdf()
        self._age0_days = pop.age_share * params.time_span_days
        self._chains = TakeoverPlan(world, REMITTANCE)  # the cash-out remittances of chains (see takeover.py)
        self._n_recipients = 1 + rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
        self._recipient_name = np.array(haitian_names(rng, 3 * n), dtype=object).reshape(n, 3)
        self._recipient_phone = np.array(haitian_phones(rng, 3 * n), dtype=object).reshape(n, 3)
        self._recipient_city = HT_CITIES[rng.choice(len(HT_CITIES), size=(n, 3), p=HT_CITY_P)]
        self._agents = np.array(hex_tokens(rng, 400, 4, "agt_"), dtype=object)
        self._records = Records()  # the remittances in flight (and some done, until compacted), as columns
        self._in_flight: deque[int] = deque()  # their rows, in queue order, at most max_in_flight
        self._day: int | None = None  # last event-time day with a published rate
        self._walk = 0.0
        self._rate: int = 0  # that day's rate, in 1/RATE_SCALE HTG

    @property
    def in_flight(self) -> int:
        """Remittances initiated and not yet completed or failed."""
        return len(self._in_flight)

    def yield_at(self, params: RemittanceParams, time_us: int) -> float:
        """Events per arrival on `time_us`'s date: its seasonal keep share (one event per producing arrival)."""
        if not params.seasonal_patterns:
            return 1.0
        return float(seasonal_multiplier(np.array([time_us], dtype=np.int64))[0]) / MAX_MULTIPLIER

    def prime(self, rng: np.random.Generator, ctx: BlockContext[RemittanceParams]) -> None:
        """Fill the in-flight pool as a long run leaves it, emitting nothing.

        A full pool advances round robin: each remittance takes one step per turn of the queue and is
        replaced when done, so each place in it is a renewal process counted in turns. Its remittance is
        length-biased (drawn with probability advances / MAX_ADVANCES, advances being the steps it takes
        after initiation) and its next step uniform over those advances; the pool is full but for the
        few places whose replacement has not started yet (see _vacancies).
        """
        p, cap = ctx.params, self.params.max_in_flight
        per_remittance = events_per_remittance(p.success_rate, _fraud_rate(p, ctx), p.fraud_detection_rate)
        size = cap - _vacancies(rng, per_remittance, cap)
        rate_e4 = int(np.rint(p.exchange_rate_base * RATE_SCALE))  # the first day's rate: the walk starts there
        flight = self._in_flight
        while len(flight) < size:
            m = min(PRIME_BLOCK, (size - len(flight)) * 21 // 20 + 8)  # spares: about 2% are rejected
            new = self._new_remittances(rng, ctx, m)
            advances = last_steps(new["fail_stage"])
            kept = np.flatnonzero(rng.random(m) * MAX_ADVANCES < advances)[: size - len(flight)]
            steps = 1 + (rng.random(m) * advances).astype(np.int64)
            new["rate"][:] = rate_e4
            first = self._records.append({name: column[kept] for name, column in new.items()}, steps[kept])
            flight.extend(range(first, first + len(kept)))
        self._date_primed(rng, ctx, per_remittance)

    def _date_primed(
        self, rng: np.random.Generator, ctx: BlockContext[RemittanceParams], per_remittance: float
    ) -> None:
        """Initiation instants of the primed remittances: as long before the priming instant as a long run puts them.

        Full, the pool advances round robin: the remittance at queue place i (0: next) with next step s
        was initiated s x pool - i - 1 advances ago, one turn of the pool per step; about one advance in
        events - 1 ends a remittance and lets an arrival start one, so those advances took that many
        arrivals plus a binomial number of starts, each lasting 1 / the paced event rate (a producing
        arrival yields one event). Without a rate (ctx.event_rate 0) they date from the priming instant.
        """
        flight = np.fromiter(self._in_flight, dtype=np.int64, count=len(self._in_flight))
        steps = np.asarray(self._records.step, dtype=np.int64)[flight]
        advances = steps * len(flight) - np.arange(len(flight)) - 1
        arrivals = advances + rng.binomial(advances, 1.0 / max(per_remittance - 1.0, 1.0))
        gap_us = 1e6 / ctx.event_rate if ctx.event_rate > 0 else 0.0
        self._records.columns["t0"][flight] = ctx.time_us - np.rint(arrivals * gap_us).astype(np.int64)

    def arrivals(
        self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[RemittanceParams]
    ) -> list[Part]:
        """Rate updates for new days, then one event per producing arrival: a new remittance or a next step."""
        p = ctx.params
        parts, times, rates = self._producing(rng, ctx, times_us)
        m = len(times)
        # every block asks for the chains due in its span, so each is emitted once and in order
        chain = self._chain_remittances(rng, ctx, times_us, sum(map(len, parts)) + m)
        if m == 0:
            return parts + chain
        start_p = min(1.0, 2.0 / events_per_remittance(p.success_rate, _fraud_rate(p, ctx), p.fraud_detection_rate))
        starts, event_ids = (rng.random(m) < start_p).tolist(), uuids(rng, m)
        rows, steps = self._advance(rng, ctx, starts)
        records = self._records
        started = steps == 0
        records.columns["rate"][rows[started]] = rates[started]  # a remittance locks its initiation day's rate
        records.columns["t0"][rows[started]] = times[started]
        seq = sum(map(len, parts)) + np.arange(m, dtype=np.int64)  # after the rate events, in arrival order
        events = Steps(rows, steps, times, seq, np.array(event_ids, dtype=object))
        parts.extend(remittance_parts(self.spec, records.columns, events, self._senders(), ctx))
        parts.extend(chain)
        if records.size > 2 * len(self._in_flight) + COMPACT_SLACK:  # most rows are done: drop them
            records.compact(np.fromiter(self._in_flight, dtype=np.int64, count=len(self._in_flight)))
            self._in_flight = deque(range(records.size))
        return parts

    def _chain_remittances(
        self, rng: np.random.Generator, ctx: BlockContext[RemittanceParams], times_us: np.ndarray, seq0: int
    ) -> list[Part]:
        """The cash-out remittances of takeover chains due in the block's span, each step CHAIN_STEP_MIN apart.

        They run outside the in-flight pool: a chain's remittance is processed (or stopped at
        compliance_check) within minutes of event time, so its episode stays one on the ground truth.
        """
        times = np.asarray(times_us, dtype=np.int64)
        steps = self._chains.due(int(times[0]), int(times[-1])) if len(times) else None
        if steps is None or not len(steps):
            return []
        k = len(steps)
        new = self._new_remittances(rng, ctx, k, steps)
        new["rate"][:] = self._rate  # the day's rate, published by this block at the latest
        last = last_steps(new["fail_stage"])
        rows = np.repeat(np.arange(k), last + 1)
        order = np.arange(len(rows))
        step = order - (np.cumsum(last + 1) - (last + 1))[rows]
        gaps = np.where(step > 0, (rng.uniform(*CHAIN_STEP_MIN, len(rows)) * MINUTE_US).astype(np.int64), 0)
        at = steps.time_us[rows] + np.cumsum(gaps) - np.cumsum(gaps)[np.cumsum(last + 1) - (last + 1)][rows]
        new["t0"][:] = at[step == 0]  # initiated at its first step: the payload hours count from there
        ids = np.array(uuids(rng, len(rows)), dtype=object)
        events = Steps(rows, step, at, seq0 + order, ids)
        return remittance_parts(self.spec, new, events, self._senders(), ctx)

    def _advance(
        self, rng: np.random.Generator, ctx: BlockContext[RemittanceParams], starts: list[bool]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The pool's state loop: per producing arrival, the row of the remittance it moves and the step (0: start)."""
        m, records = len(starts), self._records
        flight, cap, step, last = self._in_flight, self.params.max_in_flight, records.step, records.last
        drawn = sum(starts) + 1  # only forced starts need more
        base, used = records.append(self._new_remittances(rng, ctx, drawn)), 0
        rows, steps = [0] * m, [0] * m
        for j, start in enumerate(starts):
            if not flight or (start and len(flight) < cap):
                if used == drawn:
                    drawn = m - j
                    base, used = records.append(self._new_remittances(rng, ctx, drawn)), 0
                row = base + used
                used += 1
                flight.append(row)
            else:
                row = flight.popleft()
                steps[j] = s = step[row]
                step[row] = s + 1
                if s != last[row]:
                    flight.append(row)
            rows[j] = row
        return np.array(rows, dtype=np.int64), np.array(steps, dtype=np.int64)

    def _senders(self) -> Senders:
        """The sender pool as the payloads need it."""
        assert self._t0_us is not None  # _block_times set it at the first block
        return Senders(self._sender_ids, self._age0_days, self._t0_us)

    def replay_arrivals(
        self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[RemittanceParams]
    ) -> list[Part]:
        """Replay mode: each producing arrival initiates a remittance whose steps follow at their natural hours."""
        if len(times_us) == 0:
            return []
        parts, times, rates = self._producing(rng, ctx, times_us)
        m = len(times)
        new = self._new_remittances(rng, ctx, m)
        new["rate"][:], new["t0"][:] = rates, times
        event_ids = np.array(uuids(rng, 6 * m), dtype=object)  # a remittance has at most six events
        last = last_steps(new["fail_stage"])
        rows = np.repeat(np.arange(m), last + 1)  # its events in order: initiated, then steps 1 .. last
        order = np.arange(len(rows))
        steps = order - (np.cumsum(last + 1) - (last + 1))[rows]
        seq = sum(map(len, parts)) + order  # after the rate events
        events = Steps(rows, steps, times[rows] + self._step_offsets(new, rows, steps), seq, event_ids[order])
        return parts + remittance_parts(self.spec, new, events, self._senders(), ctx)

    @staticmethod
    def _step_offsets(new: dict[str, np.ndarray], rows: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """µs from each remittance's initiation to its event at `steps`: the stage's hour, delivery or failure."""
        fail_stage, hours = new["fail_stage"][rows], new["hours"][rows]
        stage = np.maximum(steps, 1) - 1  # step 0 (initiated) has offset 0, whatever column it reads
        processing = (steps <= len(STAGES)) & ((fail_stage == 0) | (steps <= fail_stage))
        final = np.where(fail_stage == 0, hours[:, len(STAGES)], new["failed_after"][rows])
        at = np.where(processing, hours[np.arange(len(rows)), stage], final)
        return np.where(steps == 0, 0, (at * HOUR_US).astype(np.int64))

    def _producing(
        self, rng: np.random.Generator, ctx: BlockContext[RemittanceParams], times_us: np.ndarray
    ) -> tuple[list[Part], np.ndarray, np.ndarray]:
        """New days' rate events; the producing arrivals (seasonally thinned) and each one's day rate."""
        times = self._block_times(times_us)
        if len(times) == 0:
            return [], times, np.empty(0, dtype=np.int64)
        parts, first_day, day_rates = self._exchange_rates(rng, ctx, times)
        if ctx.params.seasonal_patterns:
            times = times[rng.random(len(times)) * MAX_MULTIPLIER < seasonal_multiplier(times)]
        return parts, times, day_rates[times // DAY_US - first_day]

    def _exchange_rates(
        self, rng: np.random.Generator, ctx: BlockContext[RemittanceParams], times: np.ndarray
    ) -> tuple[list[Part], int, np.ndarray]:
        """The rate event of every new event-time day; the rates of the block's days, from its first."""
        p, days = ctx.params, times // DAY_US
        d0, d1 = int(days[0]), int(days[-1])
        start = d0 if self._day is None else self._day + 1
        known = [self._rate] if d0 < start else []
        if d1 < start:
            return [], d0, np.array(known, dtype=np.int64)
        k = d1 - start + 1
        # the seed's daily move: the rate times 1 + U, U uniform within +-volatility (sd volatility / sqrt 3)
        steps = np.log1p(p.exchange_rate_volatility * rng.uniform(-1.0, 1.0, k))
        if self._day is None:
            steps[0] = 0.0  # the first day's rate is the base rate
        # bounded: over centuries of event time an unbounded walk reaches a rate of 0 (or overflows)
        walk = np.clip(self._walk + np.cumsum(steps), -MAX_LOG_WALK, MAX_LOG_WALK)
        rates = np.rint(p.exchange_rate_base * np.exp(walk) * RATE_SCALE).astype(np.int64)
        previous = [None if self._day is None else self._rate, *rates[:-1].tolist()]
        at = (start + np.arange(k, dtype=np.int64)) * DAY_US
        if self._day is None:
            at[0] = times[0]  # the first day's rate is published at the first arrival
        part = rate_part(self.spec, PAIR_KEY, start, at, rates.tolist(), previous, uuids(rng, 2 * k), ctx)
        self._walk, self._day, self._rate = float(walk[-1]), d1, int(rates[-1])
        return [part], d0, np.array(known + rates.tolist(), dtype=np.int64)

    def _new_remittances(
        self, rng: np.random.Generator, ctx: BlockContext[RemittanceParams], m: int, chain: ChainSteps | None = None
    ) -> dict[str, np.ndarray]:
        """m remittances to initiate as columns, all but their day's rate and their instant, drawn at once.

        With `chain`, they are the cash-outs of takeover chains: its users' fraudulent remittances.
        """
        p = ctx.params
        senders = np.minimum(
            np.searchsorted(self._activity_cum, rng.random(m), side="right"), len(self._sender_ids) - 1
        )
        fraud = rng.random(m) < _fraud_rate(p, ctx)
        kind = fraud * (1 + ctx.injects("fraud"))
        episode = np.full(m, None, dtype=object)
        if chain is not None:
            senders, fraud, episode = chain.user, np.ones(m, bool), chain.episode_id
            kind = 1 + chain.injected.astype(np.int64)
        slot = np.minimum(pick(RECIPIENT_P, rng.random(m)), self._n_recipients[senders] - 1)
        name, phone = self._recipient_name[senders, slot], self._recipient_phone[senders, slot]
        city = self._recipient_city[senders, slot]
        f = np.flatnonzero(fraud)  # a recipient the sender never paid before
        name[f], phone[f] = haitian_names(rng, len(f)), haitian_phones(rng, len(f))
        city[f] = HT_CITIES[rng.choice(len(HT_CITIES), size=len(f), p=HT_CITY_P)]
        d = p.send_amount_distribution
        common = np.rint(np.asarray(d.common_amounts) * 100).astype(np.int64)
        cents = np.where(
            rng.random(m) < d.common_amount_probability,
            common[rng.integers(0, len(common), m)],
            np.rint(np.clip(rng.normal(d.random_mean, d.random_std, m) * 100, MIN_SEND_CENTS, MAX_SEND_CENTS)).astype(
                np.int64
            ),
        )
        cents[f] = rng.integers(FRAUD_DOLLARS[0], FRAUD_DOLLARS[1] + 1, len(f)) * 100
        weights = np.array([p.delivery_method_weights.get(k, 0.0) for k in METHODS])
        method = np.where(fraud, pick(FRAUD_METHOD_P, rng.random(m)), pick(weights, rng.random(m)))
        partner = (rng.random(m)[:, None] > np.cumsum(PARTNER_P, axis=1)[method]).sum(axis=1)
        agents = self._agents[rng.integers(0, len(self._agents), m)]
        # numpy's stubs reject None as a branch, yet on object arrays it is what marks "no agent"
        agent = np.where(method == CASH_PICKUP, agents, None)  # type: ignore[call-overload]
        fee = fee_cents(cents)
        hours = self._stage_hours(rng, p, method)
        outcome = self._outcomes(rng, p, fraud, method, hours)
        ids = np.array(uuids(rng, 2 * m), dtype=object)
        return {
            "remittance_id": ids[:m],
            "correlation_id": ids[m:],
            "sender": senders,
            # 0 genuine, 1 fraud, 2 fraud drawn inside an injection window (its later steps keep the label)
            "kind": kind,
            "episode": episode,  # the account-takeover chain (truth.episode_id), None outside chains
            "name": name,
            "phone": phone,
            "city": CITY_NAME[city],
            "send": cents,
            "fee": fee,
            "method": method,
            "partner": partner,
            "agent": agent,
            "hours": np.round(hours, 3),
            "code": np.array([c.upper() for c in hex_tokens(rng, m, 5, "LK")], dtype=object),
            **outcome,
            "rate": np.zeros(m, dtype=np.int64),  # the day's rate, in 1/RATE_SCALE HTG: locked when it starts
            "t0": np.full(m, UNSET, dtype=np.int64),  # event time (µs) of remittance-initiated: set when it starts
        }

    @staticmethod
    def _stage_hours(rng: np.random.Generator, p: RemittanceParams, method: np.ndarray) -> np.ndarray:
        """Natural hours from initiation to each stage and, last, to delivery (log-normal total, Dirichlet split)."""
        weights = np.array([p.delivery_method_weights.get(k, 0.0) for k in METHODS])
        mean = p.processing_time_hours_mean * METHOD_SPEED[method] / (weights @ METHOD_SPEED / weights.sum())
        total = rng.lognormal(np.log(mean) - PROCESSING_SIGMA**2 / 2, PROCESSING_SIGMA)
        return total[:, None] * np.cumsum(rng.dirichlet(STAGE_ALPHA, len(method)), axis=1)

    @staticmethod
    def _outcomes(
        rng: np.random.Generator, p: RemittanceParams, fraud: np.ndarray, method: np.ndarray, hours: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Completed (fail stage 0) or the last stage reached before failing, with reason and refund."""
        m = len(fraud)
        detected = fraud & (rng.random(m) < p.fraud_detection_rate)
        success = ~detected & (rng.random(m) < p.success_rate)
        stage = np.where(detected, 1, np.where(success, 0, 1 + pick(FAIL_STAGE_P, rng.random(m))))
        reason = (rng.random(m)[:, None] >= REASON_CDF[np.maximum(stage, 1) - 1]).sum(axis=1)
        reason = np.where(detected, SUSPECTED_FRAUD, np.minimum(reason, len(FAILURE_REASONS) - 1))
        names = np.array(FAILURE_REASONS, dtype=object)[reason]
        for bad, (only, instead) in REASON_PATCH.items():
            names[(names == bad) & (method != only)] = instead
        rows = np.arange(m)
        reached, following = hours[rows, np.maximum(stage, 1) - 1], hours[rows, np.maximum(stage, 1)]
        failed_after = reached + rng.random(m) * (following - reached)
        captured = stage >= 2
        refund = np.where(captured, np.where(rng.random(m) < REFUNDED_SHARE, 2, 1), 0)
        return {"fail_stage": stage, "reason": names, "refund": refund, "failed_after": np.round(failed_after, 3)}
