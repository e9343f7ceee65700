"""fintech.transactions: Lakay transaction-service events with fraud, structuring and velocity injections.

Every arrival is one transaction of a user drawn by (heavy-tailed) activity: transaction-initiated,
then transaction-completed, -failed or -flagged (flagged and allowed_with_monitoring is followed by
completed). An arrival may instead start an injected episode, labelled on every event of it:
fraud (an account takeover: new device, other IP or place, larger amount, usually flagged),
structuring (amounts just under $3k or $10k, continued on the user's later arrivals hours apart)
or a velocity spike (8-15 transactions seconds apart). The risk engine's flags are not the truth:
it misses some fraud and flags some genuine transactions. Each pattern's parameter is its share of
this stream's events; episode_starts turns the shares into per-arrival start chances.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import numpy as np

from producer.domains.common.base import BlockContext, StreamGenerator, StreamSpec, World, uuids
from producer.domains.common.columns import Decimals, Micros, Part
from producer.domains.common.geo import (
    CITY_COUNTRY,
    CITY_NAME,
    CITY_STATE,
    DEVICE_TYPES,
    DEVICES_PER_USER_P,
    FOREIGN_BLOCKS,
    FRAUD_DEVICE_P,
    HOSTING_BLOCKS,
    US_BLOCKS,
)
from producer.domains.common.sampling import element, fresh_ips, hex_tokens, pick, whereabouts
from producer.domains.fintech.population import device_counts, population
from producer.domains.fintech.takeover import PATTERN, TRANSACTION, TakeoverPlan, in_chain
from producer.domains.fintech.transactions_params import (
    ACTIONS,
    AFFINITY,
    AMOUNT_FLOOR,
    COMPLETED,
    CONTRIBUTION,
    DAY_US,
    EPISODE_ORDER,
    ERROR_CDF,
    ERROR_CODES,
    ERROR_MESSAGES,
    FAILED,
    FEE,
    FLAGGED,
    FRAUD,
    NEW_ACCOUNT_DAYS,
    NORMAL,
    PARTNER_P,
    PARTNERS,
    PATTERNS,
    PAYOUT,
    REMITTANCE,
    REMITTANCE_FEE_CENTS,
    REMITTANCE_TIER_CENTS,
    RETRY_ELIGIBLE,
    SCORE_MODEL,
    SECOND_US,
    SERIES_P,
    STRUCTURING,
    TYPE_NAMES,
    TYPES,
    VELOCITY,
    VELOCITY_COOLDOWN_US,
    VELOCITY_SIZE,
    TransactionParams,
    _device_vector,
    _episode_rates,
    expected_events_per_arrival,
)

# per-index names as object arrays, so a column of indices gathers its text in one step
ACTION_NAMES = np.array(ACTIONS, dtype=object)
DEVICE_NAMES = np.array(DEVICE_TYPES, dtype=object)
ERROR_CODE_NAMES, ERROR_MESSAGE_TEXT = np.array(ERROR_CODES, dtype=object), np.array(ERROR_MESSAGES, dtype=object)
RETRY_BY_ERROR = np.array(RETRY_ELIGIBLE)
PATTERN_NAMES = np.array(PATTERNS, dtype=object)
RISK_LEVELS = np.array([None, "high", "high", "high"], dtype=object)  # by kind: every anomaly is high risk


class _Transactions(NamedTuple):
    """One block's transactions as parallel columns, velocity spikes expanded to one row each."""

    times: np.ndarray
    users: np.ndarray
    kind: np.ndarray  # NORMAL, FRAUD, STRUCTURING or VELOCITY
    band: np.ndarray  # structuring band (0: under $3k, 1: under $10k), -1 outside a series
    cont: np.ndarray  # a later member of a structuring series
    pos: np.ndarray  # position within a velocity spike (0 elsewhere)
    injected: np.ndarray  # the episode was drawn inside an injection window
    episode: np.ndarray  # object: the account-takeover chain a row belongs to (its truth.episode_id), else None
    device: np.ndarray  # object: a chain's attacker device, None elsewhere
    device_type: np.ndarray  # its type (index into DEVICE_TYPES), -1 elsewhere


