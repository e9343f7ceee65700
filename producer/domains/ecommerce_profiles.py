"""ecommerce.customers tables: the seed's low/medium/high risk profiles, drift and lifecycle formulas.

Feature ranges, drift multipliers and the lifecycle degradation are the churn-drift seed's (its
upstream generator draws every profile feature uniformly in these ranges). The week-to-week
evolution rates at the bottom are ours: the seed draws each customer independently and has no
notion of a customer's next snapshot.
"""

from __future__ import annotations

import numpy as np

LEVELS = ("low", "medium", "high")
LOW, MEDIUM, HIGH = range(3)

# closed sets of the seed, as Avro enum symbols ("Home & Garden" -> home_garden)
CATEGORIES = ("electronics", "fashion", "home_garden", "sports", "books", "beauty", "toys", "food_beverage")
PAYMENT_METHODS = ("credit_card", "debit_card", "paypal", "bank_transfer")
SHIPPING_METHODS = ("standard", "express", "next_day", "economy")

# Rolling metrics: re-measured at every snapshot, each customer keeping its place in its level's range.
ROLLING = ("order_frequency", "website_visits_30d", "email_open_rate", "cart_abandonment_rate",
           "product_views_30d", "discount_usage_rate", "premium_product_rate")
FREQ, VISITS, EMAIL, CART, VIEWS, DISCOUNT, PREMIUM = range(len(ROLLING))
ROLLING_RANGES = {  # (low, medium, high), each (min, max)
    "order_frequency": ((1.5, 4.0), (0.3, 1.5), (0.05, 0.3)),  # orders per month
    "website_visits_30d": ((15, 40), (5, 15), (0, 5)),
    "email_open_rate": ((0.60, 0.95), (0.30, 0.60), (0.0, 0.30)),
    "cart_abandonment_rate": ((0.05, 0.25), (0.35, 0.65), (0.70, 0.95)),
    "product_views_30d": ((30, 100), (10, 30), (0, 10)),
    "discount_usage_rate": ((0.10, 0.40), (0.40, 0.70), (0.70, 0.95)),
    "premium_product_rate": ((0.30, 0.70), (0.10, 0.40), (0.0, 0.15)),
}
ROLLING_LO = np.array([[ROLLING_RANGES[f][lvl][0] for f in ROLLING] for lvl in range(3)], dtype=float)
ROLLING_SPAN = np.array([[ROLLING_RANGES[f][lvl][1] - ROLLING_RANGES[f][lvl][0] for f in ROLLING]
                         for lvl in range(3)], dtype=float)
INTEGER_ROLLING = np.array([False, True, False, False, True, False, False])
RATE_ROLLING = np.array([False, False, True, True, False, True, True])  # 0..1, rounded to 2 dp like the seed

RECENCY = np.array([(1, 14), (15, 45), (45, 120)], dtype=float)  # days_since_last_order
CUSTOMER_AGE = np.array([(365, 1825), (180, 730), (90, 365)], dtype=float)  # days
ACCOUNT_AGE_MIN = np.array([180, 90, 30], dtype=float)  # account_age_days ~ U(min, customer_age_days)
TOTAL_ORDERS = np.array([(20, 100), (5, 20), (1, 8)], dtype=float)  # int(U(lo, hi))
TOTAL_REVENUE = np.array([(2000, 15000), (300, 2000), (50, 500)], dtype=float)  # dollars
# integer counts drawn inclusive at enrolment: randint(lo, hi)
TICKETS_TOTAL = np.array([(0, 3), (2, 5), (3, 10)])
TICKETS_OPEN = np.array([(0, 0), (0, 1), (1, 3)])
RETURNS = np.array([(0, 2), (1, 4), (2, 6)])
REFUNDS = np.array([(0, 1), (0, 2), (1, 4)])
FAILED_PAYMENTS = np.array([(0, 1), (0, 2), (1, 5)])
LOW_FAILED_PAYMENT_P = 0.10  # the seed's low-risk customers have 0 failures, 1 with probability 0.1


