"""telco.accounts warm start: the account pool of a long-running process, drawn directly.

In rate mode the pool fills at new_account_rate per arrival and, once full, a new account replaces one
of 8 random accounts drawn in proportion to churn_risk_score. Low-risk accounts therefore stay far longer
(hours at the default rate), so the long-run pool is full, leans towards low churn risk, and holds lines
that have been snapshotted for many billing cycles. Renewal theory gives that state directly:

- an account with score c leaves at a constant hazard h(c) per replacement (its chance of being the one
  churned); h depends on the pool itself through the other candidates' scores, so it is a fixed point;
- the pool's accounts are onboarding draws weighted by their mean stay 1 / h(c) (Little's law). Onboarding's
  score is a mixture: one normal component per (tenure month, payment method, service type), clipped and
  rounded to 4 decimals. So the hazard comes from that mixture's score distribution, computed (no sampling
  noise) and cached per (mixture, pool size) as partitions share it; sampling draws only what acceptance
  needs: a component and its noise, by rejection with acceptance h(floor) / h(c) split into a per-component
  bound and the rest. The kept accounts alone then get their other attributes (independent of the score
  given the component);
- an account's age is exponential with rate new_account_rate * h(c) per arrival, and each of its lines
  has had a Poisson number of snapshots at (1 - new_account_rate) / lines per arrival over that age.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from producer.domains.common.base import uuids
from producer.domains.telco.accounts_tables import (
    SCORE_CAP,
    SCORE_FLOOR,
    TENURE_BINS,
    AccountParams,
    draw_customers,
    mean_score,
)

CANDIDATES = 8  # accounts sampled per replacement (AccountsGenerator._claim_slots)
BIN = 0.002  # the pool's score distribution is binned this fine (linearly: hazards within 3e-4 of STEP's)
HAZARD_GRID = 64  # scores the hazard is evaluated at (it is smooth: interpolated in between)
FIXED_POINT_ROUNDS = 5  # each round cuts the error about 20-fold
NEGLIGIBLE = 1e-9  # candidate multiplicities rarer than this (relative to once) are left out
BATCH = 1 << 18  # candidates per rejection round at most (bounds memory for very large pools)
STEP = 1e-4  # scores are rounded to 4 decimals: this grid is where they live
FLOOR_STEP, CAP_STEP = round(SCORE_FLOOR / STEP), round(SCORE_CAP / STEP)
NOISE_REACH = 6.0  # noise below -6 sd (p 1e-9) is accepted at the bound of -6 sd: a bias under 1e-7


class Mixture(NamedTuple):
    """Onboarding's churn-risk score as a mixture: per component its weight, attributes and mean score."""

    weight: np.ndarray
    tenure: np.ndarray
    payment: np.ndarray
    service: np.ndarray
    mean: np.ndarray
    noise: float


class Stationary(NamedTuple):
    """The stationary pool's churn hazard and the tables that sample it (one per mixture and pool size)."""

    grid: np.ndarray  # scores the hazard is evaluated at
    hazard: np.ndarray
    accept: np.ndarray  # h(floor) / h(score) on the STEP grid from floor to cap
    bound: np.ndarray  # per component, the acceptance at its lowest score within NOISE_REACH
    keep: np.ndarray  # alias table of the components in proportion to weight times bound: own share
    alias: np.ndarray  # and the component drawn otherwise
    tries: float  # candidates per kept account, on average


def probabilities(table: tuple[np.ndarray, int]) -> np.ndarray:
    """The probabilities of a prepared weight table (accounts_tables.cumulative)."""
    cum = table[0]
    return np.diff(cum, prepend=0.0) / cum[-1]


def onboarding_mixture(p: AccountParams, tables: dict[str, Any]) -> Mixture:
    """Onboarding's score mixture: tenure months are uniform within their bin, service follows the lines drawn."""
    months = 12 * len(TENURE_BINS)
    lines = probabilities(tables["multiple"])  # no, yes, no phone service (internet only)
    share = p.home_internet_share
    service = np.array([(1 - lines[2]) * (1 - share), (1 - lines[2]) * share, lines[2]])
    t, pay, svc = (a.ravel() for a in np.meshgrid(np.arange(months), np.arange(4), np.arange(3), indexing="ij"))
    weight = (np.repeat(probabilities(tables["tenure"]), 12) / 12)[t] * probabilities(tables["payment"])[pay]
    weight = weight * service[svc]
    return Mixture(weight, t, pay, svc, mean_score(p, tables, t, pay, svc), p.churn_risk.noise_std)


