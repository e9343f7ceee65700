"""ecommerce.customers tables and customer simulator: the seed's risk profiles, drift and lifecycle formulas.

Feature ranges, drift multipliers and the lifecycle degradation are the churn-drift seed's (its
upstream generator draws every profile feature uniformly in these ranges). The week-to-week
evolution rates and the simulator at the bottom are ours: the seed draws each customer
independently and has no notion of a customer's next snapshot. The simulator (a fresh customer,
its snapshot, one interval of its life) works on arrays of customers and serves both the rate
mode's panel and replay mode's journeys, so the two evolve customers identically.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from producer.domains.common.base import uuids

if TYPE_CHECKING:
    from producer.domains.ecommerce.customers import CustomerParams

LEVELS = ("low", "medium", "high")
LOW, MEDIUM, HIGH = range(3)

# closed sets of the seed, as Avro enum symbols ("Home & Garden" -> home_garden)
CATEGORIES = ("electronics", "fashion", "home_garden", "sports", "books", "beauty", "toys", "food_beverage")
PAYMENT_METHODS = ("credit_card", "debit_card", "paypal", "bank_transfer")
SHIPPING_METHODS = ("standard", "express", "next_day", "economy")

# Rolling metrics: re-measured at every snapshot, each customer keeping its place in its level's range.
ROLLING = (
    "order_frequency",
    "website_visits_30d",
    "email_open_rate",
    "cart_abandonment_rate",
    "product_views_30d",
    "discount_usage_rate",
    "premium_product_rate",
)
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
ROLLING_SPAN = np.array(
    [[ROLLING_RANGES[f][lvl][1] - ROLLING_RANGES[f][lvl][0] for f in ROLLING] for lvl in range(3)], dtype=float
)
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
# returns are of orders: the seed's range cut at the customer's total_orders (a high-risk customer with
# 3 orders has 2 or 3 returns, with 1 order 1), since the seed's independent draws give more returns than orders
RETURNS = np.array([(0, 2), (1, 4), (2, 6)])
# refunds are of orders too, cut likewise (high risk 1-4 with 1 order: 1). Not of returns: the seed does not
# relate the two, and an order is refunded without a return when it is lost, damaged or cancelled
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
    rolling = np.array(
        [
            [low, low, low, cart, low, 1.0, low],
            [med_up, 1.0, med_up, cart, 1.0, 1.0, 1.0],
            [med_down, 1.0, med_down, cart, 1.0, 1.0, 1.0],
            [1.0 / high, 1.0 / high, 1.0 / high, high, 1.0 / high, 1.0, 1.0],
        ]
    )
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


# --- the customer simulator both modes share (ours), on arrays of customers: panel slots in the rate
# mode, a block's new customers in replay ---------------------------------------------------------------

# per-customer float state: rolling-metric positions in [0, 1], recency (days, before drift), average
# order value (cents), medium-risk drift sign
NR = len(ROLLING)
REC, AOV, SIGN = NR, NR + 1, NR + 2
NF = NR + 3
# per-customer integer state
(
    K,
    AGE,
    ACCT,
    ORDERS,
    REVENUE,
    T_TOTAL,
    T_OPEN,
    N_RETURNS,
    N_REFUNDS,
    FAILED,
    CATEGORY,
    PAYMENT,
    SHIPPING,
    DEGRADING,
    PROFILE,
) = range(15)
NI = 15
ENROL_UNIFORMS, STEP_UNIFORMS = 22, 10
NOUT_I, NOUT_F = 19, 5  # integer and float columns of one snapshot (see measure)


def randint_rows(lohi: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inclusive integer draws randint(lo, hi) per row of an (m, 2) bounds array, from uniforms."""
    return lohi[:, 0] + (u * (lohi[:, 1] - lohi[:, 0] + 1)).astype(np.int64)


