"""telco.accounts replay mode: every arrival onboards a new account, whose lifecycle runs at natural event times.

An account started at instant t0 yields, at once (the base class holds the future events until due):

- customer-created at t0: a brand-new customer, tenure_months 0, customer_since = t0's day (midnight UTC);
- line-activated for each line, in line_number order, over the following minutes and days: the first voice
  line 2-30 minutes after t0, each further voice line 2-15 minutes after the previous one (same store visit,
  70%) or 1-5 days later (30%), the 5G Home Internet line 1-6 days after the previous event (the gateway is
  shipped and self-installed). activated_at is the activation's day. Every line is live within 27 days, so
  before the first bill;
- eip-agreement-created 10 s to 3 min after a financed line's activation: a new agreement, agreement_start its
  day, months_remaining = installment_months, eip_status active;
- device-usage-snapshot per line at each monthly bill close: cycle k closes on the day of customer_since +
  k mean months (30.44 days: snapshots of a line are 30 or 31 days apart), and the account's nightly usage run
  emits its lines' snapshots 1-5 hours after that midnight. billing_cycle = tenure_months = k,
  snapshot_date = that day, eip_months_remaining = installment_months - k; the first cycle's usage is
  prorated by the part of it the line was live. At most `replay_months` cycles (default 12).

Churn: churn_risk_score (the compressed mode's model at tenure 0, so mean ~0.45, range ~0.32-0.63: IBM Telco
customers churn ~47% in their first year) is read as the probability of churning within
`churn_risk.horizon_months` (12): constant monthly hazard h = 1 - (1 - score)^(1 / horizon). The account
completes Geometric(h) - 1 bill cycles, then leaves: no more snapshots on any of its lines (the schema has no
disconnect event; churn shows as snapshots stopping). Expected cycles per line: sum_{k=1..M} (1 - h)^k.

Anomalies as in compressed mode, same rates and labels: ghost lines (per line; activation and every snapshot
labelled, no IMEI and a trickle of data), imei_swap and imei_capture_failure (per financed snapshot). A swapped
line is seen with another voice line's handset on the same account when it has one (imei_swap_within_account),
else with a handset registered to an earlier-started account: one of this block's, or of a bounded ring of the
last RING voice handsets of earlier blocks (replay mode's only state), else an unregistered handset.

Everything that may drift, and the truth labels (phase, drift_progress, injection boosts), are those of the
block the account starts in, kept for its whole lifecycle. Pool parameters (max_accounts, new_account_rate)
and usage_snapshot_date do not apply: the calendar is the arrival's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from producer.domains.common.base import BlockContext, Part, uuids
from producer.domains.telco.accounts_parts import bundle_id_count, bundle_parts, bundle_sizes, snapshot_part
from producer.domains.telco.accounts_tables import (
    AGREEMENT_NAMES,
    DAY_US,
    HANDSETS_CUM,
    HOME_INTERNET,
    MONTH_US,
    PRODUCT_NAMES,
    STATUS_NAMES,
    SWAP,
    VOICE,
    AccountParams,
    draw,
    draw_customers,
    imeis,
    snapshot_kinds,
    usage,
)

if TYPE_CHECKING:
    from producer.domains.telco.accounts import AccountsGenerator

SECOND_US, MINUTE_US, HOUR_US = 1_000_000, 60_000_000, 3_600_000_000
SAME_VISIT = 0.7  # further voice lines activated in the same visit as the previous one, else days later
RING = 4096  # voice handsets of earlier blocks remembered as swap donors


class AccountReplay:
    """Replay mode of one AccountsGenerator: whole account lifecycles per block of starts."""

    def __init__(self, gen: AccountsGenerator) -> None:
        self.gen = gen
        self._ring = np.full(RING, None, dtype=object)
        self._ring_len = 0
        self._ring_at = 0

    @property
    def remembered(self) -> int:
        """Handsets of earlier blocks held as swap donors (never more than RING)."""
        return self._ring_len

    def arrivals(self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[AccountParams]) -> list[Part]:
        """One new account per start: its onboarding and its monthly snapshots until churn or the horizon."""
        a = len(times_us)
        if a == 0:
            return []
        gen, p = self.gen, ctx.params
        times = np.asarray(times_us, dtype=np.int64)
        tables = gen._param_tables(p)
        cust = draw_customers(rng, p, tables, a, gen._anchor_us, times)
        lines = gen._lines(rng, p, ctx, tables, cust)  # devices, EIPs, ghosts; the calendar is replaced below
        self._calendar(rng, times, lines)
        ids = uuids(rng, bundle_id_count(cust, lines))
        size = bundle_sizes(cust, lines)
        # the caller's times_us may be reused: the parts own a copy
        out = bundle_parts(gen.spec, ctx, times.copy(), cust, lines, ids, np.cumsum(size) - size)
        snapshots = self._snapshots(rng, ctx, cust, lines)
        if snapshots is not None:  # after every bundle, as they were emitted
            snapshots.seq = int(size.sum()) + np.arange(len(snapshots))
            out.append(snapshots)
        self._remember(lines)
        return out

    def _calendar(self, rng: np.random.Generator, times: np.ndarray, lines: dict[str, Any]) -> None:
        """Activation and EIP instants of the lines (grouped by account, in line order), and their payload dates."""
        owner, pos, product = lines["owner"], lines["pos"], lines["product"]
        t = len(owner)
        u = rng.random((3, t))
        minutes = np.where(pos == 0, 2 + 28 * u[1], 2 + 13 * u[1]) * MINUTE_US
        days = np.where(product == HOME_INTERNET, 1 + 5 * u[1], 1 + 4 * u[1]) * DAY_US
        later = (product == HOME_INTERNET) | ((pos > 0) & (u[0] >= SAME_VISIT))
        gap = np.where(later, days, minutes).astype(np.int64)
        reach, first = np.cumsum(gap), np.flatnonzero(pos == 0)
        act = times[owner] + reach - (reach[first] - gap[first])[owner]
        eip = act + ((10 + 170 * u[2]) * SECOND_US).astype(np.int64)
        lines.update(
            act_us=act,
            eip_us=eip,
            activated=act // DAY_US * DAY_US,
            start=eip // DAY_US * DAY_US,
            left=np.where(lines["financed"], lines["term"], 0),
            closed=np.zeros(t, np.int64),
        )

    def _snapshots(
        self, rng: np.random.Generator, ctx: BlockContext[AccountParams], cust: dict[str, Any], lines: dict[str, Any]
    ) -> Part | None:
        """Each line's snapshot at every bill close k = 1.. before the account churns, at most replay_months."""
        p = ctx.params
        owner, a = lines["owner"], len(cust["since"])
        hazard = 1.0 - (1.0 - cust["score"]) ** (1.0 / p.churn_risk.horizon_months)
        cycles = np.minimum(rng.geometric(hazard) - 1, p.replay_months)  # bill cycles completed before churn
        run = ((1 + 4 * rng.random(a)) * HOUR_US).astype(np.int64)  # the account's usage run after midnight
        per_line = cycles[owner]
        line = np.repeat(np.arange(len(owner)), per_line)
        s = len(line)
        if s == 0:
            return None
        k = np.arange(s) - np.repeat(np.cumsum(per_line) - per_line, per_line) + 1
        acct = owner[line]
        day = (cust["since"][acct] + k * MONTH_US) // DAY_US * DAY_US
        at = day + run[acct]
        share = np.minimum((at - lines["act_us"][line]) / MONTH_US, 1.0)  # the first cycle is partial
        product, status, ghost = lines["product"][line], lines["status"][line], lines["ghost"][line]
        financed, registered = lines["financed"][line], lines["imei"][line]
        ghost_injected = lines["ghost_injected"][line]
        kind, observed, injected = snapshot_kinds(rng, ctx, ghost, financed, registered, ghost_injected)
        swapped = np.flatnonzero(kind == SWAP)
        if len(swapped):
            observed[swapped] = self._donors(rng, p, cust, lines, line[swapped])
        data_mb, minutes, sms = usage(rng, p.usage, product, status, ghost, share)
        columns = {
            "account": np.array(cust["account_id"], dtype=object)[acct],
            "customer": np.array(cust["customer_id"], dtype=object)[acct],
            "line": lines["line_id"][line],
            "msisdn": lines["msisdn"][line],
            "product": PRODUCT_NAMES[product],
            "status": STATUS_NAMES[status],
            "cycle": k,  # billing_cycle = tenure_months = k
            "day": day,
            "tenure": k,
            "registered": registered,
            "observed": observed,
            "agreement": lines["agreement"][line],
            "agreement_type": AGREEMENT_NAMES[lines["type"][line]],
            "financed": financed,
            "left": np.maximum(lines["term"][line] - k, 0),
            "data_mb": data_mb,
            "minutes": minutes,
            "sms": sms,
        }
        ids = np.array(uuids(rng, s), dtype=object)  # a snapshot is its own correlation root
        return snapshot_part(self.gen.spec, ctx, at, ids, kind, injected, columns)

    def _donors(
        self,
        rng: np.random.Generator,
        p: AccountParams,
        cust: dict[str, Any],
        lines: dict[str, Any],
        swapped: np.ndarray,
    ) -> np.ndarray:
        """Handsets seen on swapped lines: another voice line's on the account, else an earlier account's."""
        owner, pos, imei = lines["owner"], lines["pos"], lines["imei"]
        count = cust["voice"] + cust["home"]
        o, n = owner[swapped], len(swapped)
        voice, u = cust["voice"][o], rng.random((2, n))
        other = (pos[swapped] + 1 + (u[0] * np.maximum(voice - 1, 1)).astype(np.int64)) % np.maximum(voice, 1)
        mate = (np.cumsum(count) - count)[o] + other  # a random other voice line of the account
        voice_lines = np.flatnonzero(lines["product"] == VOICE)  # grouped by account, accounts in start order
        total = self._ring_len + np.searchsorted(owner[voice_lines], o)  # handsets registered before o's start
        pick = (u[1] * total).astype(np.int64)
        block_pick = voice_lines[np.clip(pick - self._ring_len, 0, len(voice_lines) - 1)]
        foreign = np.where(pick < self._ring_len, self._ring[np.minimum(pick, RING - 1)], imei[block_pick])
        donors = np.where(p.imei_swap_within_account & (voice >= 2), imei[mate], np.where(total > 0, foreign, None))
        # then a never-registered one (numpy's stubs reject None; object arrays take it)
        unknown = np.flatnonzero(np.equal(donors, None) | (donors == imei[swapped]))  # type: ignore[call-overload]
        if len(unknown):
            donors[unknown] = imeis(rng, draw(HANDSETS_CUM, rng.random(len(unknown))))
        return donors

    def _remember(self, lines: dict[str, Any]) -> None:
        """Keep the block's voice handsets as swap donors for later blocks (a ring of the last RING)."""
        new = lines["imei"][lines["product"] == VOICE][-RING:]
        self._ring[(self._ring_at + np.arange(len(new))) % RING] = new
        self._ring_at = (self._ring_at + len(new)) % RING
        self._ring_len = min(RING, self._ring_len + len(new))
