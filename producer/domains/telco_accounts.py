"""telco.accounts: the NovaWireless account graph as events, with IMEI swaps, ghost lines and capture failures.

Compressed rate mode. The generator keeps a bounded pool of `max_accounts` accounts (the seed's customer
count), each with up to five voice lines and one 5G Home Internet line. Each arrival either onboards an
account (probability `new_account_rate`): customer-created, then per line line-activated followed by the
line's eip-agreement-created if its handset is financed, all at the arrival instant; or it is the next
monthly device-usage-snapshot of one existing line, drawn uniformly over lines. Once the pool is full a new
account replaces one that churned, chosen with probability proportional to its churn_risk_score. Event
time is the arrival time; the accounts' natural calendar is in the payloads: customer_since (tenure before
the seed's usage_snapshot_date), line activation and EIP start dates, and per line a billing_cycle whose
snapshot_date is usage_snapshot_date plus that many months. Per account the order is always
customer-created, then each line's activation before its EIP and its snapshots.

Anomalies, labelled on the affected events: imei_swap (a snapshot of a financed line observes another
device: another line's handset on the same account, else one registered to another account), ghost_line
(a line activated and active with no EIP and no usage or IMEI in any snapshot: the activation and all its
snapshots are labelled) and imei_capture_failure (a financed line's snapshot with normal usage but no
usage IMEI). Suspended lines also show no usage, unlabelled: they are the ghost lines' honest look-alikes.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from producer.domains.base import (
    BlockContext, DomainParams, Event, StreamGenerator, StreamSpec, dollars, envelope, to_datetime, uuids,
)
from producer.domains.sampling import pick
from producer.domains.telco_tables import (
    ADD_ONS, BILLING_AGREEMENT_TYPES, CHARGE_BINS, DEVICE_CATEGORY, DEVICE_MAKER, DEVICE_MODEL, DEVICE_PRICE_CENTS,
    EIP_STATUSES, EIP_TERMS, GATEWAY_P, HANDSET_P, HOME_INTERNET, LINE_STATUSES, MULTIPLE_LINES, N_HANDSETS,
    PAYMENT_METHODS, PRODUCT_TYPES, SERVICE_TYPES, SUSPENDED, TENURE_BINS, VOICE, agreement_numbers, imeis, msisdns,
)

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
DAY_US = 86_400_000_000
MONTH_US = int(30.436875 * DAY_US)
SLOT_LINES = 6  # at most five voice lines and one 5G Home Internet line per account
EXTRA_LINES_P = 0.55  # accounts with multiple lines have 2 + Geometric(0.55) - 1 voice lines, at most 5
SCORE_FLOOR, SCORE_CAP = 0.01, 0.63  # the seed's churn_risk_score range
PATTERNS = (None, "imei_swap", "ghost_line", "imei_capture_failure")
NORMAL, SWAP, GHOST, CAPTURE = range(4)
RISK = (None, "high", "high", "low")


def _weights(v: dict, known: tuple, what: str, need_positive: bool = True) -> dict:
    unknown = sorted(set(v) - set(known), key=str)
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; expected a subset of {list(known)}")
    if any(not math.isfinite(w) or w < 0 for w in v.values()):
        raise ValueError(f"{what} weights must be finite and non-negative")
    if need_positive and sum(v.values()) <= 0:
        raise ValueError(f"{what} weights must sum to more than 0")
    return v


class ChurnRiskModel(DomainParams):
    """Per-customer churn_risk_score = base + tenure_weight * exp(-tenure / decay) + payment-method risk
    + service-type risk + N(0, noise_std), clipped to the seed's 0.01-0.63 (IBM Telco: short tenure,
    electronic checks and internet service churn most)."""

    base: float = Field(0.05, ge=-1.0, le=1.0)
    tenure_weight: float = Field(0.30, ge=0.0, le=1.0)
    tenure_decay_months: float = Field(18.0, gt=0.0, le=600.0)
    payment_method_risk: dict[str, float] = Field(default_factory=lambda: {
        "electronic_check": 0.18, "mailed_check": 0.06, "bank_transfer_automatic": 0.02, "credit_card_automatic": 0.0})
    service_type_risk: dict[str, float] = Field(default_factory=lambda: {
        "voice_only": 0.0, "voice_and_home_internet": 0.06, "home_internet_only": 0.08})
    noise_std: float = Field(0.03, ge=0.0, le=0.5)

    @field_validator("payment_method_risk", "service_type_risk")
    @classmethod
    def _known_keys(cls, v: dict[str, float], info: Any) -> dict[str, float]:
        known = PAYMENT_METHODS if info.field_name == "payment_method_risk" else SERVICE_TYPES
        _weights(v, known, info.field_name, need_positive=False)
        return v


class UsageModel(DomainParams):
    """Monthly usage per line: log-normal around these medians (voice lines; 5G HINT lines only use data)."""

    voice_data_gb_median: float = Field(9.0, gt=0.0, le=10_000.0)
    home_internet_data_gb_median: float = Field(350.0, gt=0.0, le=100_000.0)
    voice_minutes_median: float = Field(300.0, gt=0.0, le=50_000.0)
    sms_median: float = Field(450.0, gt=0.0, le=100_000.0)
    log_std: float = Field(0.8, gt=0.0, le=3.0)


class AccountParams(DomainParams):
    """Parameters of telco.accounts: the seed's table (n_customers -> max_accounts, the IMEI mismatch and EIP
    attach rates, the snapshot date), its pipeline's distributions (IBM Telco-derived) and missing-IMEI rates."""

    max_accounts: int = Field(10_000, ge=1, le=2_000_000, description="bounded account pool (seed n_customers)")
    new_account_rate: Rate = Field(0.05, description="share of arrivals that onboard an account; the rest "
                                   "are usage snapshots")
    usage_snapshot_date: date = Field(date(2026, 2, 22), description="billing cycle 0 of every line's snapshots")
    p_inject_eip_usage_mismatch: Rate = Field(0.06, description="per snapshot of a financed line: imei_swap")
    imei_swap_within_account: bool = Field(True, description="swap with another line's device on the account "
                                           "when it has one (the seed's mismatch_within_customer_only)")
    p_missing_usage_imei: Rate = Field(0.04, description="missing usage IMEIs: ghost_line_share of them are "
                                       "ghost lines (per line), the rest capture failures (per financed snapshot)")
    ghost_line_share: Rate = 0.30
    p_voice_eip_attach_if_plan: Rate = Field(0.85, description="a voice line is financed if the customer has "
                                             "a device payment plan")
    device_payment_plan_rate: Rate = Field(0.721, description="customers with a device payment plan (seed: "
                                           "contract mix 62/10/28 with month_to_month_plan_rate 0.55)")
    eip_term_weights: dict[int, float] = Field(default_factory=lambda: {24: 0.35, 30: 0.25, 36: 0.40})
    suspended_line_rate: Rate = Field(0.07, description="voice lines suspended (5G HINT lines are active)")
    tenure_weights: dict[str, float] = Field(default_factory=lambda: dict(zip(
        TENURE_BINS, (0.34, 0.20, 0.16, 0.14, 0.10, 0.06))), description="months, uniform within a bin")
    monthly_charge_weights: dict[str, float] = Field(default_factory=lambda: dict(zip(
        CHARGE_BINS, (0.18, 0.28, 0.26, 0.18, 0.10))), description="USD, uniform within a bin")
    payment_method_weights: dict[str, float] = Field(default_factory=lambda: dict(zip(
        PAYMENT_METHODS, (0.30, 0.10, 0.35, 0.25))))
    multiple_lines_weights: dict[str, float] = Field(default_factory=lambda: dict(zip(
        MULTIPLE_LINES, (0.40, 0.55, 0.05))), description="no: 1 voice line, yes: 2-5, no_phone_service: 0 "
        "(such customers have 5G Home Internet)")
    home_internet_share: Rate = Field(0.45, description="IBM Telco DSL + fiber, remapped to 5G Home Internet")
    paperless_billing_rate: Rate = 0.60
    add_on_rates: dict[str, float] = Field(default_factory=lambda: dict(zip(ADD_ONS, (0.35, 0.30, 0.42, 0.33, 0.28))))
    churn_risk: ChurnRiskModel = Field(default_factory=ChurnRiskModel)
    usage: UsageModel = Field(default_factory=UsageModel)

    @field_validator("eip_term_weights", "tenure_weights", "monthly_charge_weights", "payment_method_weights",
                     "multiple_lines_weights")
    @classmethod
    def _known_weights(cls, v: dict, info: Any) -> dict:
        known = {"eip_term_weights": EIP_TERMS, "tenure_weights": TENURE_BINS, "monthly_charge_weights": CHARGE_BINS,
                 "payment_method_weights": PAYMENT_METHODS, "multiple_lines_weights": MULTIPLE_LINES}
        return _weights(v, known[info.field_name], info.field_name)

    @field_validator("add_on_rates")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        _weights(v, ADD_ONS, "add_on_rates", need_positive=False)
        if any(r > 1 for r in v.values()):
            raise ValueError("add-on rates are probabilities in [0, 1]")
        return v


