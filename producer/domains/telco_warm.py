"""telco.accounts warm start: the account pool of a long-running process, drawn directly.

In rate mode the pool fills at new_account_rate per arrival and, once full, a new account replaces one
of 8 random accounts drawn in proportion to churn_risk_score. Low-risk accounts therefore stay far longer
(hours at the default rate), so the long-run pool is full, leans towards low churn risk, and holds lines
that have been snapshotted for many billing cycles. Renewal theory gives that state directly:

- an account with score c leaves at a constant hazard h(c) per replacement (its chance of being the one
  churned); h depends on the pool itself through the other candidates' scores, so it is a fixed point;
- the pool's accounts are onboarding draws weighted by their mean stay 1 / h(c) (Little's law), drawn by
  rejection with acceptance h(floor) / h(c);
- an account's age is exponential with rate new_account_rate * h(c) per arrival, and each of its lines
  has had a Poisson number of snapshots at (1 - new_account_rate) / lines per arrival over that age.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from producer.domains.base import uuids
from producer.domains.telco_tables import SCORE_CAP, SCORE_FLOOR, AccountParams, draw_customers

CANDIDATES = 8  # accounts sampled per replacement (AccountsGenerator._claim_slots)
BIN = 0.001  # scores carry 4 decimals; the pool's score distribution is binned this fine
HAZARD_GRID = 64  # scores the hazard is evaluated at (it is smooth: interpolated in between)
FIXED_POINT_ROUNDS = 5  # each round cuts the error about 20-fold
NEGLIGIBLE = 1e-9  # candidate multiplicities rarer than this (relative to once) are left out
BATCH = 1 << 16  # onboarding draws per rejection round (bounds memory for very large pools)


def churn_hazard(scores: np.ndarray, pool_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per replacement, each score's chance of being churned from the stationary pool: (score grid, hazard).

    `scores` are onboarding draws. An account is among the candidates k times, k ~ Binomial(8, 1/pool),
    and is then churned with probability k c / (k c + the other 8 - k candidates' scores). The others come
    from the stationary pool, itself the draws weighted by 1 / hazard: iterated to the fixed point, with
    the sums of other scores convolved from the binned pool distribution (no sampling noise).
    """
    bins = np.rint((np.clip(scores, SCORE_FLOOR, SCORE_CAP) - SCORE_FLOOR) / BIN).astype(np.int64)
    onboarded = np.bincount(bins) / len(scores)
    centers = SCORE_FLOOR + BIN * np.arange(len(onboarded))
    grid = np.linspace(SCORE_FLOOR, SCORE_CAP, HAZARD_GRID)
    q = 1.0 / pool_size
    times_drawn = [math.comb(CANDIDATES, k) * q**k * (1 - q) ** (CANDIDATES - k) for k in range(CANDIDATES + 1)]
    multiplicities = [k for k in range(1, CANDIDATES + 1) if times_drawn[k] > NEGLIGIBLE * times_drawn[1]]
    hazard = grid.copy()  # any increasing start: the first round weighs the pool by 1 / score
    for _ in range(FIXED_POINT_ROUNDS):
        pool = onboarded / np.interp(centers, grid, hazard)
        pool /= pool.sum()
        sums = [np.ones(1)]  # distribution of the sum of j other candidates' scores, on j * floor + BIN * i
        for _ in range(CANDIDATES - 1):
            sums.append(np.convolve(sums[-1], pool))
        hazard = np.zeros(HAZARD_GRID)
        for k in multiplicities:
            j = CANDIDATES - k
            others = j * SCORE_FLOOR + BIN * np.arange(len(sums[j]))
            mine = k * grid[:, None]
            hazard += times_drawn[k] * (mine / (mine + others[None, :])) @ sums[j]
    return grid, hazard


def pool_customers(
    rng: np.random.Generator, p: AccountParams, tables: dict[str, Any], pool_size: int, anchor_us: int
) -> tuple[dict[str, Any], np.ndarray]:
    """The accounts of a stationary full pool (draw_customers' columns) and each one's churn hazard."""
    first = draw_customers(rng, p, tables, min(BATCH, 24 * pool_size + 1024), anchor_us, ids=False)
    grid, hazard = churn_hazard(first["score"], pool_size)
    kept: list[dict[str, Any]] = []
    found, batch = 0, first
    while True:
        h = np.interp(batch["score"], grid, hazard)
        take = np.flatnonzero(rng.random(len(h)) * h < hazard[0])[: pool_size - found]
        kept.append({name: column[take] for name, column in batch.items()})
        found += len(take)
        if found == pool_size:
            break
        batch = draw_customers(rng, p, tables, BATCH, anchor_us, ids=False)
    cust: dict[str, Any] = {name: np.concatenate([part[name] for part in kept]) for name in first}
    ids = uuids(rng, 2 * pool_size)
    cust["account_id"], cust["customer_id"] = ids[:pool_size], ids[pool_size:]
    return cust, np.interp(cust["score"], grid, hazard)


def billing_cycles(
    rng: np.random.Generator, new_account_rate: float, hazard: np.ndarray, owner: np.ndarray
) -> np.ndarray:
    """Snapshots each line of the stationary pool has had: Poisson over its account's exponential age.

    Ages count arrivals: an account is replaced at new_account_rate * hazard per arrival; a line is
    snapshotted at (1 - new_account_rate) / lines per arrival, lines being the pool's line count.
    """
    age = rng.exponential(1.0 / (new_account_rate * hazard))
    return rng.poisson(age[owner] * (1.0 - new_account_rate) / max(len(owner), 1)).astype(np.int64)