def drift_rows(factor: float, direction: float) -> tuple[np.ndarray, np.ndarray]:
    """The seed's drift as multipliers: rows low, medium (sign +1), medium (sign -1), high.

    Returns (rolling, recency): rolling has one column per ROLLING feature, recency one value per
    row. Low: m = 1 - 0.3·f·d on frequency, visits, email, views, premium; recency × (1 + 0.5·f);
    cart × (1 + 0.3·f). Medium: m = 1 + 0.2·f·d·s (s = ±1 per customer) on frequency and email;
    recency and cart as low. High: m = 1 + 0.4·f·d; recency and cart × m; frequency, visits,
    email, views ÷ m. factor 0 gives exactly 1.0 everywhere.
    """
    f, d = float(factor), float(direction)
    low, med_up, med_down, high = 1.0 - 0.3 * f * d, 1.0 + 0.2 * f * d, 1.0 - 0.2 * f * d, 1.0 + 0.4 * f * d
    rec, cart = 1.0 + 0.5 * f, 1.0 + 0.3 * f
    rolling = np.array([
        [low, low, low, cart, low, 1.0, low],
        [med_up, 1.0, med_up, cart, 1.0, 1.0, 1.0],
        [med_down, 1.0, med_down, cart, 1.0, 1.0, 1.0],
        [1.0 / high, 1.0 / high, 1.0 / high, high, 1.0 / high, 1.0, 1.0],
    ])
    return rolling, np.array([rec, rec, rec, high])


def enrolment_multiplier(factor: float, direction: float) -> float:
    """Low-risk drift on tenure, lifetime orders and revenue (1 - 0.3·f·d), applied when a customer joins."""
    return 1.0 - 0.3 * float(factor) * float(direction)


def lifecycle_rows(progress: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The seed's degradation at lifecycle progress p (0..1): rolling multipliers and recency multiplier.

    order_frequency × (1 - 0.7p), visits × (1 - 0.8p), email × (1 - 0.6p), cart × (1 + 2p) capped
    at 0.95, days_since_last_order × (1 + 5p); support_tickets_open = int(3p) (see lifecycle_open).
    """
    p = progress[:, None]
    ones = np.ones_like(p)
    rolling = np.hstack([1 - 0.7 * p, 1 - 0.8 * p, 1 - 0.6 * p, 1 + 2 * p, ones, ones, ones])
    return rolling, 1 + 5 * progress


LIFECYCLE_CART_CAP = 0.95


def lifecycle_level(day: np.ndarray, lifecycle_days: int) -> np.ndarray:
    """Risk level of a degrading customer `day` days into its lifecycle: low < 30%, medium < 70%, high."""
    tenths = 10 * day  # integer comparison avoids 126/180 landing just under 0.7
    return np.where(tenths < 3 * lifecycle_days, LOW, np.where(tenths < 7 * lifecycle_days, MEDIUM, HIGH))


def lifecycle_open(progress: np.ndarray) -> np.ndarray:
    """support_tickets_open of a degrading customer: int(3p)."""
    return (3 * progress).astype(np.int64)


# --- week-to-week evolution (ours) ---------------------------------------------------------------------
WALK_SIGMA_WEEK = 0.08  # std of a rolling metric's weekly move, as a share of its level's range
CATEGORY_SWITCH, PAYMENT_SWITCH, SHIPPING_SWITCH = 0.03, 0.02, 0.05  # per snapshot
NEW_TICKETS_WEEK = np.array([0.02, 0.08, 0.20])  # support tickets opened per week, by profile
TICKET_CLOSE_SHARE = 0.5  # of open tickets, on average, closed before the next snapshot
RETURN_PER_ORDER = np.array([0.03, 0.10, 0.25])
REFUND_PER_ORDER = np.array([0.01, 0.05, 0.15])
FAILED_PER_ORDER = np.array([0.01, 0.05, 0.20])
ORDER_VALUE_SIGMA = 0.3  # log-normal spread of one week's order value around the customer's average
DAYS_PER_MONTH = 30.44


def poisson_from_uniform(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson(lam) by inverse CDF from one uniform each, so draws never depend on lam (drift-stable)."""
    lam = np.broadcast_to(np.asarray(lam, dtype=float), u.shape)
    n = np.zeros(u.shape, np.int64)
    term = np.exp(-lam)
    cdf = term.copy()
    active = u > cdf
    j = 0
    while active.any() and j < 100:
        j += 1
        term = term * lam / j
        cdf += term
        n += active
        active &= u > cdf
    return n