def fresh(rng: np.random.Generator, prof: np.ndarray, p: CustomerParams) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Fresh customers at profile levels `prof`, drawn from the seed's profile ranges: (floats, ints, ids)."""
    m = len(prof)
    u = rng.random((m, ENROL_UNIFORMS))
    deg = (prof == LOW) & (u[:, 0] < p.degrading_share)
    mult = np.where(prof == LOW, enrolment_multiplier(p.drift_factor, p.drift_direction), 1.0)
    age = CUSTOMER_AGE[prof]
    age = ((age[:, 0] + u[:, 1] * (age[:, 1] - age[:, 0])) * mult).astype(np.int64)
    acct_min = ACCOUNT_AGE_MIN[prof]
    acct = (acct_min + u[:, 2] * np.maximum(age - acct_min, 0)).astype(np.int64)
    orders = TOTAL_ORDERS[prof]
    orders = np.maximum(((orders[:, 0] + u[:, 3] * (orders[:, 1] - orders[:, 0])) * mult).astype(np.int64), 1)
    revenue = TOTAL_REVENUE[prof]
    revenue = np.rint((revenue[:, 0] + u[:, 4] * (revenue[:, 1] - revenue[:, 0])) * mult * 100).astype(np.int64)
    # the seed draws recency and tenure independently; the last order cannot predate the customer, so
    # recency is uniform on its level's range cut at the customer's age (every age is above its range's
    # bottom, so only young high-risk customers' draws change)
    rec = RECENCY[prof]
    f = np.empty((m, NF))
    f[:, :NR] = u[:, 6 : 6 + NR]
    f[:, REC] = rec[:, 0] + u[:, 5] * (np.minimum(rec[:, 1], age) - rec[:, 0])
    f[:, AOV] = revenue / orders
    f[:, SIGN] = np.where(u[:, 21] < 0.5, -1.0, 1.0)
    failed = np.where(
        prof == LOW, (u[:, 17] < LOW_FAILED_PAYMENT_P).astype(np.int64), randint_rows(FAILED_PAYMENTS[prof], u[:, 17])
    )
    i = np.column_stack(
        [
            np.zeros(m, np.int64),
            age,
            acct,
            orders,
            revenue,
            randint_rows(TICKETS_TOTAL[prof], u[:, 13]),
            randint_rows(TICKETS_OPEN[prof], u[:, 14]),
            randint_rows(np.minimum(RETURNS[prof], orders[:, None]), u[:, 15]),  # see RETURNS
            randint_rows(np.minimum(REFUNDS[prof], orders[:, None]), u[:, 16]),  # see REFUNDS
            failed,
            (u[:, 18] * len(CATEGORIES)).astype(np.int64),
            (u[:, 19] * len(PAYMENT_METHODS)).astype(np.int64),
            (u[:, 20] * len(SHIPPING_METHODS)).astype(np.int64),
            deg.astype(np.int64),
            prof,
        ]
    )
    return f, i, uuids(rng, m)


