"""telco.accounts: the NovaWireless account graph as events, with IMEI swaps, ghost lines and capture failures.

Compressed rate mode. The generator keeps a bounded pool of `max_accounts` accounts (the seed's customer
count), each with up to five voice lines and one 5G Home Internet line. Each arrival either onboards an
account (probability `new_account_rate`): customer-created, then per line line-activated followed by the
line's eip-agreement-created if its handset is financed, all at the arrival instant; or it is the next
monthly device-usage-snapshot of one existing line, drawn uniformly over lines. Once the pool is full a new
account replaces one that churned, chosen with probability proportional to its churn_risk_score. Event
time is the arrival time; the accounts' natural calendar is in the payloads: customer_since (tenure before
the seed's usage_snapshot_date, or before the customer-created event's day if that is earlier, so no date
lies after the event that reports it), line activation and EIP start dates, and per line a billing_cycle (a
compressed counter: cycles come faster than months) and the snapshot_date, the UTC day of the snapshot
event itself, never after it. Per account the order is always
customer-created, then each line's activation before its EIP and its snapshots.

Warm start (`prime`, before the scheduler's burn-in; accounts_warm): the pool takes hours to fill and far
longer to settle, as low-risk accounts stay longest. So it starts full, as the replacement dynamics leave
it: accounts are onboarding draws weighted by their mean stay (1 / churn hazard, the hazard a fixed point
of the pool's own scores), each aged exponentially by that hazard, each line snapshotted a Poisson number
of times over its account's age. The first snapshots then show billing cycles, tenure and EIP months
remaining as a long-running process would, from accounts whose onboarding was never emitted.

Anomalies, labelled on the affected events: imei_swap (a snapshot of a financed line observes another
device: another voice line's handset on the same account, else one registered to another account),
ghost_line (a line activated and active with no EIP and no usage or IMEI in any snapshot: the activation
and all its snapshots are labelled) and imei_capture_failure (a financed line's snapshot with normal usage
but no usage IMEI). Suspended lines also show no usage, unlabelled: they are ghost lines' honest look-alikes.

Replay mode (scenario `mode: replay`, accounts_replay): every arrival onboards a new account (tenure 0) whose
lifecycle comes at natural event times: line activations over the following minutes and days, each EIP right
after its line, then a snapshot per line at each monthly bill close for up to `replay_months` cycles, unless
the account churns first (monthly hazard from churn_risk_score). The base class holds the future events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np

from producer.domains.common.base import BlockContext, Part, StreamGenerator, StreamSpec, uuids
from producer.domains.telco.accounts_parts import bundle_id_count, bundle_parts, bundle_sizes, snapshot_part
from producer.domains.telco.accounts_replay import AccountReplay
from producer.domains.telco.accounts_tables import (
    ADD_ONS,
    AGREEMENT_NAMES,
    CHARGE_BINS,
    DAY_US,
    EIP_TERMS,
    GATEWAYS_CUM,
    HANDSETS_CUM,
    HOME_INTERNET,
    MONTH_US,
    MULTIPLE_LINES,
    N_HANDSETS,
    PAYMENT_METHODS,
    PRODUCT_NAMES,
    SERVICE_TYPES,
    STATUS_NAMES,
    SUSPENDED,
    SWAP,
    TENURE_BINS,
    VOICE,
    AccountParams,
    agreement_numbers,
    anomaly_rates,
    cumulative,
    draw,
    draw_customers,
    expected_events_per_arrival,
    imeis,
    last_of_each,
    msisdns,
    snapshot_kinds,
    usage,
    weight_array,
)
from producer.domains.telco.accounts_warm import billing_cycles, pool_customers

__all__ = ["AccountParams", "AccountsGenerator", "expected_events_per_arrival"]

SLOT_LINES = 6  # at most five voice lines and one 5G Home Internet line per account
CANDIDATES = 16  # random line slots tried per snapshot (about 40% of slots hold a line)


class AccountsGenerator(StreamGenerator[AccountParams]):
    """NovaWireless accounts of a bounded pool: onboarding bundles and monthly device-usage snapshots."""

    spec = StreamSpec(
        name="telco.accounts",
        key_field="account_id",
        event_types={
            "customer-created": "datagen.telco.accounts.CustomerCreated",
            "line-activated": "datagen.telco.accounts.LineActivated",
            "eip-agreement-created": "datagen.telco.accounts.EipAgreementCreated",
            "device-usage-snapshot": "datagen.telco.accounts.DeviceUsageSnapshot",
        },
        source_service="account-service",
        schema="telco/accounts.avsc",
        description="NovaWireless customers, voice and 5G Home Internet lines, EIP agreements and monthly "
        "device usage snapshots with churn_risk_score; IMEI swaps, ghost lines and capture failures labelled.",
    )
    Params = AccountParams
    driftable = (
        "new_account_rate",
        "tenure_weights",
        "monthly_charge_weights",
        "payment_method_weights",
        "multiple_lines_weights",
        "home_internet_share",
        "paperless_billing_rate",
        "add_on_rates",
        "device_payment_plan_rate",
        "p_voice_eip_attach_if_plan",
        "eip_term_weights",
        "suspended_line_rate",
        "p_inject_eip_usage_mismatch",
        "p_missing_usage_imei",
        "ghost_line_share",
        "churn_risk",
        "usage",
    )
    patterns = ("imei_swap", "ghost_line", "imei_capture_failure")
    pool_fields = ("max_accounts",)
    events_per_arrival: ClassVar[float] = expected_events_per_arrival(AccountParams())

    def __init__(self, params: AccountParams, rng: np.random.Generator) -> None:
        super().__init__(params, rng)
        m, n_lines = params.max_accounts, params.max_accounts * SLOT_LINES
        self._filled = 0
        midnight = datetime.combine(params.usage_snapshot_date, datetime.min.time(), UTC)
        self._anchor_us = int(midnight.timestamp()) * 1_000_000
        self._account = np.full(m, None, dtype=object)
        self._customer = np.full(m, None, dtype=object)
        self._churn = np.zeros(m)
        self._tenure = np.zeros(m, np.int64)
        self._created_at = np.full(m, -1, np.int64)  # arrival index within the current block, else -1
        # one entry per line slot, flat index = account slot * 6 + line position; product -1 = no line
        self._product = np.full(n_lines, -1, np.int8)
        self._status = np.zeros(n_lines, np.int8)
        self._ghost = np.zeros(n_lines, bool)
        self._ghost_injected = np.zeros(n_lines, bool)  # a ghost line opened inside an injection window
        self._agreement_type = np.zeros(n_lines, np.int8)
        self._eip_left = np.zeros(n_lines, np.int64)  # EIP months remaining at billing cycle 1
        self._cycle = np.zeros(n_lines, np.int64)  # snapshots taken so far
        self._line_id, self._msisdn, self._imei, self._agreement = (
            np.full(n_lines, None, dtype=object) for _ in range(4)
        )
        self._tables_for: AccountParams | None = None
        self._tables: dict[str, Any] = {}
        self._replay = AccountReplay(self)  # replay mode's only state: a bounded ring of registered handsets

    @property
    def active_accounts(self) -> int:
        """Accounts currently in the pool (never more than max_accounts)."""
        return self._filled

    def arrivals(self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[AccountParams]) -> list[Part]:
        """An onboarding bundle or one usage snapshot per arrival, in arrival order."""
        n = len(times_us)
        if n == 0:
            return []
        times = np.asarray(times_us, dtype=np.int64)
        new = rng.random(n) < ctx.params.new_account_rate
        if self._filled == 0:
            new[0] = True  # nothing to snapshot yet
        onboarded, snap_idx = np.flatnonzero(new), np.flatnonzero(~new)
        cust, lines, ids, slots = self._onboard(rng, ctx, onboarded, times[onboarded])
        snapshots, taken = self._snapshots(rng, ctx, times, snap_idx)
        self._created_at[slots] = -1
        # seq: each arrival's events follow those of the arrivals before it (a snapshot is skipped only when
        # a tiny pool lost every line to this block's onboarding)
        count = np.zeros(n, np.int64)
        count[snap_idx] = taken
        parts: list[Part] = []
        if len(onboarded):
            count[onboarded] = bundle_sizes(cust, lines)
            start = (np.cumsum(count) - count)[onboarded]
            parts = bundle_parts(self.spec, ctx, times[onboarded], cust, lines, ids, start)
        if snapshots is not None and len(snapshots):
            snapshots.seq = (np.cumsum(count) - count)[snap_idx[taken]]
            parts.append(snapshots)
        return parts

    def prime(self, rng: np.random.Generator, ctx: BlockContext[AccountParams]) -> None:
        """Fill the pool as a long run leaves it: full, churn-weighted, lines many cycles in (accounts_warm)."""
        p = ctx.params
        if self._filled or p.new_account_rate <= 0:  # without onboarding the pool never grows past one account
            return
        m, tables = self.params.max_accounts, self._param_tables(p)
        cust, hazard = pool_customers(rng, p, tables, m, self._anchor_us)
        slots = np.arange(m)
        self._filled = m
        self._store_accounts(slots, slots, cust)
        lines = self._lines(rng, p, ctx, tables, cust)
        self._store_lines(slots, slots, lines)
        flat = lines["owner"] * SLOT_LINES + lines["pos"]
        self._cycle[flat] = billing_cycles(rng, p.new_account_rate, hazard, lines["owner"])

    def replay_arrivals(
        self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[AccountParams]
    ) -> list[Part]:
        """Replay: each arrival onboards a new account; its whole lifecycle at natural times (accounts_replay)."""
        return self._replay.arrivals(rng, times_us, ctx)

    def _param_tables(self, p: AccountParams) -> dict[str, Any]:
        """Weight tables of the block's (possibly drifted) params, rebuilt only when the params change."""
        if p is not self._tables_for:
            c = p.churn_risk
            self._tables = {
                "tenure": cumulative(weight_array(p.tenure_weights, TENURE_BINS)),
                "charges": cumulative(weight_array(p.monthly_charge_weights, CHARGE_BINS)),
                "payment": cumulative(weight_array(p.payment_method_weights, PAYMENT_METHODS)),
                "multiple": cumulative(weight_array(p.multiple_lines_weights, MULTIPLE_LINES)),
                "term": cumulative(weight_array(p.eip_term_weights, EIP_TERMS)),
                "payment_risk": weight_array(c.payment_method_risk, PAYMENT_METHODS),
                "service_risk": weight_array(c.service_type_risk, SERVICE_TYPES),
                "add_ons": weight_array(p.add_on_rates, ADD_ONS),
            }
            self._tables_for = p
        return self._tables

    # --- onboarding ---------------------------------------------------------------------------------------

    def _claim_slots(self, rng: np.random.Generator, idx: np.ndarray) -> np.ndarray:
        """Pool slots for accounts onboarded at arrival indices idx: free ones, then churned accounts'."""
        a, m = len(idx), self.params.max_accounts
        free = min(a, m - self._filled)
        slots = np.empty(a, np.int64)
        slots[:free] = np.arange(self._filled, self._filled + free)
        self._filled += free
        self._created_at[slots[:free]] = idx[:free]
        rest = a - free
        if rest:  # among 8 random accounts, the one that churns is drawn in proportion to its churn risk
            cand = rng.integers(0, m, (rest, 8))
            cum = np.cumsum(self._churn[cand] * (self._created_at[cand] < 0), axis=1)
            k = np.minimum((cum < (rng.random(rest) * cum[:, -1])[:, None]).sum(axis=1), 7)
            slots[free:] = np.where(cum[:, -1] > 0, cand[np.arange(rest), k], cand[:, 0])
            self._created_at[slots[free:]] = idx[free:]  # a slot claimed twice: the later arrival wins
        return slots

    def _onboard(
        self, rng: np.random.Generator, ctx: BlockContext[AccountParams], idx: np.ndarray, times: np.ndarray
    ) -> tuple[dict[str, Any], dict[str, Any], list[str], np.ndarray]:
        """Create accounts at arrivals idx (instants times): attributes, churn score, lines, devices, EIPs, ids."""
        if len(idx) == 0:
            return {}, {}, [], idx
        p, slots = ctx.params, self._claim_slots(rng, idx)
        tables = self._param_tables(p)
        # tenure is counted to usage_snapshot_date, or to the day of the customer-created event if that is
        # earlier: a run before that date would otherwise date customers and lines after the events that
        # create them (issue 12). Shifting an account's calendar keeps its tenure, activation and EIP draws
        asof = np.minimum(self._anchor_us, times)
        cust = draw_customers(rng, p, tables, len(idx), asof)
        keep = last_of_each(slots)
        self._store_accounts(slots, keep, cust)
        lines = self._lines(rng, p, ctx, tables, cust)
        self._store_lines(slots, keep, lines)
        return cust, lines, uuids(rng, bundle_id_count(cust, lines)), slots

    def _store_accounts(self, slots: np.ndarray, keep: np.ndarray, cust: dict[str, Any]) -> None:
        """Write the kept (last-claiming) new accounts' ids, tenure and churn score to their pool slots."""
        kept = slots[keep]
        self._account[kept] = np.array(cust["account_id"], dtype=object)[keep]
        self._customer[kept] = np.array(cust["customer_id"], dtype=object)[keep]
        self._tenure[kept], self._churn[kept] = cust["tenure"][keep], cust["score"][keep]

    def _lines(
        self, rng: np.random.Generator, p: AccountParams, ctx: BlockContext, tables: dict[str, Any], cust: dict
    ) -> dict[str, Any]:
        """Lines of the new accounts (voice first, then 5G HINT) with their devices and EIPs."""
        voice, since = cust["voice"], cust["since"]
        count = voice + cust["home"]
        owner = np.repeat(np.arange(len(voice)), count)
        t = len(owner)
        pos = np.arange(t) - (np.cumsum(count) - count)[owner]
        product, u = np.where(pos < voice[owner], VOICE, HOME_INTERNET), rng.random((7, t))
        ghost = u[0] < anomaly_rates(p, ctx)[0]
        status = np.where((product == VOICE) & ~ghost & (u[1] < p.suspended_line_rate), SUSPENDED, 0)
        asof = cust["asof"][owner]
        span = asof - since[owner]
        activated = np.where(pos == 0, since[owner], since[owner] + (u[2] * span).astype(np.int64))
        activated = activated // DAY_US * DAY_US
        device = np.where(product == VOICE, draw(HANDSETS_CUM, u[3]), N_HANDSETS + draw(GATEWAYS_CUM, u[3]))
        financed = (product == VOICE) & ~ghost & cust["plan"][owner] & (u[4] < p.p_voice_eip_attach_if_plan)
        term = np.asarray(EIP_TERMS)[draw(tables["term"], u[5])]
        # the seed's months paid: Beta(1.5 + 4 min(tenure / 48, 1), 3.5) of the term; none before activation
        progress = np.minimum(cust["tenure"][owner] / 48.0, 1.0)
        paid = np.clip(np.rint(rng.beta(1.5 + 4.0 * progress, 3.5) * term), 0, term - 1).astype(np.int64)
        paid = np.minimum(paid, (asof - activated) // MONTH_US)
        closed = financed & (u[6] < 0.02)
        agreement = np.full(t, None, dtype=object)
        agreement[financed] = agreement_numbers(rng, int(financed.sum()))
        return {
            "owner": owner,
            "pos": pos,
            "product": product,
            "ghost": ghost,
            "ghost_injected": ghost & ctx.injects("ghost_line"),
            "status": status,
            "activated": activated,
            "device": device,
            "financed": financed,
            "term": term,
            "closed": closed,
            "left": np.where(financed & ~closed, term - paid, 0),
            "start": (asof - paid * MONTH_US) // DAY_US * DAY_US,
            "type": np.where(financed, 1 + np.searchsorted(EIP_TERMS, term), 0),
            "agreement": agreement,
            "line_id": np.array(uuids(rng, t), dtype=object),
            "msisdn": np.array(msisdns(rng, t), dtype=object),
            "imei": np.array(imeis(rng, device), dtype=object),
        }

    def _store_lines(self, slots: np.ndarray, kept: np.ndarray, lines: dict[str, Any]) -> None:
        """Replace the claimed accounts' lines in the pool with those of the kept (last-claiming) accounts."""
        base = slots * SLOT_LINES
        self._product[(base[:, None] + np.arange(SLOT_LINES)).ravel()] = -1
        keep = np.flatnonzero(np.isin(lines["owner"], kept))
        f = base[lines["owner"][keep]] + lines["pos"][keep]
        for name, key in (
            ("_product", "product"),
            ("_status", "status"),
            ("_ghost", "ghost"),
            ("_ghost_injected", "ghost_injected"),
            ("_agreement_type", "type"),
            ("_eip_left", "left"),
            ("_agreement", "agreement"),
            ("_line_id", "line_id"),
            ("_msisdn", "msisdn"),
            ("_imei", "imei"),
        ):
            getattr(self, name)[f] = lines[key][keep]
        self._cycle[f] = 0

    # --- usage snapshots ----------------------------------------------------------------------------------

    def _pick_lines(self, rng: np.random.Generator, idx: np.ndarray) -> np.ndarray:
        """A line slot per snapshot arrival, uniform over lines of accounts onboarded before it (-1: none)."""
        s, hi = len(idx), self._filled * SLOT_LINES
        cand = rng.integers(0, hi, (s, CANDIDATES))
        ok = (self._product[cand] >= 0) & (self._created_at[cand // SLOT_LINES] < idx[:, None])
        first = ok.argmax(axis=1)
        rows = np.arange(s)
        flat = np.where(ok[rows, first], cand[rows, first], -1)
        for j in np.flatnonzero(flat < 0).tolist():  # rare in steady state; common while the pool is tiny
            valid = np.flatnonzero(
                (self._product[:hi] >= 0) & (np.repeat(self._created_at[: self._filled], SLOT_LINES) < idx[j])
            )
            if len(valid):
                flat[j] = valid[rng.integers(0, len(valid))]
        return flat

    def _donor_imeis(self, rng: np.random.Generator, f: np.ndarray, registered: np.ndarray, within: bool) -> list:
        """Devices swapped lines are seen with: another voice line's on the account, else another account's."""
        k, rows = len(f), np.arange(len(f))
        own = f // SLOT_LINES
        grid = own[:, None] * SLOT_LINES + np.arange(SLOT_LINES)
        same = (
            (self._product[grid] == VOICE) & (grid != f[:, None]) & (self._imei[grid] != registered[:, None]) & within
        )
        other = rng.integers(0, self._filled * SLOT_LINES, (k, CANDIDATES))
        elsewhere = (
            (self._product[other] == VOICE)
            & (other // SLOT_LINES != own[:, None])
            & (self._created_at[other // SLOT_LINES] < 0)
            & (self._imei[other] != registered[:, None])
        )
        mine = grid[rows, np.argmax(rng.random((k, SLOT_LINES)) * same, axis=1)]  # a random one of them
        donors = np.where(
            same.any(axis=1),
            self._imei[mine],
            np.where(elsewhere.any(axis=1), self._imei[other[rows, elsewhere.argmax(axis=1)]], None),
        )
        # then a handset never registered with NovaWireless (numpy's stubs reject None; object arrays take it)
        unknown = np.flatnonzero(np.equal(donors, None))  # type: ignore[call-overload]
        if len(unknown):
            donors[unknown] = imeis(rng, draw(HANDSETS_CUM, rng.random(len(unknown))))
        return donors.tolist()

    def _next_cycles(self, flat: np.ndarray) -> np.ndarray:
        """Billing cycles (0-based) of the block's snapshots; a line drawn twice gets consecutive cycles."""
        cycle, valid = np.zeros(len(flat), np.int64), np.flatnonzero(flat >= 0)
        if len(valid) == 0:
            return cycle
        order = valid[np.argsort(flat[valid], kind="stable")]
        lines = flat[order]
        starts = np.flatnonzero(np.r_[True, lines[1:] != lines[:-1]])
        counts = np.diff(np.r_[starts, len(lines)])
        rank = np.arange(len(lines)) - np.repeat(starts, counts)
        cycle[order] = self._cycle[lines] + rank
        self._cycle[lines[starts]] += counts
        return cycle

    def _snapshots(
        self, rng: np.random.Generator, ctx: BlockContext[AccountParams], times: np.ndarray, idx: np.ndarray
    ) -> tuple[Part | None, np.ndarray]:
        """The next monthly device-usage-snapshot of a random line per arrival, with injected IMEI defects.

        Also says which arrivals got one (all but those of a tiny pool that lost every line to this block).
        """
        s = len(idx)
        if s == 0:
            return None, np.zeros(0, bool)
        p, flat = ctx.params, self._pick_lines(rng, idx)
        cycle, f = self._next_cycles(flat), np.maximum(flat, 0)
        slot, product, status, ghost = f // SLOT_LINES, self._product[f], self._status[f], self._ghost[f]
        atype = self._agreement_type[f]
        financed, registered = atype > 0, self._imei[f]
        kind, observed, injected = snapshot_kinds(rng, ctx, ghost, financed, registered, self._ghost_injected[f])
        swapped = np.flatnonzero((kind == SWAP) & (flat >= 0))
        if len(swapped):
            observed[swapped] = self._donor_imeis(rng, f[swapped], registered[swapped], p.imei_swap_within_account)
        data_mb, minutes, sms = usage(rng, p.usage, product, status, ghost)
        # the day the usage run took the snapshot: event time runs slower than the lines' compressed cycles,
        # so a date counted in cycles from usage_snapshot_date would run ahead of the event (issue 12)
        day = times[idx] // DAY_US * DAY_US
        ids = np.array(uuids(rng, s), dtype=object)  # a snapshot is its own correlation root
        taken = flat >= 0
        columns = {
            "account": self._account[slot],
            "customer": self._customer[slot],
            "line": self._line_id[f],
            "msisdn": self._msisdn[f],
            "product": PRODUCT_NAMES[np.maximum(product, 0)],
            "status": STATUS_NAMES[status],
            "cycle": cycle + 1,
            "day": day,
            "tenure": self._tenure[slot] + cycle,
            "registered": registered,
            "observed": observed,
            "agreement": self._agreement[f],
            "agreement_type": AGREEMENT_NAMES[atype],
            "financed": financed,
            "left": np.maximum(self._eip_left[f] - cycle, 0),
            "data_mb": data_mb,
            "minutes": minutes,
            "sms": sms,
        }
        if not taken.all():
            columns = {name: column[taken] for name, column in columns.items()}
            kind, injected, ids = kind[taken], injected[taken], ids[taken]
        return snapshot_part(self.spec, ctx, times[idx[taken]], ids, kind, injected, columns), taken