def alias_table(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table of a discrete distribution: per slot, its own share and the other index in it."""
    n = len(weight)
    scaled = (weight * n / weight.sum()).tolist()
    keep, alias = np.ones(n), np.arange(n)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        few, many = small.pop(), large.pop()
        keep[few], alias[few] = scaled[few], many
        scaled[many] -= 1.0 - scaled[few]
        (small if scaled[many] < 1.0 else large).append(many)
    return keep, alias  # slots left over are exactly full, up to rounding


def score_distribution(weight: np.ndarray, mean: np.ndarray, noise: float) -> np.ndarray:
    """An onboarding draw's score distribution on bins of BIN from the floor: component means, each split
    linearly between its neighbouring bins, spread by the noise, then clipped (the 4-decimal rounding, a
    shift of at most STEP / 2 averaging zero, is left out)."""
    pad = math.ceil(NOISE_REACH * noise / BIN) + 1
    bins = round((SCORE_CAP - SCORE_FLOOR) / BIN) + 1
    size = bins + 2 * pad
    x = np.clip((mean - SCORE_FLOOR) / BIN + pad, 0, size - 1.001)
    lo = x.astype(np.int64)  # each mean's weight split between its neighbouring grid points
    at = np.bincount(lo, weight * (lo + 1 - x), size) + np.bincount(lo + 1, weight * (x - lo), size)
    kernel = np.exp(-0.5 * (np.arange(-pad, pad + 1) * BIN / max(noise, 1e-12)) ** 2)
    spread = np.convolve(at, kernel / kernel.sum())
    out = spread[2 * pad : 2 * pad + bins].copy()
    out[0] += spread[: 2 * pad].sum()  # below the floor: clipped to it
    out[-1] += spread[2 * pad + len(out) :].sum()
    return np.maximum(out, 0.0) / out.sum()


def churn_hazard(onboarded: np.ndarray, pool_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per replacement, each score's chance of being churned from the stationary pool: (score grid, hazard).

    `onboarded` is the onboarding score distribution on bins of BIN from the floor. An account is among the
    candidates k times, k ~ Binomial(8, 1/pool), and is then churned with probability k c / (k c + the other
    8 - k candidates' scores). The others come from the stationary pool, itself the draws weighted by
    1 / hazard: iterated to the fixed point, with the sums of other scores convolved from the binned pool
    distribution (no sampling noise).
    """
    centers = SCORE_FLOOR + BIN * np.arange(len(onboarded))
    grid = np.linspace(SCORE_FLOOR, SCORE_CAP, HAZARD_GRID)
    q = 1.0 / pool_size
    times_drawn = [math.comb(CANDIDATES, k) * q**k * (1 - q) ** (CANDIDATES - k) for k in range(CANDIDATES + 1)]
    multiplicities = [k for k in range(1, CANDIDATES + 1) if times_drawn[k] > NEGLIGIBLE * times_drawn[1]]
    shares = {}  # per multiplicity: the chance, by sum of the others' scores, of being the one churned
    for k in multiplicities:
        j = CANDIDATES - k
        others = j * SCORE_FLOOR + BIN * np.arange(j * (len(onboarded) - 1) + 1)
        mine = k * grid[:, None]
        shares[k] = times_drawn[k] * (mine / (mine + others[None, :]))
    hazard = grid.copy()  # any increasing start: the first round weighs the pool by 1 / score
    for _ in range(FIXED_POINT_ROUNDS):
        pool = onboarded / np.interp(centers, grid, hazard)
        pool /= pool.sum()
        sums = [np.ones(1)]  # distribution of the sum of j other candidates' scores, on j * floor + BIN * i
        for _ in range(CANDIDATES - 1):
            sums.append(np.convolve(sums[-1], pool))
        hazard = np.zeros(HAZARD_GRID)
        for k, share in shares.items():
            hazard += share @ sums[CANDIDATES - k]
    return grid, hazard


@lru_cache(maxsize=16)
def stationary(mix_key: bytes, noise: float, pool_size: int) -> Stationary:
    """The hazard and sampling tables of a mixture (weights then means, as bytes) and pool size, cached."""
    weight, mean = np.frombuffer(mix_key).reshape(2, -1)
    onboarded = score_distribution(weight, mean, noise)
    grid, hazard = churn_hazard(onboarded, pool_size)
    accept = hazard[0] / np.interp(SCORE_FLOOR + STEP * np.arange(CAP_STEP - FLOOR_STEP + 1), grid, hazard)
    lowest = np.rint(np.clip(mean - NOISE_REACH * noise, SCORE_FLOOR, SCORE_CAP) / STEP).astype(np.int64)
    bound = accept[np.maximum(lowest - FLOOR_STEP - 1, 0)]  # a step lower: safe against rounding
    keep, alias = alias_table(weight * bound)
    for table in (grid, hazard, accept, bound, keep, alias):
        table.flags.writeable = False  # shared by every partition
    kept_share = onboarded @ np.interp(SCORE_FLOOR + BIN * np.arange(len(onboarded)), grid, hazard[0] / hazard)
    return Stationary(grid, hazard, accept, bound, keep, alias, float(weight @ bound) / kept_share)


def kept_candidates(
    rng: np.random.Generator, mix: Mixture, st: Stationary, pool_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Components and scores of the pool's accounts: onboarding candidates kept with chance h(floor) / h(c).

    A candidate's component is drawn in proportion to weight times its acceptance bound, and kept with
    chance accept(score) / bound: together, onboarding draws kept with chance accept(score)."""
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    found = 0
    while found < pool_size:
        n = min(BATCH, math.ceil((pool_size - found) * st.tries * 1.05) + 64)
        slot = rng.random(n) * len(st.keep)
        comp = np.minimum(slot.astype(np.int64), len(st.keep) - 1)
        comp = np.where(slot - comp < st.keep[comp], comp, st.alias[comp])
        score = np.round(np.clip(mix.mean[comp] + mix.noise * rng.standard_normal(n), SCORE_FLOOR, SCORE_CAP), 4)
        chance = st.accept[np.rint(score / STEP).astype(np.int64) - FLOOR_STEP]
        take = np.flatnonzero(rng.random(n) * st.bound[comp] < chance)[: pool_size - found]
        kept.append((comp[take], score[take]))
        found += len(take)
    return np.concatenate([c for c, _ in kept]), np.concatenate([s for _, s in kept])


def pool_customers(
    rng: np.random.Generator, p: AccountParams, tables: dict[str, Any], pool_size: int, anchor_us: int
) -> tuple[dict[str, Any], np.ndarray]:
    """The accounts of a stationary full pool (draw_customers' columns) and each one's churn hazard."""
    mix = onboarding_mixture(p, tables)
    st = stationary(np.concatenate([mix.weight, mix.mean]).tobytes(), mix.noise, pool_size)
    comp, score = kept_candidates(rng, mix, st, pool_size)
    service = mix.service[comp]
    lines = probabilities(tables["multiple"])
    one_line = lines[0] / max(lines[0] + lines[1], 1e-300)  # given a phone service
    risk = {
        "months": mix.tenure[comp] + rng.random(pool_size),  # uniform within the tenure month
        "payment": mix.payment[comp],
        "multiple": np.where(service == 2, 2, (rng.random(pool_size) >= one_line).astype(np.int64)),
        "home": service >= 1,
        "service": service,
        "score": score,
    }
    cust = draw_customers(rng, p, tables, pool_size, anchor_us, ids=False, risk=risk)
    ids = uuids(rng, 2 * pool_size)
    cust["account_id"], cust["customer_id"] = ids[:pool_size], ids[pool_size:]
    return cust, np.interp(score, st.grid, st.hazard)


def billing_cycles(
    rng: np.random.Generator, new_account_rate: float, hazard: np.ndarray, owner: np.ndarray
) -> np.ndarray:
    """Snapshots each line of the stationary pool has had: Poisson over its account's exponential age.

    Ages count arrivals: an account is replaced at new_account_rate * hazard per arrival; a line is
    snapshotted at (1 - new_account_rate) / lines per arrival, lines being the pool's line count.
    """
    age = rng.exponential(1.0 / (new_account_rate * hazard))
    return rng.poisson(age[owner] * (1.0 - new_account_rate) / max(len(owner), 1)).astype(np.int64)
