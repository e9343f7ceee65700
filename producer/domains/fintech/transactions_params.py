"""fintech.transactions: parameters (the seed's table plus extras), tables and the expected event count."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import Field, field_validator

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


class TransactionParams(DomainParams):
    """Parameters of fintech.transactions (seed table plus outcome and timing extras).

    Injection rates are per-arrival probabilities that an episode starts: a fraud transaction, a
    structuring series (1-4 transactions, the rest on the user's next arrivals hours apart), or a
    velocity spike (8-15 transactions seconds apart).
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
    fraud_injection_rate: Rate = 0.03
    structuring_injection_rate: Rate = 0.01
    velocity_anomaly_rate: Rate = 0.02
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


def _episode_rates(p: TransactionParams, ctx: BlockContext | None = None) -> tuple[float, float, float]:
    """Per-arrival start probabilities of velocity, structuring, fraud, scaled down if they exceed 1."""
    boost = ctx.boost if ctx is not None else (lambda _: 1.0)
    pv = p.velocity_anomaly_rate * boost("velocity_spike")
    ps = p.structuring_injection_rate * boost("structuring")
    pf = p.fraud_injection_rate * boost("fraud")
    scale = 1.0 / max(1.0, pv + ps + pf)
    return pv * scale, ps * scale, pf * scale


def expected_events_per_arrival(p: TransactionParams) -> float:
    """Mean events one arrival yields under `p`, in steady state (structuring series complete)."""
    pv, ps, pf = _episode_rates(p)
    spike = sum(VELOCITY_SIZE) / 2
    series = float(np.dot(SERIES_P, np.arange(1, 5)))
    continuations = min(ps * (series - 1), 1 - pv - ps - pf)  # later series members replace genuine arrivals
    genuine = 2 + p.false_positive_rate * _allowed_share(NORMAL)
    fraud = 2 + p.fraud_detection_rate * _allowed_share(FRAUD)
    structuring = 2 + p.structuring_detection_rate * _allowed_share(STRUCTURING)
    velocity = 2 * spike + p.velocity_detection_rate * (spike - 2) * _allowed_share(VELOCITY)
    return (
        (1 - pv - ps - pf - continuations) * genuine + pf * fraud + (ps + continuations) * structuring + pv * velocity
    )
