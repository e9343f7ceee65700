"""fintech.transactions: parameters (the seed's table plus extras), tables and the expected event count."""

from __future__ import annotations

import math
from typing import Annotated, Any, NamedTuple

import numpy as np
from pydantic import Field, field_validator, model_validator

from producer.domains.common.base import BlockContext, DomainParams, check_weights
from producer.domains.common.geo import DEVICE_P, DEVICE_TYPES

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
TYPES = ("circle_contribution", "circle_payout", "remittance", "fee", "refund")
TYPE_NAMES = np.array(TYPES, dtype=object)
CONTRIBUTION, PAYOUT, REMITTANCE, FEE, REFUND = range(5)
NORMAL, FRAUD, STRUCTURING, VELOCITY = range(4)
PATTERNS = (None, "fraud", "structuring", "velocity_spike")
COMPLETED, FAILED, FLAGGED = range(3)
SECOND_US, DAY_US = 1_000_000, 86_400_000_000

PARTNERS = ("moncash", "natcash", "unibank", "sogebank", "cam_transfer")
PARTNER_P = np.array([0.40, 0.20, 0.15, 0.15, 0.10])

# how strongly each injected pattern prefers each type, multiplied into the current type_weights
AFFINITY = {
    FRAUD: np.array([0.5, 1.0, 1.5, 0.0, 0.3]),
    STRUCTURING: np.array([1.0, 0.0, 1.5, 0.0, 0.0]),
    VELOCITY: np.array([1.0, 0.3, 1.0, 0.3, 0.3]),
}
ERROR_CODES = ("insufficient_funds", "card_declined", "network_error", "limit_exceeded", "invalid_account")
ERROR_MESSAGES = (
    "Insufficient funds in source account",
    "Card was declined by the issuer",
    "Upstream processor timed out",
    "Transaction exceeds account limit",
    "Destination account is invalid or closed",
)
RETRY_ELIGIBLE = (True, False, True, True, False)
ERROR_CDF = np.cumsum(
    np.array(
        [  # per transaction type, over ERROR_CODES
            [0.25, 0.45, 0.15, 0.05, 0.10],
            [0.00, 0.00, 0.35, 0.20, 0.45],
            [0.35, 0.00, 0.20, 0.25, 0.20],
            [0.70, 0.00, 0.30, 0.00, 0.00],
            [0.00, 0.00, 0.60, 0.00, 0.40],
        ]
    ),
    axis=1,
)
ACTIONS = ("held_for_review", "blocked", "allowed_with_monitoring")
# risk score = low + span * Beta(a, b), per pattern; >= 0.9 blocks, >= 0.7 holds, else allowed with monitoring
SCORE_MODEL = {
    NORMAL: (0.40, 0.45, 2, 3),
    FRAUD: (0.0, 1.0, 9, 2),
    STRUCTURING: (0.55, 0.40, 3, 2),
    VELOCITY: (0.60, 0.35, 3, 2),
}
VELOCITY_SIZE = (8, 15)  # transactions per velocity spike, inclusive
VELOCITY_COOLDOWN_US = 60 * SECOND_US
SERIES_P = np.array([0.30, 0.30, 0.25, 0.15])  # structuring series of 1..4 transactions
NEW_ACCOUNT_DAYS = 14
EPISODE_ORDER = np.array([VELOCITY, STRUCTURING, FRAUD, NORMAL])  # by the uniform that picks an arrival's episode
AMOUNT_FLOOR = np.array([1.0, 1.0, 10.0, 0.99, 1.0])  # dollars, per type
REMITTANCE_TIER_CENTS, REMITTANCE_FEE_CENTS = np.array([10_000, 50_000, 100_000]), np.array([299, 499, 799])


class AmountDistribution(DomainParams):
    """Log-normal amount in USD for contributions, payouts, remittances (other types derive from it)."""

    log_normal_mean: float = Field(4.5, ge=-2.0, le=12.0)
    log_normal_std: float = Field(1.2, gt=0.0, le=5.0)


