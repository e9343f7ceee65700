"""Tables for fintech.remittances: seasons, delivery partners, stages, failure reasons, Haitian recipients."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000

# (first month, first day, last month, last day, multiplier): the seed's seasonal table, inclusive ranges
SEASONS = (
    (12, 15, 1, 7, 2.5),  # holiday season: the Haitian diaspora sends home for Christmas and New Year
    (2, 10, 2, 20, 1.8),  # carnival
    (4, 1, 4, 15, 1.5),  # Easter, family support
    (9, 1, 9, 30, 1.3),  # back to school
    (6, 1, 7, 31, 0.8),  # the quieter summer
)


def _multiplier_table() -> np.ndarray:
    """Volume multiplier by [month - 1, day - 1] (1.0 outside the seasons)."""
    table = np.ones((12, 31))
    day = date(2024, 1, 1)  # a leap year, so 29 February has an entry
    while day.year == 2024:
        for m0, d0, m1, d1, mult in SEASONS:
            start, end = (m0, d0), (m1, d1)
            here = (day.month, day.day)
            inside = start <= here <= end if start <= end else here >= start or here <= end
            if inside:
                table[day.month - 1, day.day - 1] = mult
        day += timedelta(days=1)
    return table


SEASONAL_MULTIPLIER = _multiplier_table()
MAX_MULTIPLIER = max(s[4] for s in SEASONS)
# mean over a common year of multiplier / max: the share of arrivals that produce an event, on average
MEAN_KEEP = float(
    np.mean(
        [
            SEASONAL_MULTIPLIER[d.month - 1, d.day - 1]
            for d in (date(2025, 1, 1) + timedelta(days=i) for i in range(365))
        ]
    )
    / MAX_MULTIPLIER
)


def seasonal_multiplier(times_us: np.ndarray) -> np.ndarray:
    """The seed's volume multiplier at each event-time instant (by UTC calendar date)."""
    days = (np.asarray(times_us, dtype=np.int64) // DAY_US).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    return SEASONAL_MULTIPLIER[months.astype(np.int64) % 12, (days - months).astype(np.int64)]


METHODS = ("mobile_wallet", "bank_deposit", "cash_pickup_agent")
MOBILE_WALLET, BANK_DEPOSIT, CASH_PICKUP = range(3)
DEFAULT_METHOD_WEIGHTS = {"mobile_wallet": 0.45, "bank_deposit": 0.30, "cash_pickup_agent": 0.25}
FRAUD_METHOD_P = np.array([0.30, 0.10, 0.60])  # fraudsters cash out at agents
METHOD_SPEED = np.array([0.5, 1.5, 1.2])  # processing time relative to the mean (normalised by the mix)
PARTNERS = (
    "moncash",
    "natcash",
    "unibank",
    "sogebank",
    "bnc",
    "capital_bank",
    "cam_transfer",
    "unitransfer",
    "sogexpress",
)
# partner weights per delivery method, over PARTNERS
PARTNER_P = np.array(
    [
        [0.70, 0.30, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0.35, 0.30, 0.20, 0.15, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0.45, 0.30, 0.25],
    ]
)

STAGES = ("compliance_check", "funds_captured", "partner_submitted", "in_transit")
# share of the processing time spent before each stage is reached and, last, before delivery
STAGE_ALPHA = np.array([0.4, 2.0, 2.0, 3.0, 10.0])
FAIL_STAGE_P = np.array([0.45, 0.20, 0.20, 0.15])  # last stage reached by a failing genuine remittance
FAILURE_REASONS = (
    "compliance_rejected",
    "id_verification_failed",
    "payment_declined",
    "insufficient_funds",
    "suspected_fraud",
    "partner_rejected",
    "invalid_recipient_account",
    "wallet_limit_exceeded",
    "recipient_unreachable",
    "pickup_expired",
)
SUSPECTED_FRAUD = FAILURE_REASONS.index("suspected_fraud")
# genuine failure reasons after each stage (cumulative, over FAILURE_REASONS)
REASON_CDF = np.cumsum(
    np.array(
        [
            [0.30, 0.25, 0.30, 0.15, 0, 0, 0, 0, 0, 0],  # screening fails, or capturing the funds does
            [0, 0, 0, 0, 0, 0.60, 0.40, 0, 0, 0],  # the partner does not take it
            [0, 0, 0, 0, 0, 0.30, 0.45, 0.25, 0, 0],  # the partner rejects the payout
            [0, 0, 0, 0, 0, 0, 0, 0, 0.60, 0.40],  # delivery fails
        ]
    ),
    axis=1,
)
REFUND_STATUSES = ("not_applicable", "pending", "refunded")
REFUNDED_SHARE = 0.45  # of refunds owed, already refunded when the failure is reported

FEE_TIER_CENTS, FEE_CENTS = np.array([10_000, 50_000, 100_000]), np.array([299, 499, 799])  # $2.99 to $100 ...
MIN_SEND_CENTS, MAX_SEND_CENTS = 1_000, 1_000_000  # the corridor's $10 minimum and $10,000 maximum
FRAUD_DOLLARS = (750, 2_999)  # takeover cash-outs stay under the $3,000 recordkeeping threshold
RECIPIENT_P = np.array([0.70, 0.20, 0.10])  # how often a sender pays their first, second, third recipient

FIRST_NAMES = (
    "Marie",
    "Jean",
    "Rose",
    "Pierre",
    "Nadège",
    "Wilson",
    "Fabienne",
    "Jacques",
    "Guerline",
    "Daphney",
    "Ricardo",
    "Esther",
    "Jocelyne",
    "Frantz",
    "Mirlande",
    "Stanley",
    "Woodly",
    "Fabiola",
    "Lovely",
    "Medjine",
    "Kervens",
    "Roseline",
    "Widlene",
    "Jameson",
    "Magalie",
    "Dieuseul",
    "Anne",
    "Joseph",
    "Myrlande",
    "Jude",
    "Nadia",
    "Emmanuel",
    "Sandra",
    "Yves",
    "Carline",
    "Evens",
)
LAST_NAMES = (
    "Jean-Baptiste",
    "Pierre",
    "Joseph",
    "Louis",
    "Charles",
    "Saint-Fleur",
    "Désir",
    "François",
    "Étienne",
    "Alexis",
    "Baptiste",
    "Dorsainvil",
    "Toussaint",
    "Jean-Louis",
    "Noël",
    "Cadet",
    "Célestin",
    "Augustin",
    "Michel",
    "Paul",
    "Lafortune",
    "Dorval",
    "Exantus",
    "Fils-Aimé",
    "Jeune",
    "Laguerre",
    "Mérisier",
    "Pierre-Louis",
    "Saintil",
    "Valcourt",
    "Jules",
    "Belizaire",
)
PHONE_PREFIXES = np.array([31, 32, 33, 34, 36, 37, 38, 39, 40, 41, 42, 43, 46, 47, 48, 49, 55])  # Digicel, Natcom


def haitian_names(rng: np.random.Generator, n: int) -> list[str]:
    """n recipient names."""
    first = rng.integers(0, len(FIRST_NAMES), n).tolist()
    last = rng.integers(0, len(LAST_NAMES), n).tolist()
    return [f"{FIRST_NAMES[a]} {LAST_NAMES[b]}" for a, b in zip(first, last)]


def haitian_phones(rng: np.random.Generator, n: int) -> list[str]:
    """n Haitian mobile numbers in E.164 (+509 and 8 digits)."""
    prefix = PHONE_PREFIXES[rng.integers(0, len(PHONE_PREFIXES), n)].tolist()
    return [f"+509{a}{b:06d}" for a, b in zip(prefix, rng.integers(0, 1_000_000, n).tolist())]


def fee_cents(send_cents: np.ndarray) -> np.ndarray:
    """Tiered fee: $2.99 to $100, $4.99 to $500, $7.99 to $1,000, then 1% capped at $29.99."""
    tier = np.searchsorted(FEE_TIER_CENTS, send_cents)
    return np.where(tier < 3, FEE_CENTS[np.minimum(tier, 2)], np.minimum(np.rint(send_cents * 0.01), 2999)).astype(
        np.int64
    )


def events_per_remittance(success: float, fraud: float, detection: float) -> float:
    """Mean events of one remittance: initiated, the stages it reaches, and completed or failed."""
    failed = float(np.dot(FAIL_STAGE_P, np.arange(1, 5) + 2))
    undetected = success * 6 + (1 - success) * failed
    return (1 - fraud) * undetected + fraud * (detection * 3 + (1 - detection) * undetected)
