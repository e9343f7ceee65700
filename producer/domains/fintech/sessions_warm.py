"""Warm start of fintech.sessions: the state of sessions open in a process that has long been running.

Sessions start at a steady rate and last a clipped log-normal time, so those open at an instant are
a renewal process seen from inside: their lengths are length-biased (a session twice as long is twice
as likely to be open), their ages uniform over their lengths, and each has performed the actions that
fell in its elapsed part (its actions are uniform instants over the session, independent of it).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from producer.domains.common.sampling import pick

SECOND_US = 1_000_000
GRID = 4097  # points of the tabulated inverse CDF of the body (its error is far below any test's reach)


def _normal_cdf(z: float) -> float:
    """Standard normal CDF."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def clipped_lognormal_parts(mu: float, sigma: float, lo: float, hi: float) -> tuple[float, float, float]:
    """E[clip(X, lo, hi)] for X ~ LogNormal(mu, sigma) in three parts: lo P(X<lo), E[X; lo<=X<=hi], hi P(X>hi)."""
    a, b = (math.log(lo) - mu) / sigma, (math.log(hi) - mu) / sigma
    mean = math.exp(mu + sigma**2 / 2)
    return lo * _normal_cdf(a), mean * (_normal_cdf(b - sigma) - _normal_cdf(a - sigma)), hi * (1.0 - _normal_cdf(b))


def length_biased_lognormal(
    rng: np.random.Generator, n: int, mu: float, sigma: float, lo: float, hi: float
) -> np.ndarray:
    """n lengths of clip(X, lo, hi), X ~ LogNormal(mu, sigma), biased by length (density ∝ length x density).

    Biased by length, the clip's atoms weigh lo P(X<lo) and hi P(X>hi), and its body x f(x) on [lo, hi]
    is LogNormal(mu + sigma², sigma) truncated there, drawn by its inverse CDF (tabulated: no scipy here).
    """
    part = pick(np.array(clipped_lognormal_parts(mu, sigma, lo, hi)), rng.random(n))
    out = np.where(part == 0, lo, hi).astype(float)
    body = np.flatnonzero(part == 1)
    log_x = np.linspace(math.log(lo), math.log(hi), GRID)
    cdf = np.array([_normal_cdf((x - mu - sigma**2) / sigma) for x in log_x.tolist()])
    u = cdf[0] + rng.random(len(body)) * (cdf[-1] - cdf[0])
    out[body] = np.exp(np.interp(u, cdf, log_x))
    return out


class OpenSessions(NamedTuple):
    """Sessions open at an instant, as the generator's slots hold them (times in µs)."""

    duration_s: np.ndarray  # natural length, as session-ended reports it
    start: np.ndarray
    end: np.ndarray
    next_at: np.ndarray  # the next action, or the end once none is left
    left: np.ndarray  # actions still to come
    done: np.ndarray  # actions performed (the last sequence_number)


def open_sessions(
    rng: np.random.Generator,
    n: int,
    now_us: int,
    scale: float,
    duration: tuple[float, float, tuple[float, float]],
    actions: tuple[float, float, int],
) -> OpenSessions:
    """n sessions open at `now_us` in the steady state: length-biased, uniformly aged, their past actions done.

    duration: (mu, sigma, (lo, hi)) of the log-normal length in seconds, timelines compressed by `scale`;
    actions: (mu, sigma, most) of the log-normal action count, rounded, at least 1.
    """
    mu, sigma, clip = duration
    seconds = length_biased_lognormal(rng, n, mu, sigma, *clip)
    span = np.maximum((seconds * scale * SECOND_US).astype(np.int64), 1)
    age = (rng.random(n) * span).astype(np.int64)  # below span: the session is still open
    start = now_us - age
    end = start + span
    a_mu, a_sigma, most = actions
    count = np.clip(np.rint(rng.lognormal(a_mu, a_sigma, n)), 1, most).astype(np.int64)
    done = rng.binomial(count, age / span)  # each action is a uniform instant of the session
    left = count - done
    # the rest are uniform over (now, end): the next is their minimum, as the generator draws it
    frac = 1.0 - rng.random(n) ** (1.0 / np.maximum(left, 1))
    next_at = np.where(left > 0, now_us + ((end - now_us) * frac).astype(np.int64), end)
    return OpenSessions(seconds, start, end, next_at, left.astype(np.int32), done.astype(np.int32))