class ProcessingTime(DomainParams):
    """Initiation-to-settlement delay in milliseconds (median e^6.8 ≈ 900 ms)."""

    log_normal_mean: float = Field(6.8, ge=0.0, le=11.0)
    log_normal_std: float = Field(0.8, gt=0.0, le=3.0)


DEFAULT_TYPE_WEIGHTS = {
    "circle_contribution": 0.35,
    "circle_payout": 0.15,
    "remittance": 0.30,
    "fee": 0.15,
    "refund": 0.05,
}


# keys the seed named by a per-arrival chance, now shares of events: refused, naming the new key
RENAMED = {
    "velocity_anomaly_rate": (
        "velocity_spike_share (the share of events in velocity spikes)",
        "a per-arrival chance of an 8-15-transaction spike (0.02 made ~19% of events anomalous)",
    ),
    "structuring_injection_rate": (
        "structuring_share (the share of events in structuring series)",
        "a per-arrival chance of a 1-4-transaction series (0.01 made ~1.9% of events structuring)",
    ),
}


class TransactionParams(DomainParams):
    """Parameters of fintech.transactions (seed table plus outcome and timing extras).

    The anomaly parameters are shares of the events this stream generates (initiated, completed,
    failed, flagged) that belong to each injected pattern, in steady state: fraud_injection_rate
    (one transaction per case), structuring_share (series of 1-4 transactions, the rest on the
    user's next arrivals hours apart) and velocity_spike_share (spikes of 8-15 transactions seconds
    apart). The generator turns them into per-arrival episode start chances (episode_starts).
    """

    num_users: int = Field(500, ge=1, le=5_000_000, description="size of the bounded user pool")
    time_span_days: int = Field(
        90,
        ge=1,
        le=3650,
        description=(
            "window over which users' account creation is spread, ending at the run's first event; "
            "accounts younger than 14 days get the new_account risk reason"
        ),
    )
    type_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TYPE_WEIGHTS))
    amount_distribution: AmountDistribution = Field(default_factory=AmountDistribution)
    fraud_injection_rate: Rate = Field(
        0.03, description="share of this stream's events that are injected fraud (one transaction per case)"
    )
    structuring_share: Rate = Field(
        0.01, description="share of this stream's events in structuring series (1-4 transactions hours apart)"
    )
    velocity_spike_share: Rate = Field(
        0.02, description="share of this stream's events in velocity spikes (8-15 transactions seconds apart)"
    )
    failure_rate: Rate = Field(0.03, description="share of unflagged transactions that fail")
    false_positive_rate: Rate = Field(0.005, description="share of genuine transactions the risk engine flags")
    fraud_detection_rate: Rate = Field(0.85, description="share of fraud flagged (the rest goes through)")
    structuring_detection_rate: Rate = 0.25
    velocity_detection_rate: Rate = Field(0.30, description="per spike transaction after the second")
    processing_time_ms: ProcessingTime = Field(default_factory=ProcessingTime)
    device_weights: dict[str, float] = Field(
        default_factory=lambda: dict(zip(DEVICE_TYPES, DEVICE_P.tolist())),
        description="device-type mix of users' devices and of genuine new devices",
    )
    new_device_share: Rate = Field(
        0.002, description="share of genuine transactions made on a device the user just got"
    )
    travel_share: Rate = Field(0.03, description="share of genuine transactions made away from the home city")

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        for old, (new, meant) in RENAMED.items():
            if isinstance(data, dict) and old in data:
                raise ValueError(f"{new} instead of {old}, {meant}")
        return data

    @model_validator(mode="after")
    def _shares_fit(self) -> TransactionParams:
        if self.fraud_injection_rate + self.structuring_share + self.velocity_spike_share > 1.0:
            raise ValueError("fraud_injection_rate + structuring_share + velocity_spike_share at most 1")
        return self

    @field_validator("device_weights")
    @classmethod
    def _known_devices(cls, v: dict[str, float]) -> dict[str, float]:
        return check_weights(v, DEVICE_TYPES, "device types")

    @field_validator("type_weights")
    @classmethod
    def _known_nonnegative_types(cls, v: dict[str, float]) -> dict[str, float]:
        return check_weights(v, TYPES, "transaction types")