class _Access(NamedTuple):
    """Device, IP and geo per transaction, and the signals a risk engine could see in them."""

    device_ids: np.ndarray  # object (str)
    device_types: np.ndarray  # object (str)
    ips: np.ndarray  # object (str)
    lat: np.ndarray
    lon: np.ndarray
    city: np.ndarray  # indices into the city tables
    signals: dict[str, np.ndarray]


class _Drawn(NamedTuple):
    """Every per-transaction attribute of a block, drawn at once (fields in draw order)."""

    ttype: np.ndarray
    cents: np.ndarray
    card: np.ndarray
    fee: np.ndarray
    access: _Access
    outcome: np.ndarray
    score: np.ndarray
    action: np.ndarray  # indices into ACTIONS
    new_dest: np.ndarray
    ends: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # source type and id, destination type and id
    flag_us: np.ndarray
    proc_us: np.ndarray
    err: np.ndarray  # indices into ERROR_CODES
    reason_pick: np.ndarray
    young: np.ndarray
    ids: list[str]  # transaction ids, correlation ids, then event ids in emission order


class _Shared(NamedTuple):
    """The block's columns that every event of a transaction shares, one row per transaction."""

    tx_ids: np.ndarray  # object (str), like the rest
    corr: np.ndarray
    event_ids: np.ndarray  # by place in the emission order
    uids: np.ndarray
    tx_type: np.ndarray


