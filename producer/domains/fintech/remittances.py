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
keep their order; its natural calendar (elapsed_hours at each stage, processing_time_hours) is in
the payload. Memory is bounded by the pools, whatever the run length. In replay mode instead, each
producing arrival initiates a remittance and its stages follow at their natural hours (held by the
base class until due: memory is start rate x processing time).

Warm start (`prime`, before the scheduler's burn-in, rate mode): the pool starts as a long run
leaves it, not empty and filling for thousands of arrivals. Full, it advances round robin, so each
of its places holds a renewal sequence of remittances counted in turns of the queue: a primed place
holds a length-biased remittance (weighted by its steps after initiation) at its next step, uniform
over those steps; the pool is full but for a stationary draw of places not yet refilled (_vacancies).
Primed remittances lock the first day's rate, the one the walk starts from.

Seasonality by event-time date: with seasonal_patterns, an arrival produces an event with
probability multiplier / 2.5 (the table's maximum) and is otherwise dropped. Every producing
arrival yields exactly one event and every remittance a fixed mean number of them, so remittances
per day are proportional to the multiplier: 20 December (2.5) has 2.5 times the volume of 10 March
(1.0). The scheduler's target rate is met on average over a year (events_per_arrival is the mean
keep share, 0.454); it runs 2.2x above it in the holidays and 0.7x in summer.

USD/HTG: the day's rate is exchange_rate_base * exp(W), W a random walk of N(0, volatility) daily
log returns, published once per event-time day (at midnight UTC, the first day at the first
arrival, skipped days included) as exchange-rate-updated, keyed "USD/HTG" rather than a sender.
These rate events come on top of events_per_arrival. A remittance locks the rate of its
initiation day: receive_amount = send_amount * exchange_rate, rounded half up to the centime.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from producer.domains.common.base import (
    BlockContext,
    DomainParams,
    Event,
    StreamGenerator,
    StreamSpec,
    check_weights,
    dollars,
    envelope,
    uuids,
)
from producer.domains.common.geo import CITY_NAME, HOME_P, IS_HAITI
from producer.domains.common.sampling import hex_tokens, pick
from producer.domains.fintech.remittances_tables import (
    CASH_PICKUP,
    DAY_US,
    DEFAULT_METHOD_WEIGHTS,
    FAIL_STAGE_P,
    FAILURE_REASONS,
    FRAUD_DOLLARS,
    FRAUD_METHOD_P,
    MAX_MULTIPLIER,
    MAX_SEND_CENTS,
    MEAN_KEEP,
    METHOD_SPEED,
    METHODS,
    MIN_SEND_CENTS,
    MOBILE_WALLET,
    PARTNER_P,
    PARTNERS,
    REASON_CDF,
    RECIPIENT_P,
    REFUND_STATUSES,
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

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
NORMAL, FRAUD = 0, 1
PATTERNS = (None, "fraud")
RATE_SCALE = 10_000  # exchange rates are kept as integers of 1/10,000 HTG
MAX_LOG_WALK = math.log(100.0)  # the rate stays within 1/100 .. 100 x its base
HOUR_US = 3_600_000_000
PROCESSING_SIGMA = 0.7  # log-normal spread of the processing time
PAIR_KEY = "USD/HTG"
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
    exchange_rate_volatility: float = Field(0.02, ge=0.0, le=0.5, description="std of daily log returns")
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


def _truth_table(ctx: BlockContext[RemittanceParams]) -> list[dict[str, Any]]:
    """Labels by remittance kind: genuine, fraud, fraud drawn inside an injection window."""
    fraud = [ctx.truth(anomaly=True, pattern="fraud", risk_level="high", injected=i) for i in (False, True)]
    return [ctx.truth(), *fraud]


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
    patterns = ("fraud",)
    pool_fields = ("num_senders", "max_in_flight")
    events_per_arrival: ClassVar[float] = expected_events_per_arrival(RemittanceParams())

    def __init__(self, params: RemittanceParams, rng: np.random.Generator) -> None:
        super().__init__(params, rng)
        n = params.num_senders
        self._sender_ids = np.array(uuids(rng, n), dtype=object)
        activity = rng.lognormal(0.0, 1.0, n)
        self._activity_cum = np.cumsum(activity) / activity.sum()
        self._age0_days = rng.uniform(0.0, params.time_span_days, n)
        self._n_recipients = 1 + rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
        self._recipient_name = np.array(haitian_names(rng, 3 * n), dtype=object).reshape(n, 3)
        self._recipient_phone = np.array(haitian_phones(rng, 3 * n), dtype=object).reshape(n, 3)
        self._recipient_city = HT_CITIES[rng.choice(len(HT_CITIES), size=(n, 3), p=HT_CITY_P)]
        self._agents = np.array(hex_tokens(rng, 400, 4, "agt_"), dtype=object)
        self._in_flight: deque[list[Any]] = deque()  # [next step, remittance record], at most max_in_flight
        self._day: int | None = None  # last event-time day with a published rate
        self._walk = 0.0
        self._rate: int = 0  # that day's rate, in 1/RATE_SCALE HTG

    @property
    def in_flight(self) -> int:
        """Remittances initiated and not yet completed or failed."""
        return len(self._in_flight)

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
            fail_stage = np.array(new["fail_stage"])
            advances = np.where(fail_stage == 0, MAX_ADVANCES, fail_stage + 1)
            kept = np.flatnonzero(rng.random(m) * MAX_ADVANCES < advances)[: size - len(flight)]
            steps = 1 + (rng.random(m) * advances).astype(np.int64)
            flight.extend([int(steps[j]), self._record(new, int(j), rate_e4)] for j in kept)

    def arrivals(
        self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[RemittanceParams]
    ) -> list[Event]:
        """Rate updates for new days, then one event per producing arrival: a new remittance or a next step."""
        p = ctx.params
        out: list[Event] = []
        times, rates = self._producing(rng, ctx, times_us, out)
        m = len(times)
        if m == 0:
            return out
        start_p = min(1.0, 2.0 / events_per_remittance(p.success_rate, _fraud_rate(p, ctx), p.fraud_detection_rate))
        starts, event_ids = (rng.random(m) < start_p).tolist(), uuids(rng, m)
        truths = _truth_table(ctx)
        new, used = self._new_remittances(rng, ctx, sum(starts) + 1), 0  # only forced starts need more
        flight, cap, emit = self._in_flight, self.params.max_in_flight, out.append
        for j, t in enumerate(times.tolist()):
            if not flight or (starts[j] and len(flight) < cap):
                if used == len(new["sender"]):
                    new, used = self._new_remittances(rng, ctx, m - j), 0
                event, record = self._initiated(new, used, t, rates[j], event_ids[j], truths)
                used += 1
                flight.append([1, record])
            else:
                entry = flight.popleft()
                event, done = self._next_step(entry, t, event_ids[j], truths)
                if not done:
                    flight.append(entry)
            emit(event)
        return out

    def replay_arrivals(
        self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[RemittanceParams]
    ) -> list[Event]:
        """Replay mode: each producing arrival initiates a remittance whose steps follow at their natural hours."""
        out: list[Event] = []
        if len(times_us) == 0:
            return out
        times, rates = self._producing(rng, ctx, times_us, out)
        m = len(times)
        new = self._new_remittances(rng, ctx, m)
        event_ids = iter(uuids(rng, 6 * m))  # a remittance has at most six events
        truths = _truth_table(ctx)
        for j, t in enumerate(times.tolist()):
            event, record = self._initiated(new, j, t, rates[j], next(event_ids), truths)
            out.append(event)
            entry: list[Any] = [1, record]
            done, hours, fail_stage, failed_after = False, record[8], record[9], record[14]
            while not done:
                step = entry[0]
                at = (
                    hours[step - 1]
                    if step <= 4 and (fail_stage == 0 or step <= fail_stage)
                    else (hours[4] if fail_stage == 0 else failed_after)
                )
                event, done = self._next_step(entry, t + int(at * HOUR_US), next(event_ids), truths)
                out.append(event)
        return out

    def _producing(
        self, rng: np.random.Generator, ctx: BlockContext[RemittanceParams], times_us: np.ndarray, out: list[Event]
    ) -> tuple[np.ndarray, list[int]]:
        """Publish new days' rates into out; the producing arrivals (seasonally thinned) and each one's day rate."""
        times = self._block_times(times_us)
        if len(times) == 0:
            return times, []
        first_day, day_rates = self._exchange_rates(rng, ctx, times, out)
        if ctx.params.seasonal_patterns:
            times = times[rng.random(len(times)) * MAX_MULTIPLIER < seasonal_multiplier(times)]
        return times, day_rates[times // DAY_US - first_day].tolist()

    def _exchange_rates(
        self, rng: np.random.Generator, ctx: BlockContext[RemittanceParams], times: np.ndarray, out: list[Event]
    ) -> tuple[int, np.ndarray]:
        """Publish the rate of every new event-time day; the rates of the block's days, from its first."""
        p, days = ctx.params, times // DAY_US
        d0, d1 = int(days[0]), int(days[-1])
        start = d0 if self._day is None else self._day + 1
        known = [self._rate] if d0 < start else []
        if d1 < start:
            return d0, np.array(known, dtype=np.int64)
        k = d1 - start + 1
        steps = p.exchange_rate_volatility * rng.standard_normal(k)
        if self._day is None:
            steps[0] = 0.0  # the first day's rate is the base rate
        # bounded: over centuries of event time an unbounded walk reaches a rate of 0 (or overflows)
        walk = np.clip(self._walk + np.cumsum(steps), -MAX_LOG_WALK, MAX_LOG_WALK)
        rates = np.rint(p.exchange_rate_base * np.exp(walk) * RATE_SCALE).astype(np.int64)
        previous = [None if self._day is None else self._rate, *rates[:-1].tolist()]
        ids, truth, svc = uuids(rng, 2 * k), ctx.truth(), self.spec.source_service
        for i, (rate, prev) in enumerate(zip(rates.tolist(), previous)):
            day = start + i
            at = int(times[0]) if self._day is None and i == 0 else day * DAY_US
            payload = {
                "base_currency": "USD",
                "quote_currency": "HTG",
                "rate": Decimal(rate).scaleb(-4),
                "previous_rate": None if prev is None else Decimal(prev).scaleb(-4),
                "change_pct": 0.0 if prev is None else round((rate / prev - 1) * 100, 4),
                "effective_date": datetime.fromtimestamp(day * 86_400, UTC).date().isoformat(),
                "updated_at": None,
            }
            value = envelope(
                event_id=ids[2 * i],
                event_type="exchange-rate-updated",
                time_us=at,
                source_service=svc,
                correlation_id=ids[2 * i + 1],
                payload=payload,
                truth=truth,
            )
            payload["updated_at"] = value["timestamp"]
            out.append(Event(self.spec.name, PAIR_KEY, at, value))
        self._walk, self._day, self._rate = float(walk[-1]), d1, int(rates[-1])
        return d0, np.array(known + rates.tolist(), dtype=np.int64)

    def _new_remittances(
        self, rng: np.random.Generator, ctx: BlockContext[RemittanceParams], m: int
    ) -> dict[str, list[Any]]:
        """m remittances to initiate, all but their day's rate and their instant, drawn at once."""
        p = ctx.params
        senders = np.minimum(
            np.searchsorted(self._activity_cum, rng.random(m), side="right"), len(self._sender_ids) - 1
        )
        fraud = rng.random(m) < _fraud_rate(p, ctx)
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
        ids = uuids(rng, 2 * m)
        return {
            "remittance_id": ids[:m],
            "correlation_id": ids[m:],
            "sender": senders.tolist(),
            # 0 genuine, 1 fraud, 2 fraud drawn inside an injection window (its later steps keep the label)
            "kind": (fraud * (1 + ctx.injects("fraud"))).tolist(),
            "name": name.tolist(),
            "phone": phone.tolist(),
            "city": CITY_NAME[city].tolist(),
            "send": cents.tolist(),
            "fee": fee.tolist(),
            "method": method.tolist(),
            "partner": partner.tolist(),
            "agent": agent.tolist(),
            "hours": np.round(hours, 3).tolist(),
            "code": [c.upper() for c in hex_tokens(rng, m, 5, "LK")],
            **outcome,
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
    ) -> dict[str, list[Any]]:
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
        return {
            "fail_stage": stage.tolist(),
            "reason": names.tolist(),
            "refund": refund.tolist(),
            "failed_after": np.round(failed_after, 3).tolist(),
        }

    def _initiated(
        self, new: dict[str, list[Any]], j: int, t: int, rate_e4: int, event_id: str, truths: list[dict[str, Any]]
    ) -> tuple[Event, tuple[Any, ...]]:
        """remittance-initiated for candidate j at t, and the record its later steps are emitted from."""
        record = self._record(new, j, rate_e4)
        rid, sender, corr, kind, send, receive, rate, method = record[:8]
        s = new["sender"][j]
        assert self._t0_us is not None  # _block_times set it at the first block
        payload = {
            "remittance_id": rid,
            "sender_id": sender,
            "recipient_name": new["name"][j],
            "recipient_phone": new["phone"][j],
            "recipient_country": "HT",
            "recipient_city": new["city"][j],
            "send_amount": send,
            "send_currency": "USD",
            "receive_amount": receive,
            "receive_currency": "HTG",
            "exchange_rate": rate,
            "delivery_method": method,
            "delivery_partner": PARTNERS[new["partner"][j]],
            "agent_id": new["agent"][j],
            "fee_amount": dollars(new["fee"][j]),
            "sender_account_age_days": int(self._age0_days[s] + (t - self._t0_us) / DAY_US),
            "initiated_at": None,
        }
        value = envelope(
            event_id=event_id,
            event_type="remittance-initiated",
            time_us=t,
            source_service=self.spec.source_service,
            correlation_id=corr,
            payload=payload,
            truth=truths[kind],
        )
        payload["initiated_at"] = value["timestamp"]
        return Event(self.spec.name, sender, t, value), record

    def _record(self, new: dict[str, list[Any]], j: int, rate_e4: int) -> tuple[Any, ...]:
        """The record candidate j's steps after initiation are emitted from, at a day rate of rate_e4."""
        cents, refund = new["send"][j], new["refund"][j]
        send, fee = dollars(cents), dollars(new["fee"][j])
        receive = dollars((cents * rate_e4 + RATE_SCALE // 2) // RATE_SCALE)  # half up, to the centime
        return (
            new["remittance_id"][j],
            self._sender_ids[new["sender"][j]],
            new["correlation_id"][j],
            new["kind"][j],
            send,
            receive,
            Decimal(rate_e4).scaleb(-4),
            METHODS[new["method"][j]],
            new["hours"][j],
            new["fail_stage"][j],
            new["reason"][j],
            refund,
            send + fee if refund else dollars(0),
            new["code"][j],
            new["failed_after"][j],
        )

    def _next_step(self, entry: list[Any], t: int, event_id: str, truths: list[dict[str, Any]]) -> tuple[Event, bool]:
        """The next event of an in-flight remittance; True when it was the last."""
        (
            step,
            (
                rid,
                sender,
                corr,
                kind,
                send,
                receive,
                rate,
                method,
                hours,
                fail_stage,
                reason,
                refund,
                refund_amount,
                code,
                failed_after,
            ),
        ) = entry
        entry[0] = step + 1
        if step <= 4 and (fail_stage == 0 or step <= fail_stage):
            payload = {
                "remittance_id": rid,
                "sender_id": sender,
                "stage": STAGES[step - 1],
                "stage_number": step,
                "elapsed_hours": hours[step - 1],
                "processed_at": None,
            }
            event_type, at, done = "remittance-processing", "processed_at", False
        elif fail_stage == 0:
            payload = {
                "remittance_id": rid,
                "sender_id": sender,
                "send_amount": send,
                "receive_amount": receive,
                "exchange_rate": rate,
                "delivery_method": method,
                "confirmation_code": code,
                "processing_time_hours": hours[4],
                "completed_at": None,
            }
            event_type, at, done = "remittance-completed", "completed_at", True
        else:
            payload = {
                "remittance_id": rid,
                "sender_id": sender,
                "send_amount": send,
                "failed_stage": STAGES[fail_stage - 1],
                "failure_reason": reason,
                "refund_status": REFUND_STATUSES[refund],
                "refund_amount": refund_amount,
                "elapsed_hours": failed_after,
                "failed_at": None,
            }
            event_type, at, done = "remittance-failed", "failed_at", True
        value = envelope(
            event_id=event_id,
            event_type=event_type,
            time_us=t,
            source_service=self.spec.source_service,
            correlation_id=corr,
            payload=payload,
            truth=truths[kind],
        )
        payload[at] = value["timestamp"]
        return Event(self.spec.name, sender, t, value), done