def _device_vector(weights: dict[str, float]) -> np.ndarray:
    """Device weights in DEVICE_TYPES order."""
    return np.array([weights.get(t, 0.0) for t in DEVICE_TYPES])


def _beta_cdf(x: float, a: int, b: int) -> float:
    """Regularised incomplete beta I_x(a, b) for integer a, b."""
    n = a + b - 1
    return sum(math.comb(n, j) * x**j * (1 - x) ** (n - j) for j in range(a, n + 1))


def _allowed_share(kind: int) -> float:
    """Share of flagged transactions of a pattern that are allowed with monitoring (score < 0.7)."""
    low, span, a, b = SCORE_MODEL[kind]
    return _beta_cdf(min(max((0.7 - low) / span, 0.0), 1.0), a, b)


class EventsPer(NamedTuple):
    """Mean events of one genuine transaction, fraud case, structuring member and velocity spike; series length."""

    genuine: float
    fraud: float
    structuring: float
    velocity: float
    series: float


def events_per(p: TransactionParams) -> EventsPer:
    """Mean events per transaction (or spike) of each kind: initiated, an outcome, and allowed-flag completions."""
    spike = sum(VELOCITY_SIZE) / 2
    return EventsPer(
        genuine=2 + p.false_positive_rate * _allowed_share(NORMAL),
        fraud=2 + p.fraud_detection_rate * _allowed_share(FRAUD),
        structuring=2 + p.structuring_detection_rate * _allowed_share(STRUCTURING),
        velocity=2 * spike + p.velocity_detection_rate * (spike - 2) * _allowed_share(VELOCITY),
        series=float(np.dot(SERIES_P, np.arange(1, 5))),
    )


def episode_starts(p: TransactionParams) -> tuple[float, float, float]:
    """Per-arrival chances that a velocity spike, a structuring series or a fraud case starts, from the shares.

    With s the shares of events and e the mean events per arrival each kind takes (a spike, a
    series member, a fraud case, a genuine transaction: e_g), E events per arrival solve
    E = sum(s) E + e_g (1 - sum(s E / e)), so E = e_g / (1 - sum(s) + e_g sum(s / e)), and a
    kind's start chance is s E / e (per series: / its mean length, its later members replacing
    genuine arrivals).
    """
    e = events_per(p)
    sv, ss, sf = p.velocity_spike_share, p.structuring_share, p.fraud_injection_rate
    total = min(sv + ss + sf, 1.0)  # drift may step past the validator's bound
    episodes = sv / e.velocity + ss / e.structuring + sf / e.fraud  # arrivals the patterns take, per event
    per_arrival = e.genuine / max(1.0 - total + e.genuine * episodes, 1e-12)
    return sv * per_arrival / e.velocity, ss * per_arrival / (e.structuring * e.series), sf * per_arrival / e.fraud


def _episode_rates(p: TransactionParams, ctx: BlockContext | None = None) -> tuple[float, float, float]:
    """Per-arrival start chances of velocity, structuring, fraud (injection boosts applied), scaled down past 1."""
    boost = ctx.boost if ctx is not None else (lambda _: 1.0)
    pv, ps, pf = episode_starts(p)
    pv, ps, pf = pv * boost("velocity_spike"), ps * boost("structuring"), pf * boost("fraud")
    scale = 1.0 / max(1.0, pv + ps + pf)
    return pv * scale, ps * scale, pf * scale


def expected_events_per_arrival(p: TransactionParams) -> float:
    """Mean events one arrival yields under `p`, in steady state (structuring series complete)."""
    pv, ps, pf = _episode_rates(p)
    e = events_per(p)
    continuations = min(ps * (e.series - 1), 1 - pv - ps - pf)  # later series members replace genuine arrivals
    return (
        (1 - pv - ps - pf - continuations) * e.genuine
        + pf * e.fraud
        + (ps + continuations) * e.structuring
        + pv * e.velocity
    )