class TransactionsGenerator(StreamGenerator[TransactionParams]):
    """Transactions of a bounded user pool; each arrival is one transaction or an injected episode."""

    spec = StreamSpec(
        name="fintech.transactions",
        key_field="user_id",
        event_types={
            "transaction-initiated": "datagen.fintech.transactions.TransactionInitiated",
            "transaction-completed": "datagen.fintech.transactions.TransactionCompleted",
            "transaction-failed": "datagen.fintech.transactions.TransactionFailed",
            "transaction-flagged": "datagen.fintech.transactions.TransactionFlagged",
        },
        source_service="transaction-service",
        schema="fintech/transactions.avsc",
        description="Circle contributions and payouts, remittances, fees and refunds of Lakay users, each "
        "initiated then completed, failed or flagged; fraud, structuring and velocity spikes labelled.",
    )
    Params = TransactionParams
    driftable = (
        "type_weights",
        "amount_distribution",
        "fraud_injection_rate",
        "structuring_share",
        "velocity_spike_share",
        "failure_rate",
        "device_weights",
        "new_device_share",
        "travel_share",
        "processing_time_ms",
    )
    patterns = ("fraud", "structuring", "velocity_spike", PATTERN)  # account_takeover: chains' steps (takeover.py)
    pool_fields = ("num_users",)
    events_per_arrival: ClassVar[float] = expected_events_per_arrival(TransactionParams())

    uses_world = True

    def __init__(self, params: TransactionParams, rng: np.random.Generator, world: World | None = None) -> None:
        super().__init__(params, rng)
        n = params.num_users
        world = world if world is not None else World.of(rng)
        # who, where and on what: the fintech population's users (population.py), the same in every fintech stream
        pop = population(world, n)
        self._user_ids, self._home, self._home_lat, self._home_lon = pop.ids, pop.home, pop.home_lat, pop.home_lon
        self._n_devices = device_counts(pop.device_count_u, DEVICES_PER_USER_P)
        self._device_ids = pop.device_ids[:, :3].copy()  # a genuine new device replaces one (see _access)
        self._device_types = pick(_device_vector(params.device_weights), pop.device_u[:, :3])
        self._ip_first, self._ip_second, self._usual_ip = pop.ip_first, pop.ip_second, pop.usual_ip
        self._activity_cum = pop.activity_cdf()  # heavy-tailed: the top tenth of users make ~40% of transactions
        self._amount_z = rng.standard_normal(n)  # the user's own amount level, in std units
        self._age0_days = pop.age_share * params.time_span_days
        self._chains = TakeoverPlan(world, TRANSACTION)  # the fraudulent transactions of chains (see takeover.py)
        self._prefers_card = rng.random(n) < 0.7
        self._card = np.array(hex_tokens(rng, n, 12, "pm_"), dtype=object)
        self._bank = np.array(hex_tokens(rng, n, 12, "ba_"), dtype=object)
        self._balance = np.array(hex_tokens(rng, n, 8, "bal_"), dtype=object)
        circles = np.array(hex_tokens(rng, max(1, n // 8), 6, "circle_pool_"), dtype=object)
        self._circle = circles[rng.integers(0, len(circles), n)]  # about eight members per circle
        partner = rng.choice(len(PARTNERS), size=n, p=PARTNER_P).tolist()
        self._recipient = np.array(
            [f"{PARTNERS[k]}:{r}" for k, r in zip(partner, hex_tokens(rng, n, 5, "rcp_"))], dtype=object
        )
        # episode state, one slot per user so memory stays flat
        self._series_left = np.zeros(n, np.int16)
        self._series_next = np.zeros(n, np.int64)
        self._series_band = np.zeros(n, np.int8)
        self._series_injected = np.zeros(n, bool)  # the series was drawn inside an injection window
        self._spike_until = np.full(n, np.iinfo(np.int64).min, np.int64)

    def arrivals(
        self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[TransactionParams]
    ) -> list[Part]:
        """One transaction per arrival, or a structuring member, a fraud case or a velocity spike."""
        n = len(times_us)
        if n == 0:
            return []
        times = self._block_times(times_us)
        users = np.minimum(np.searchsorted(self._activity_cum, rng.random(n), side="right"), len(self._user_ids) - 1)
        pv, ps, pf = _episode_rates(ctx.params, ctx)
        u = rng.random(n)
        kind = EPISODE_ORDER[np.searchsorted(np.array([pv, pv + ps, pv + ps + pf]), u, side="right")]
        injected = np.array([ctx.injects(pattern) for pattern in PATTERNS])[kind]
        band, cont = self._structuring_series(rng, users, times, kind, injected)
        tx = self._expand_spikes(rng, users, times, kind, band, cont, injected)
        return self._assemble(rng, ctx, self._with_chain_transactions(tx, int(times[0]), int(times[-1])))

    def _with_chain_transactions(self, tx: _Transactions, first_us: int, last_us: int) -> _Transactions:
        """The block's transactions plus the fraudulent ones of takeover chains due in its span (after them)."""
        steps = self._chains.due(first_us, last_us)
        k = len(steps)
        if not k:
            return tx
        chain = _Transactions(
            steps.time_us,
            steps.user,
            np.full(k, FRAUD, tx.kind.dtype),
            np.full(k, -1, tx.band.dtype),
            np.zeros(k, bool),
            np.zeros(k, tx.pos.dtype),
            steps.injected,
            steps.episode_id,
            steps.device_id,
            steps.device_type,
        )
        return _Transactions(*(np.concatenate([a, b]) for a, b in zip(tx, chain, strict=True)))

    def _structuring_series(
        self, rng: np.random.Generator, users: np.ndarray, times: np.ndarray, kind: np.ndarray, injected: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Start series at structuring arrivals; turn a user's due genuine arrival into the next member.

        A later member keeps the series' `injected` flag (set in place), wherever its window has gone.
        """
        left, nxt, user_band = self._series_left, self._series_next, self._series_band
        series_injected = self._series_injected
        due = (kind == NORMAL) & (left[users] > 0) & (nxt[users] <= times)
        cand = np.flatnonzero((kind == STRUCTURING) | due)
        band, cont = np.full(len(users), -1, np.int8), np.zeros(len(users), bool)
        c = len(cand)
        if c == 0:
            return band, cont
        sizes = 1 + pick(SERIES_P, rng.random(c))
        gaps = (np.clip(rng.lognormal(math.log(7200.0), 0.6, c), 1800.0, 28800.0) * SECOND_US).astype(np.int64)
        bands = (rng.random(c) < 0.45).astype(np.int8)  # 0: $2,800-$2,999 (under $3k), 1: $9,500-$9,999
        alternates = rng.integers(0, len(left), (c, 4))
        for j, i in enumerate(cand.tolist()):
            user, t = users[i], times[i]
            if kind[i] == STRUCTURING:
                if left[user] > 0:  # one series per user at a time (a new one would cut the old short): hand it on
                    free = [a for a in alternates[j].tolist() if left[a] == 0]
                    user = users[i] = free[0] if free else user
                left[user], nxt[user], user_band[user] = sizes[j] - 1, t + gaps[j], bands[j]
                series_injected[user] = injected[i]
            elif left[user] > 0 and nxt[user] <= t:  # re-checked: an earlier arrival may have used it
                kind[i], cont[i], injected[i] = STRUCTURING, True, series_injected[user]
                left[user] -= 1
                nxt[user] = t + gaps[j]
            else:
                continue
            band[i] = user_band[user]
        return band, cont

    def _expand_spikes(
        self,
        rng: np.random.Generator,
        users: np.ndarray,
        times: np.ndarray,
        kind: np.ndarray,
        band: np.ndarray,
        cont: np.ndarray,
        injected: np.ndarray,
    ) -> _Transactions:
        """One row per transaction: each velocity arrival becomes 8-15 transactions seconds apart."""
        n = len(users)
        spikes = np.flatnonzero(kind == VELOCITY)
        counts = np.ones(n, np.int64)
        sizes = rng.integers(VELOCITY_SIZE[0], VELOCITY_SIZE[1] + 1, len(spikes))
        counts[spikes] = sizes
        src = np.repeat(np.arange(n), counts)
        first = np.cumsum(counts) - counts
        pos = np.arange(len(src)) - first[src]
        gap = (np.clip(rng.lognormal(math.log(3.0), 0.5, len(src)), 0.5, 8.0) * SECOND_US).astype(np.int64)
        cum = np.cumsum(np.where(pos > 0, gap, 0))
        tx_time = times[src] + cum - cum[first[src]]
        alternates = rng.integers(0, len(self._user_ids), (len(spikes), 4))
        until = self._spike_until
        for j, i in enumerate(spikes.tolist()):
            user, t = users[i], times[i]
            if until[user] > t:  # one spike per user at a time: hand it to a free user
                free = [a for a in alternates[j].tolist() if until[a] <= t]
                user = free[0] if free else user
                users[i] = user
            until[user] = tx_time[first[i] + sizes[j] - 1] + VELOCITY_COOLDOWN_US
        none = np.full(len(src), None, dtype=object)
        return _Transactions(
            tx_time, users[src], kind[src], band[src], cont[src], pos, injected[src], none, none, np.full(len(src), -1)
        )

    def _amount_cents(
        self,
        rng: np.random.Generator,
        p: TransactionParams,
        users: np.ndarray,
        kind: np.ndarray,
        ttype: np.ndarray,
        band: np.ndarray,
    ) -> np.ndarray:
        """Amounts in cents: log-normal with a per-user level, shaped by type and pattern."""
        m, d = len(users), p.amount_distribution
        # 35% of the log-variance is the user's own level, so the marginal stays LogNormal(mean, std)
        z = math.sqrt(0.35) * self._amount_z[users] + math.sqrt(0.65) * rng.standard_normal(m)
        base = np.exp(d.log_normal_mean + d.log_normal_std * z)
        members, refund_share = rng.integers(5, 13, m), rng.uniform(0.15, 1.0, m)
        amount = np.where(
            ttype == FEE,
            np.clip(base * 0.025, 0.99, 25.0),
            base * np.choose(ttype, [1.0, members, 1.0, 1.0, refund_share]),
        )
        amount *= np.choose(kind, [1.0, rng.lognormal(1.0, 0.4, m), 1.0, 0.35])  # takeovers drain, spikes probe
        cents = np.rint(np.clip(amount, AMOUNT_FLOOR[ttype], 50_000.0) * 100).astype(np.int64)
        under_3k, under_10k = rng.integers(280_000, 299_901, m), rng.integers(950_000, 999_901, m)
        return np.where(band == 0, under_3k, np.where(band == 1, under_10k, cents))

    @staticmethod
    def _fee_cents(rng: np.random.Generator, cents: np.ndarray, ttype: np.ndarray, card: np.ndarray) -> np.ndarray:
        """Processing fee charged at settlement (card 2.9% + 30c, ACH 0.8% to $5, instant payout, tiers)."""
        instant = rng.random(len(cents)) < 0.2
        contribution = np.where(card, np.rint(cents * 0.029 + 30), np.minimum(np.rint(cents * 0.008), 500))
        payout = np.where(instant, np.maximum(np.rint(cents * 0.015), 25), 0)
        tier = np.searchsorted(REMITTANCE_TIER_CENTS, cents)  # $2.99 to $100, $4.99 to $500, $7.99 to $1k
        remittance = np.where(
            tier < 3, REMITTANCE_FEE_CENTS[np.minimum(tier, 2)], np.minimum(np.rint(cents * 0.01), 2999)
        )
        fee = np.choose(ttype, [contribution, payout, remittance, 0, 0])
        return np.minimum(fee, cents // 2).astype(np.int64)

    def _access(self, rng: np.random.Generator, p: TransactionParams, users: np.ndarray, kind: np.ndarray) -> _Access:
        """Device, IP and geo per transaction: the user's own (sometimes new or travelling), or a takeover's."""
        m, fraud = len(users), kind == FRAUD
        nd = self._n_devices[users]
        r = rng.random(m)
        slot = np.where(r < 0.7, 0, np.minimum(1 + ((r - 0.7) / 0.3 * (nd - 1)).astype(np.int64), nd - 1))
        device_ids = self._device_ids[users, slot]
        device_types = self._device_types[users, slot]
        draws = rng.random((3, m))
        fresh = ~fraud & (draws[0] < p.new_device_share)  # a genuine user's new phone or browser
        travel = ~fraud & (draws[1] < p.travel_share)  # a genuine user away from home
        new_device = fraud & (rng.random(m) < 0.7)
        away = (fraud & (rng.random(m) < 0.6)) | travel
        foreign = away & fraud & (rng.random(m) < 0.6)
        vpn = fraud & ~away & ((rng.random(m) < 0.5) | ~new_device)  # every takeover shows some signal
        k = int(new_device.sum())
        device_ids[new_device] = hex_tokens(rng, k, 8, "device_")
        device_types[new_device] = pick(FRAUD_DEVICE_P, rng.random(k))
        if fresh.any():  # the new device replaces the one it was used instead of, from now on
            j = int(fresh.sum())
            device_ids[fresh] = hex_tokens(rng, j, 8, "device_")
            device_types[fresh] = pick(_device_vector(p.device_weights), draws[2][fresh])
            self._device_ids[users[fresh], slot[fresh]] = device_ids[fresh]
            self._device_types[users[fresh], slot[fresh]] = device_types[fresh]
        new_device = new_device | fresh
        city, lat, lon = whereabouts(
            rng, self._home[users], self._home_lat[users], self._home_lon[users], away, foreign
        )
        mobile = ~fraud & (rng.random(m) < 0.12)  # same carrier block, different address
        blocks = rng.random(m)
        first = np.where(
            mobile,
            self._ip_first[users],
            np.where(
                vpn,
                element(HOSTING_BLOCKS, blocks),
                np.where(foreign, element(FOREIGN_BLOCKS, blocks), np.where(away, element(US_BLOCKS, blocks), 0)),
            ),
        )
        ips = fresh_ips(rng, first, mobile, self._usual_ip[users], self._ip_second[users])
        signals = {"new_device": new_device, "geo_mismatch": away, "unusual_ip": vpn | away}
        return _Access(
            device_ids,
            DEVICE_NAMES[device_types],
            ips,
            np.round(lat, 4),
            np.round(lon, 4),
            city,
            signals,
        )

    def _outcomes(
        self, rng: np.random.Generator, p: TransactionParams, kind: np.ndarray, pos: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Outcome per transaction, with the risk score and flag action of flagged ones."""
        m = len(kind)
        detect = np.choose(
            kind,
            [
                p.false_positive_rate,
                p.fraud_detection_rate,
                p.structuring_detection_rate,
                np.where(pos >= 2, p.velocity_detection_rate, 0.0),
            ],
        )
        flagged = rng.random(m) < detect
        failed = ~flagged & (rng.random(m) < p.failure_rate)
        outcome = np.where(flagged, FLAGGED, np.where(failed, FAILED, COMPLETED))
        model = np.array([SCORE_MODEL[k] for k in range(4)])[kind]
        score = np.round(model[:, 0] + model[:, 1] * rng.beta(model[:, 2], model[:, 3]), 4)
        action = np.where(score >= 0.9, 1, np.where(score >= 0.7, 0, 2))  # indices into ACTIONS
        return outcome, score, action

    def _assemble(
        self, rng: np.random.Generator, ctx: BlockContext[TransactionParams], tx: _Transactions
    ) -> list[Part]:
        """Draw every per-transaction attribute for the block at once, then lay out each event type as a Part."""
        d = self._draw(rng, ctx.params, tx)
        m = len(tx.times)
        ids = np.array(d.ids, dtype=object)
        flagged = d.outcome == FLAGGED
        allowed = flagged & (d.action == 2)  # allowed with monitoring: it settles after the flag
        events = 2 + allowed  # initiated, then flagged or settled, then settled after an allowed flag
        c = _Shared(ids[:m], ids[m : 2 * m], ids[2 * m :], self._user_ids[tx.users], TYPE_NAMES[d.ttype])
        first = np.cumsum(events) - events  # each transaction's initiated event's place in emission order
        flag_us = np.where(flagged, d.flag_us, 0)  # the flag's delay counts only when there is a flag
        done = np.flatnonzero((d.outcome == COMPLETED) | allowed)
        parts = [
            self._initiated(ctx, tx, d, c, first),
            self._flagged(ctx, tx, d, c, np.flatnonzero(flagged), first),
            self._failed(ctx, tx, d, c, np.flatnonzero(d.outcome == FAILED), first),
            self._completed(ctx, tx, d, c, done, (first + 1 + flagged)[done], flag_us),
        ]
        return [part for part in parts if len(part)]

    def _draw(self, rng: np.random.Generator, p: TransactionParams, tx: _Transactions) -> _Drawn:
        """Type, amount, fee, access, outcome, ends, delays, error and ids of each transaction (this draw order)."""
        m, users, kind = len(tx.times), tx.users, tx.kind
        weights = np.array([p.type_weights.get(t, 0.0) for t in TYPES])
        u, ttype = rng.random(m), np.empty(m, np.int64)
        for k in (NORMAL, FRAUD, STRUCTURING, VELOCITY):
            mask = kind == k
            w = weights if k == NORMAL else weights * AFFINITY[k]
            ttype[mask] = pick(w if w.sum() > 0 else weights, u[mask])
        cents = self._amount_cents(rng, p, users, kind, ttype, tx.band)
        card = rng.random(m) < np.where(self._prefers_card[users], 0.9, 0.1)
        fee = self._fee_cents(rng, cents, ttype, card)
        access = self._access(rng, p, users, kind)
        chain = np.flatnonzero(tx.device_type >= 0)  # a chain's transactions: on the attacker's device
        access.device_ids[chain], access.device_types[chain] = tx.device[chain], DEVICE_NAMES[tx.device_type[chain]]
        access.signals["new_device"][chain] = True
        outcome, score, action = self._outcomes(rng, p, kind, tx.pos)
        new_dest = (kind == FRAUD) & ((ttype == REMITTANCE) | (ttype == PAYOUT)) & (rng.random(m) < 0.7)
        ends = self._ends(rng, users, ttype, card, new_dest)
        pt = p.processing_time_ms
        flag_us = (np.clip(rng.lognormal(math.log(150.0), 0.5, m), 20.0, 2000.0) * 1000).astype(np.int64)
        proc_us = (np.clip(rng.lognormal(pt.log_normal_mean, pt.log_normal_std, m), 50.0, 120_000.0) * 1000).astype(
            np.int64
        )
        err = np.minimum((rng.random(m)[:, None] >= ERROR_CDF[ttype]).sum(axis=1), len(ERROR_CODES) - 1)
        err = np.where((ttype == CONTRIBUTION) & ~card & (err == 1), 0, err)  # ACH debits bounce, not decline
        reason_pick = rng.integers(0, 3, m)
        young = self._age0_days[users] + (tx.times - self._t0_us) / DAY_US < NEW_ACCOUNT_DAYS
        allowed = (outcome == FLAGGED) & (action == 2)
        ids = uuids(rng, int(4 * m + allowed.sum()))
        return _Drawn(
            ttype,
            cents,
            card,
            fee,
            access,
            outcome,
            score,
            action,
            new_dest,
            ends,
            flag_us,
            proc_us,
            err,
            reason_pick,
            young,
            ids,
        )

    @staticmethod
    def _head(c: _Shared, d: _Drawn, rows: np.ndarray) -> dict[str, Any]:
        """The payload fields every event of a transaction starts with, for the transactions at `rows`."""
        return {
            "transaction_id": c.tx_ids[rows],
            "user_id": c.uids[rows],
            "type": c.tx_type[rows],
            "amount": Decimals(d.cents[rows], 2),
        }

    def _part(
        self,
        ctx: BlockContext[TransactionParams],
        tx: _Transactions,
        c: _Shared,
        event_type: str,
        rows: np.ndarray,
        seq: np.ndarray,
        payload: dict[str, Any],
    ) -> Part:
        """One event type's events of the transactions at `rows`, at places `seq` of the emission order.

        The event time is the payload's own timestamp field (the one Micros column), as the envelope's.
        """
        kind, episode = tx.kind[rows], tx.episode[rows]
        truth = ctx.truth(
            is_anomaly=kind != NORMAL,
            pattern=np.where(in_chain(episode), PATTERN, PATTERN_NAMES[kind]),
            risk_level=RISK_LEVELS[kind],
            injected=tx.injected[rows],
            episode_id=episode,
        )
        (stamp,) = (column for column in payload.values() if isinstance(column, Micros))
        return Part(
            stream=self.spec.name,
            event_type=event_type,
            source_service=self.spec.source_service,
            time_us=stamp.values,
            key=payload["user_id"],
            event_id=c.event_ids[seq],
            correlation_id=c.corr[rows],
            payload=payload,
            truth=truth,
            seq=seq,
        )

    def _initiated(
        self, ctx: BlockContext[TransactionParams], tx: _Transactions, d: _Drawn, c: _Shared, first: np.ndarray
    ) -> Part:
        """transaction-initiated of every transaction, at the arrival."""
        rows, a = np.arange(len(tx.times)), d.access
        src_type, src_id, dst_type, dst_id = d.ends
        payload = self._head(c, d, rows) | {
            "currency": "USD",
            "source": {"type": src_type, "identifier": src_id},
            "destination": {"type": dst_type, "identifier": dst_id},
            "initiated_at": Micros(tx.times),
            "ip_address": a.ips,
            "device_id": a.device_ids,
            "device_type": a.device_types,
            "geo_location": {
                "latitude": a.lat,
                "longitude": a.lon,
                "country": CITY_COUNTRY[a.city],
                "city": CITY_NAME[a.city],
                "state": CITY_STATE[a.city],
            },
        }
        return self._part(ctx, tx, c, "transaction-initiated", rows, first, payload)

    def _flagged(
        self,
        ctx: BlockContext[TransactionParams],
        tx: _Transactions,
        d: _Drawn,
        c: _Shared,
        rows: np.ndarray,
        first: np.ndarray,
    ) -> Part:
        """transaction-flagged of the flagged transactions at `rows`, the risk engine's delay after the arrival."""
        signals = d.access.signals
        reasons = [
            self._reasons(k, j, signals, tx.cont, d.reason_pick, d.young, d.new_dest)
            for k, j in zip(tx.kind[rows].tolist(), rows.tolist())
        ]
        payload = self._head(c, d, rows) | {
            "currency": "USD",
            "risk_score": d.score[rows],
            "reasons": reasons,
            "action_taken": ACTION_NAMES[d.action[rows]],
            "flagged_at": Micros(tx.times[rows] + d.flag_us[rows]),
        }
        return self._part(ctx, tx, c, "transaction-flagged", rows, first[rows] + 1, payload)

    def _failed(
        self,
        ctx: BlockContext[TransactionParams],
        tx: _Transactions,
        d: _Drawn,
        c: _Shared,
        rows: np.ndarray,
        first: np.ndarray,
    ) -> Part:
        """transaction-failed of the failed transactions at `rows` (never flagged), the processing time later."""
        err = d.err[rows]
        payload = self._head(c, d, rows) | {
            "currency": "USD",
            "error_code": ERROR_CODE_NAMES[err],
            "error_message": ERROR_MESSAGE_TEXT[err],
            "failed_at": Micros(tx.times[rows] + d.proc_us[rows]),
            "retry_eligible": RETRY_BY_ERROR[err],
        }
        return self._part(ctx, tx, c, "transaction-failed", rows, first[rows] + 1, payload)

    def _completed(
        self,
        ctx: BlockContext[TransactionParams],
        tx: _Transactions,
        d: _Drawn,
        c: _Shared,
        rows: np.ndarray,
        seq: np.ndarray,
        flag_us: np.ndarray,
    ) -> Part:
        """transaction-completed of the transactions at `rows`, after any flag's delay and the processing time."""
        fee, delay_us = d.fee[rows], flag_us[rows] + d.proc_us[rows]
        payload = self._head(c, d, rows)
        payload |= {
            "fee_amount": Decimals(fee, 2),
            "net_amount": Decimals(d.cents[rows] - fee, 2),  # exact: both scale 2, as Decimal subtraction gives
            "currency": "USD",
            "completed_at": Micros(tx.times[rows] + delay_us),
            "processing_time_ms": delay_us // 1000,
        }
        return self._part(ctx, tx, c, "transaction-completed", rows, seq, payload)

    def _ends(
        self, rng: np.random.Generator, users: np.ndarray, ttype: np.ndarray, card: np.ndarray, new_dest: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Source type and id, destination type and id; a fraud may pay out to a new account or recipient."""
        bank, recipient, balance, circle = (
            a[users] for a in (self._bank, self._recipient, self._balance, self._circle)
        )
        redirected = np.flatnonzero(new_dest)
        for i, token in zip(redirected.tolist(), hex_tokens(rng, len(redirected), 12, "")):
            if ttype[i] == PAYOUT:
                bank[i] = "ba_" + token
            else:
                recipient[i] = recipient[i].split(":", 1)[0] + ":rcp_" + token[:10]
        funding = np.where(card, self._card[users], bank)
        src_type = np.choose(
            ttype, [np.where(card, "stripe", "bank_account"), "circle_pool", "balance", "balance", "platform"]
        )
        src_id = np.choose(ttype, [funding, circle, balance, balance, "platform_refunds"])
        dst_type = np.choose(ttype, ["circle_pool", "bank_account", "remittance_partner", "platform", "balance"])
        dst_id = np.choose(ttype, [circle, bank, recipient, "platform_fees", balance])
        return src_type, src_id, dst_type, dst_id

    @staticmethod
    def _reasons(
        k: int,
        j: int,
        signals: dict[str, np.ndarray],
        cont: np.ndarray,
        pick: np.ndarray,
        young: np.ndarray,
        new_dest: np.ndarray,
    ) -> list[str]:
        """Why the risk engine flagged transaction j (what it could observe, not the truth)."""
        if k == FRAUD:
            reasons = [name for name, hit in signals.items() if hit[j]] + ["amount_spike"]
            reasons += ["new_destination"] if new_dest[j] else []
        elif k == STRUCTURING:
            reasons = ["threshold_proximity"] + (["structuring_pattern"] if cont[j] else [])
        elif k == VELOCITY:
            reasons = ["velocity"]
        else:
            reasons = [("amount_spike", "unusual_hour", "new_destination")[pick[j]]]
        return reasons + (["new_account"] if young[j] else [])