def measure(
    p: CustomerParams,
    drift: tuple[np.ndarray, np.ndarray],
    f: np.ndarray,
    i: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customers' current snapshots: (integer columns, float columns, undrifted order frequency).

    A steady customer's level is its profile; a degrading one's (profile low) follows its lifecycle.
    """
    prof, deg, k = i[:, PROFILE], i[:, DEGRADING] == 1, i[:, K]
    interval, life = p.snapshot_interval_days, p.lifecycle_days
    day = k * interval
    progress = np.where(deg, np.minimum(day / life, 1.0), 0.0)
    level = np.where(deg, lifecycle_level(day, life), prof)
    row = np.where(prof == HIGH, 3, np.where((prof == MEDIUM) & (f[:, SIGN] < 0), 2, prof))
    life_roll, life_rec = lifecycle_rows(progress)
    lived = (ROLLING_LO[prof] + ROLLING_SPAN[prof] * f[:, :NR]) * life_roll
    rolling = lived * drift[0][row]
    rolling[:, CART] = np.where(deg, np.minimum(rolling[:, CART], LIFECYCLE_CART_CAP), rolling[:, CART])
    rates = np.round(np.clip(rolling[:, RATE_ROLLING], 0.0, 1.0), 2)
    counts = rolling[:, INTEGER_ROLLING].astype(np.int64)
    # drift lengthens recency (x 1.4 on high risk) but the last order cannot predate the customer:
    # capped at its age, as rates are at 1 (undrifted recency is within the age already, see fresh)
    recency = np.minimum((f[:, REC] * drift[1][row] * life_rec).astype(np.int64), i[:, AGE] + day)
    aov = np.rint(i[:, REVENUE] / i[:, ORDERS]).astype(np.int64)
    out_i = np.column_stack(
        [
            level,
            k,
            day,
            i[:, AGE] + day,
            i[:, ACCT] + day,
            recency,
            i[:, ORDERS],
            i[:, REVENUE],
            aov,
            counts[:, 0],
            counts[:, 1],
            i[:, T_TOTAL],
            i[:, T_OPEN],
            i[:, N_RETURNS],
            i[:, N_REFUNDS],
            i[:, FAILED],
            i[:, CATEGORY],
            i[:, PAYMENT],
            i[:, SHIPPING],
        ]
    )
    out_f = np.empty((len(k), NOUT_F))
    out_f[:, 0] = np.round(rolling[:, FREQ], 2)
    out_f[:, 1:] = rates
    # drift shifts what is measured, not the customer's simulated history (orders come at the undrifted rate)
    return out_i, out_f, lived[:, FREQ]


def evolve(
    rng: np.random.Generator,
    p: CustomerParams,
    f: np.ndarray,
    i: np.ndarray,
    frequency: np.ndarray,
) -> np.ndarray:
    """One interval of customers' lives, in place: metrics wander, orders and tickets come, counters grow.

    Returns each customer's lifecycle day at its next snapshot.
    """
    m, interval, life = len(f), p.snapshot_interval_days, p.lifecycle_days
    prof, deg = i[:, PROFILE], i[:, DEGRADING] == 1
    u, z = rng.random((m, STEP_UNIFORMS)), rng.standard_normal((m, NR + 1))
    weeks = interval / 7.0
    walk = np.abs(f[:, :NR] + min(WALK_SIGMA_WEEK * math.sqrt(weeks), 0.5) * z[:, :NR])
    f[:, :NR] = np.clip(np.where(walk > 1.0, 2.0 - walk, walk), 0.0, 1.0)  # reflected at 0 and 1
    # orders at the customer's current frequency; recency climbs and drops back when it orders
    orders = poisson_from_uniform(u[:, 0], frequency * interval / DAYS_PER_MONTH)
    rec = RECENCY[prof]
    climbed = f[:, REC] + interval
    # a steady customer orders before recency leaves its level's range; a degrading one need not,
    # its recency (before the seed's x (1 + 5p)) then rests at the range's top
    orders = np.where(~deg & (climbed > rec[:, 1]), np.maximum(orders, 1), orders)
    climbed = np.where(deg, np.minimum(climbed, rec[:, 1]), climbed)
    f[:, REC] = np.where(orders > 0, rec[:, 0] + u[:, 1] * np.minimum(interval, rec[:, 1] - rec[:, 0]), climbed)
    value = orders * f[:, AOV] * np.exp(ORDER_VALUE_SIGMA * z[:, NR] - ORDER_VALUE_SIGMA**2 / 2)
    i[:, ORDERS] += orders
    i[:, REVENUE] += np.rint(value).astype(np.int64)
    # tickets: new ones open, about half the open ones close; open never exceeds the lifetime total
    new = poisson_from_uniform(u[:, 2], NEW_TICKETS_WEEK[prof] * weeks)
    was_open = i[:, T_OPEN]
    closed = (was_open * u[:, 3] + 0.5).astype(np.int64)
    now_open = np.clip(was_open + new - closed, TICKETS_OPEN[prof, 0], TICKETS_OPEN[prof, 1])
    i[:, K] += 1
    next_day = i[:, K] * interval
    now_open = np.where(deg, lifecycle_open(np.minimum(next_day / life, 1.0)), now_open)
    i[:, T_TOTAL] += new + np.maximum(now_open - was_open - new, 0)
    i[:, T_OPEN] = now_open
    # an order is returned at most once and refunded at most once, so neither overtakes orders
    i[:, N_RETURNS] += np.minimum(poisson_from_uniform(u[:, 4], orders * RETURN_PER_ORDER[prof]), orders)
    i[:, N_REFUNDS] += np.minimum(poisson_from_uniform(u[:, 5], orders * REFUND_PER_ORDER[prof]), orders)
    i[:, FAILED] += poisson_from_uniform(u[:, 6], orders * FAILED_PER_ORDER[prof])
    for col, share, u_col, choices in (
        (CATEGORY, CATEGORY_SWITCH, 7, len(CATEGORIES)),
        (PAYMENT, PAYMENT_SWITCH, 8, len(PAYMENT_METHODS)),
        (SHIPPING, SHIPPING_SWITCH, 9, len(SHIPPING_METHODS)),
    ):
        switch = u[:, u_col] < share  # the uniform below the share, rescaled, picks the new value
        i[:, col] = np.where(switch, (u[:, u_col] / share * choices).astype(np.int64), i[:, col])
    return next_day