def _w(weights: dict, keys: tuple) -> np.ndarray:
    return np.array([float(weights.get(k, 0.0)) for k in keys])


def _anomaly_rates(p: AccountParams, ctx: BlockContext | None = None) -> tuple[float, float, float]:
    """Probabilities of a ghost line (per line), an IMEI swap and a capture failure (per financed snapshot)."""
    boost = ctx.boost if ctx is not None else (lambda _: 1.0)
    ghost = min(1.0, p.p_missing_usage_imei * p.ghost_line_share * boost("ghost_line"))
    swap = p.p_inject_eip_usage_mismatch * boost("imei_swap")
    capture = p.p_missing_usage_imei * (1 - p.ghost_line_share) * boost("imei_capture_failure")
    scale = 1.0 / max(1.0, swap + capture)
    return ghost, swap * scale, capture * scale


def expected_events_per_arrival(p: AccountParams) -> float:
    """Mean events per arrival: onboarding (customer, lines, EIPs) with new_account_rate, else one snapshot."""
    ml = _w(p.multiple_lines_weights, MULTIPLE_LINES)
    ml /= ml.sum()
    k = np.arange(1, 4)
    extra = np.dot(np.minimum(1 + k, 5), EXTRA_LINES_P * (1 - EXTRA_LINES_P) ** (k - 1))
    multi = extra + 5 * (1 - EXTRA_LINES_P) ** 3  # 2 + (Geometric - 1) lines, capped at 5
    voice = ml[0] + ml[1] * multi
    home_internet = ml[2] + (1 - ml[2]) * p.home_internet_share
    ghost = _anomaly_rates(p)[0]
    eips = voice * (1 - ghost) * p.device_payment_plan_rate * p.p_voice_eip_attach_if_plan
    return p.new_account_rate * (1 + voice + home_internet + eips) + (1 - p.new_account_rate)


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
    events_per_arrival: ClassVar[float] = expected_events_per_arrival(AccountParams())

    def __init__(self, params: AccountParams, rng: np.random.Generator) -> None:
        super().__init__(params, rng)
        m, lines = params.max_accounts, params.max_accounts * SLOT_LINES
        self._filled = 0
        self._anchor_us = int((datetime.combine(params.usage_snapshot_date, datetime.min.time(), timezone.utc)
                               - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds()) * 1_000_000
        self._account = np.full(m, None, dtype=object)
        self._customer = np.full(m, None, dtype=object)
        self._churn = np.zeros(m)
        self._tenure = np.zeros(m, np.int64)
        self._created_at = np.full(m, -1, np.int64)  # arrival index within the current block, else -1
        # one entry per line slot, flat index = account slot * 6 + line position
        self._product = np.full(lines, -1, np.int8)
        self._status = np.zeros(lines, np.int8)
        self._ghost = np.zeros(lines, bool)
        self._line_id = np.full(lines, None, dtype=object)
        self._msisdn = np.full(lines, None, dtype=object)
        self._imei = np.full(lines, None, dtype=object)
        self._agreement = np.full(lines, None, dtype=object)
        self._agreement_type = np.zeros(lines, np.int8)
        self._eip_left = np.zeros(lines, np.int64)  # months remaining at cycle 0
        self._cycle = np.zeros(lines, np.int64)  # next billing cycle to snapshot

    @property
    def active_accounts(self) -> int:
        """Accounts currently in the pool (never more than max_accounts)."""
        return self._filled

    def arrivals(self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[AccountParams]) -> list[Event]:
        """An onboarding bundle or one usage snapshot per arrival, in arrival order."""
        n = len(times_us)
        if n == 0:
            return []
        times = np.asarray(times_us, dtype=np.int64)
        new = rng.random(n) < ctx.params.new_account_rate
        if self._filled == 0:
            new[0] = True  # nothing to snapshot yet
        bundles = self._onboard(rng, ctx, times, np.flatnonzero(new))
        snapshots = self._snapshots(rng, ctx, times, np.flatnonzero(~new))
        self._created_at[self._created_at >= 0] = -1
        out: list[Event] = []
        b, s = iter(bundles), iter(snapshots)
        for is_new in new.tolist():
            if is_new:
                out.extend(next(b))
            else:
                snap = next(s)
                if snap is not None:
                    out.append(snap)
        return out

    def _claim_slots(self, rng: np.random.Generator, idx: np.ndarray) -> np.ndarray:
        """Pool slots for accounts onboarded at arrival indices idx: free ones, then churned accounts'."""
        a, m = len(idx), self.params.max_accounts
        free = min(a, m - self._filled)
        slots = np.empty(a, np.int64)
        slots[:free] = np.arange(self._filled, self._filled + free)
        self._filled += free
        self._created_at[slots[:free]] = idx[:free]
        rest = a - free
        if rest:  # the victim of each of 8 random candidates is drawn in proportion to its churn risk
            cand = rng.integers(0, m, (rest, 8))
            w = self._churn[cand] * (self._created_at[cand] < 0)
            cum = np.cumsum(w, axis=1)
            k = np.minimum((cum < (rng.random(rest) * cum[:, -1])[:, None]).sum(axis=1), 7)
            slots[free:] = np.where(cum[:, -1] > 0, cand[np.arange(rest), k], cand[:, 0])
            self._created_at[slots[free:]] = idx[free:]  # repeated slots: the later arrival wins
        return slots

    def _onboard(
        self, rng: np.random.Generator, ctx: BlockContext[AccountParams], times: np.ndarray, idx: np.ndarray
    ) -> list[list[Event]]:
        """Create accounts at arrivals idx: customer attributes, churn score, lines, devices and EIPs."""
        a = len(idx)
        if a == 0:
            return []
        p, slots = ctx.params, self._claim_slots(rng, idx)
        tenure = (12 * pick(_w(p.tenure_weights, TENURE_BINS), rng.random(a)) + (rng.random(a) * 12).astype(np.int64))
        charges = np.rint((20 + 20 * pick(_w(p.monthly_charge_weights, CHARGE_BINS), rng.random(a))
                           + 20 * rng.random(a)) * 100).astype(np.int64)
        payment = pick(_w(p.payment_method_weights, PAYMENT_METHODS), rng.random(a))
        multiple = pick(_w(p.multiple_lines_weights, MULTIPLE_LINES), rng.random(a))
        voice = np.choose(multiple, [1, np.minimum(1 + rng.geometric(EXTRA_LINES_P, a), 5), 0])
        home = (multiple == 2) | (rng.random(a) < p.home_internet_share)
        service = np.where(voice == 0, 2, np.where(home, 1, 0))
        plan = rng.random(a) < p.device_payment_plan_rate
        paperless = rng.random(a) < p.paperless_billing_rate
        add_ons = rng.random((a, len(ADD_ONS))) < _w(p.add_on_rates, ADD_ONS)
        c = p.churn_risk
        score = (c.base + c.tenure_weight * np.exp(-tenure / c.tenure_decay_months)
                 + _w(c.payment_method_risk, PAYMENT_METHODS)[payment] + _w(c.service_type_risk, SERVICE_TYPES)[service]
                 + rng.normal(0.0, c.noise_std, a))
        score = np.round(np.clip(score, SCORE_FLOOR, SCORE_CAP), 4)
        trust = np.round(np.clip(rng.normal(72.0, 12.0, a), 5.0, 98.0), 2)
        patience = np.round(np.clip(rng.beta(2.2, 2.0, a), 0.02, 0.98), 4)
        since = (self._anchor_us - ((tenure + rng.random(a)) * MONTH_US).astype(np.int64)) // DAY_US * DAY_US
        lines = self._lines(rng, p, ctx, slots, voice, home, plan, tenure, since)
        self._store_accounts(slots, tenure, score)
        return self._bundle_events(rng, ctx, times[idx], slots, lines, {
            "tenure": tenure, "charges": charges, "payment": payment, "voice": voice, "home": home,
            "service": service, "plan": plan, "paperless": paperless, "add_ons": add_ons, "score": score,
            "trust": trust, "patience": patience, "since": since})

    def _store_accounts(self, slots: np.ndarray, tenure: np.ndarray, score: np.ndarray) -> None:
        """Write the onboarded accounts into their slots (a slot claimed twice keeps the later account)."""
        _, last = np.unique(slots[::-1], return_index=True)
        keep = len(slots) - 1 - last
        self._tenure[slots[keep]], self._churn[slots[keep]] = tenure[keep], score[keep]

    def _lines(
        self, rng: np.random.Generator, p: AccountParams, ctx: BlockContext, slots: np.ndarray, voice: np.ndarray,
        home: np.ndarray, plan: np.ndarray, tenure: np.ndarray, since: np.ndarray,
    ) -> dict[str, Any]:
        """Lines of the new accounts (voice first, then 5G HINT) with devices and EIPs, stored into the pool."""
        count = voice + home
        owner = np.repeat(np.arange(len(slots)), count)
        t = len(owner)
        pos = np.arange(t) - (np.cumsum(count) - count)[owner]
        product = np.where(pos < voice[owner], VOICE, HOME_INTERNET)
        ghost = rng.random(t) < _anomaly_rates(p, ctx)[0]
        status = np.where((product == VOICE) & ~ghost & (rng.random(t) < p.suspended_line_rate), SUSPENDED, 0)
        span = self._anchor_us - since[owner]
        activated = np.where(pos == 0, since[owner], since[owner] + (rng.random(t) * span).astype(np.int64))
        activated = activated // DAY_US * DAY_US
        device = np.where(product == VOICE, pick(HANDSET_P, rng.random(t)), N_HANDSETS + pick(GATEWAY_P, rng.random(t)))
        financed = (product == VOICE) & ~ghost & plan[owner] & (rng.random(t) < p.p_voice_eip_attach_if_plan)
        term = np.array(EIP_TERMS)[pick(_w(p.eip_term_weights, EIP_TERMS), rng.random(t))]
        # the seed's months paid: Beta(1.5 + 4 * min(tenure / 48, 1), 3.5) of the term, never before activation
        progress = np.minimum(tenure[owner] / 48.0, 1.0)
        paid = np.clip(np.rint(rng.beta(1.5 + 4.0 * progress, 3.5) * term), 0, term - 1).astype(np.int64)
        paid = np.minimum(paid, (self._anchor_us - activated) // MONTH_US)
        closed = rng.random(t) < 0.02
        lines = {"owner": owner, "pos": pos, "product": product, "ghost": ghost, "status": status,
                 "activated": activated, "device": device, "financed": financed, "term": term, "closed": closed,
                 "left": np.where(closed, 0, term - paid), "start": (self._anchor_us - paid * MONTH_US) // DAY_US * DAY_US,
                 "type": np.where(financed, 1 + np.searchsorted(EIP_TERMS, term), 0),
                 "line_id": uuids(rng, t), "msisdn": msisdns(rng, t), "imei": imeis(rng, device)}
        nf = int(financed.sum())
        agreement = np.full(t, None, dtype=object)
        agreement[financed] = agreement_numbers(rng, nf)
        lines["agreement"] = agreement
        self._store_lines(slots, lines)
        return lines

    def _store_lines(self, slots: np.ndarray, lines: dict[str, Any]) -> None:
        """Replace the line slots of the claimed accounts (in arrival order, so a repeated slot keeps the last)."""
        base = slots * SLOT_LINES
        self._product[(base[:, None] + np.arange(SLOT_LINES)).ravel()] = -1
        flat = base[lines["owner"]] + lines["pos"]
        _, last = np.unique(flat[::-1], return_index=True)
        keep = len(flat) - 1 - last
        f = flat[keep]
        for name, values in (("_product", lines["product"]), ("_status", lines["status"]), ("_ghost", lines["ghost"]),
                             ("_agreement_type", lines["type"]), ("_eip_left", lines["left"]),
                             ("_agreement", lines["agreement"])):
            getattr(self, name)[f] = values[keep]
        for name in ("line_id", "msisdn", "imei"):
            getattr(self, "_" + name)[f] = np.array(lines[name], dtype=object)[keep]
        self._cycle[f] = 0
        for name in ("line_id", "msisdn", "imei"):  # slots emptied by a later claim in this block drop their lines
            getattr(self, "_" + name)[self._product < 0] = None if False else getattr(self, "_" + name)[self._product < 0]

    from producer.domains.telco_events import bundle_events as _bundle_events  # noqa: E402
    from producer.domains.telco_events import snapshots as _snapshots  # noqa: E402
