"""Account-takeover chains: one plan, three topics. A takeover login, then fraudulent transactions, then a remittance.

A chain is an attacker's path through one user's account: a takeover login and session on
fintech.sessions (a new device, often a foreign or hosting-provider IP), then one to three
fraudulent transactions on fintech.transactions minutes later, then a cash-out remittance on
fintech.remittances, every event of it labelled pattern account_takeover and one truth.episode_id.

No generator tells another anything. The chains of each minute of event time (a chunk) are a pure
function of (seed, virtual partition, chunk) and of the scenario's parameters at that minute
(World.context_at), so each of the three generators of a partition computes the same chains and
emits the steps on its own topic that fall inside the event time its blocks cover: each step
exactly once, in event-time order, counted by pacing like any other event, and identical from one
process or many shards.

Rate: fintech.sessions' `account_takeover_chain_rate` is chains per user per event-hour, over the
users the three streams share (the first min(pool sizes) users of the partition's population, see
population.py); an injection window on `account_takeover` of any of the three streams multiplies it
(the largest boost counts), and drift may move it. Without fintech.sessions in the scenario there are
no chains; a step on a stream the scenario leaves out is simply not emitted.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from producer.domains.common.base import BlockContext, World, uuids
from producer.domains.common.geo import FRAUD_DEVICE_P
from producer.domains.common.sampling import hex_tokens, pick

PATTERN = "account_takeover"
POOLS = {"fintech.sessions": "num_users", "fintech.transactions": "num_users", "fintech.remittances": "num_senders"}
LOGIN, TRANSACTION, REMITTANCE = "login", "transaction", "remittance"
MINUTE_US, HOUR_US = 60_000_000, 3_600_000_000
CHUNK_US = MINUTE_US  # chains are planned minute by minute of event time (rate changes resolve per minute)
MAX_TRANSACTIONS = 3
TRANSACTIONS_P = np.array([0.5, 0.3, 0.2])  # one, two or three fraudulent transactions
FIRST_TRANSACTION_MIN = (2.0, 8.0)  # after the login: the attacker looks around first
NEXT_TRANSACTION_S = (20.0, 180.0)
REMITTANCE_MIN = (2.0, 10.0)  # after the last transaction: the cash-out
# the longest chain, login to remittance, plus a chunk: a block looks back this far for chains started earlier
LOOKBACK_US = (
    CHUNK_US
    + int((FIRST_TRANSACTION_MIN[1] + REMITTANCE_MIN[1]) * MINUTE_US)
    + int((MAX_TRANSACTIONS - 1) * NEXT_TRANSACTION_S[1] * 1_000_000)
)
NONE = np.iinfo(np.int64).min  # no transaction in that place of a chain
# the most event time one block plans chains for: a block of a stream so sparse (or so fast) that it spans
# more skips the chains of its earlier part, so a block's work stays bounded (360 chunks) at any speed
MAX_PLANNED_SPAN_US = 6 * HOUR_US


_NO_CHAIN = np.array(None, dtype=object)  # None as a 0-d object array: compared element by element


def in_chain(episode: np.ndarray) -> np.ndarray:
    """Which rows of an episode-id column (object, None outside chains) belong to a chain."""
    return np.not_equal(episode, _NO_CHAIN).astype(bool)


@dataclass(frozen=True, slots=True)
class Chains:
    """The chains of one chunk: per chain its id, user (population index), injected flag and step instants."""

    episode_id: np.ndarray  # object (uuid str)
    user: np.ndarray
    injected: np.ndarray
    login_us: np.ndarray
    transaction_us: np.ndarray  # (k, MAX_TRANSACTIONS), NONE past the chain's count
    remittance_us: np.ndarray
    device_id: np.ndarray  # object: the attacker's device, the same on every step
    device_type: np.ndarray  # index into DEVICE_TYPES (takeovers lean to desktop browsers)


@dataclass(frozen=True, slots=True)
class Steps:
    """The steps of one kind due in a span, in event-time order: user, instant, chain id and injected flag."""

    user: np.ndarray
    time_us: np.ndarray
    episode_id: np.ndarray
    injected: np.ndarray
    device_id: np.ndarray
    device_type: np.ndarray

    def __len__(self) -> int:
        return len(self.time_us)


def chain_rate(world: World, time_us: int) -> tuple[float, int, bool]:
    """Chains per event-hour in the partition at `time_us`, the users they pick from, and whether injected."""
    sessions = world.context_at("fintech.sessions", time_us)
    if sessions is None:
        return 0.0, 0, False
    present: list[tuple[str, BlockContext]] = [("fintech.sessions", sessions)]
    for stream in ("fintech.transactions", "fintech.remittances"):
        ctx = world.context_at(stream, time_us)
        if ctx is not None:
            present.append((stream, ctx))
    users = min(int(getattr(ctx.params, POOLS[stream])) for stream, ctx in present)
    boost = max(ctx.boost(PATTERN) for _, ctx in present)
    per_user_hour = float(getattr(sessions.params, "account_takeover_chain_rate", 0.0))
    return per_user_hour * users * boost, users, boost > 1.0


def plan_chunk(world: World, index: int) -> Chains:
    """The chains whose login falls in chunk `index` (event µs index*CHUNK_US onwards): a pure function."""
    start = index * CHUNK_US
    rate, users, injected = chain_rate(world, start + CHUNK_US // 2)
    rng = world.rng("fintech.takeover", index)
    # no chain starts before the clock start: its first steps would fall in the burn-in, which is not emitted
    k = int(rng.poisson(rate * CHUNK_US / HOUR_US)) if rate > 0 and users > 0 and start >= world.start_us else 0
    login = np.sort(start + (rng.random(k) * CHUNK_US).astype(np.int64))
    count = 1 + np.searchsorted(np.cumsum(TRANSACTIONS_P), rng.random(k), side="right").clip(0, MAX_TRANSACTIONS - 1)
    gaps = rng.uniform(*NEXT_TRANSACTION_S, (k, MAX_TRANSACTIONS)) * 1_000_000
    gaps[:, 0] = rng.uniform(*FIRST_TRANSACTION_MIN, k) * MINUTE_US
    at = login[:, None] + np.cumsum(gaps, axis=1).astype(np.int64)
    transactions = np.where(np.arange(MAX_TRANSACTIONS) < count[:, None], at, NONE)
    last = at[np.arange(k), count - 1]
    remittance = last + (rng.uniform(*REMITTANCE_MIN, k) * MINUTE_US).astype(np.int64)
    return Chains(
        np.array(uuids(rng, k), dtype=object),
        rng.integers(0, max(users, 1), k),
        np.full(k, injected),
        login,
        transactions,
        remittance,
        np.array(hex_tokens(rng, k, 8, "device_"), dtype=object),
        pick(FRAUD_DEVICE_P, rng.random(k)),
    )


class TakeoverPlan:
    """A generator's view of its partition's chains: the steps of one kind due in each span it covers.

    Keeps the few chunks a span needs (memory is a handful of chunks); `due` remembers the end of the
    last span asked for, so consecutive blocks cover event time exactly once.
    """

    def __init__(self, world: World, step: str) -> None:
        self.world, self.step = world, step
        # without fintech.sessions in the scenario there are no chains (nor a chunk to plan, however long the run)
        self.enabled = world.context_at("fintech.sessions", 0) is not None
        self.covered_us: int | None = None  # steps up to this instant have been handed out
        self._chunks: OrderedDict[int, Chains] = OrderedDict()

    def due(self, first_us: int, last_us: int) -> Steps:
        """Steps in (covered, last_us] (from first_us on for the first span), in event-time order."""
        lo = first_us - 1 if self.covered_us is None else self.covered_us
        self.covered_us = max(last_us, lo)
        if last_us <= lo or not self.enabled:
            return _steps([])
        lo = max(lo, last_us - MAX_PLANNED_SPAN_US)
        found = []
        # no chain starts before the clock start, which is 1970 at the earliest: chunks before the epoch
        # (a burn-in before a 1970 start) hold none, and their negative index cannot seed a generator
        for index in range(max(0, (lo - LOOKBACK_US) // CHUNK_US), last_us // CHUNK_US + 1):
            chains = self._chunk(index)
            times = self._times(chains)
            for column in range(times.shape[1]):
                hit = np.flatnonzero((times[:, column] > lo) & (times[:, column] <= last_us))
                found.append((chains, hit, times[hit, column]))
        return _steps(found)

    def _times(self, chains: Chains) -> np.ndarray:
        """This plan's step instants of each chain, one column per step of the kind."""
        if self.step == LOGIN:
            return chains.login_us[:, None]
        if self.step == TRANSACTION:
            return chains.transaction_us
        return chains.remittance_us[:, None]

    def _chunk(self, index: int) -> Chains:
        chunks = self._chunks
        if index not in chunks:
            chunks[index] = plan_chunk(self.world, index)
            while len(chunks) > 4 * LOOKBACK_US // CHUNK_US:
                chunks.popitem(last=False)
        return chunks[index]


def _steps(found: list[tuple[Chains, np.ndarray, np.ndarray]]) -> Steps:
    """The found steps as one Steps, in event-time order."""
    if not found:
        empty = np.empty(0, np.int64)
        return Steps(empty, empty, np.empty(0, dtype=object), np.empty(0, bool), np.empty(0, dtype=object), empty)
    user = np.concatenate([c.user[hit] for c, hit, _ in found])
    time_us = np.concatenate([t for _, _, t in found])
    ids = np.concatenate([c.episode_id[hit] for c, hit, _ in found])
    injected = np.concatenate([c.injected[hit] for c, hit, _ in found])
    device_id = np.concatenate([c.device_id[hit] for c, hit, _ in found])
    device_type = np.concatenate([c.device_type[hit] for c, hit, _ in found])
    order = np.argsort(time_us, kind="stable")
    return Steps(user[order], time_us[order], ids[order], injected[order], device_id[order], device_type[order])
