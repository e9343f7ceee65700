"""Tables of telco.accounts: closed sets, device catalog with TACs, IMEI/MSISDN makers and the parameter models."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import numpy as np
from pydantic import Field, field_validator

from producer.domains.common.base import (
    BlockContext,
    DomainParams,
    check_weights,
    uuids,
)

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
DAY_US = 86_400_000_000
MONTH_US = int(30.436875 * DAY_US)  # a mean Gregorian month
EXTRA_LINES_P = 0.55  # accounts with multiple lines have 1 + Geometric(0.55) voice lines, at most 5
SCORE_FLOOR, SCORE_CAP = 0.01, 0.63  # the seed's churn_risk_score range
# what a usage snapshot shows (indices), and the truth labels of each
NORMAL, SWAP, GHOST, CAPTURE = range(4)
PATTERNS = (None, "imei_swap", "ghost_line", "imei_capture_failure")
RISK = (None, "high", "high", "low")

# Closed sets, in the order of the schema's enum symbols (the generator works with their indices).
PAYMENT_METHODS = ("electronic_check", "mailed_check", "bank_transfer_automatic", "credit_card_automatic")
SERVICE_TYPES = ("voice_only", "voice_and_home_internet", "home_internet_only")
VOICE_ONLY, VOICE_AND_HOME_INTERNET, HOME_INTERNET_ONLY = range(3)
PRODUCT_TYPES = ("voice", "home_internet_5g")  # Avro enum symbols cannot start with a digit (seed: 5g_home_internet)
VOICE, HOME_INTERNET = range(2)
LINE_STATUSES = ("active", "suspended")
ACTIVE, SUSPENDED = range(2)
# NovaWireless has no service contracts: month-to-month, or an optional 24/30/36-month Equipment Installment Plan
BILLING_AGREEMENT_TYPES = ("month_to_month", "eip_24mo", "eip_30mo", "eip_36mo")
EIP_TERMS = (24, 30, 36)
EIP_STATUSES = ("active", "closed")
PRODUCT_NAMES, STATUS_NAMES, AGREEMENT_NAMES = (
    np.array(x, dtype=object) for x in (PRODUCT_TYPES, LINE_STATUSES, BILLING_AGREEMENT_TYPES)
)
TENURE_BINS = ("0-12", "12-24", "24-36", "36-48", "48-60", "60-72")  # months, 12 wide
CHARGE_BINS = ("20-40", "40-60", "60-80", "80-100", "100-120")  # USD per month, 20 wide
MULTIPLE_LINES = ("no", "yes", "no_phone_service")  # IBM Telco MultipleLines, mapped to voice line counts
ADD_ONS = ("online_security", "online_backup", "device_protection", "streaming_tv", "streaming_movies")

# Handsets: manufacturer, model, retail price in cents, share of new activations, TACs (type allocation codes).
# TACs are 8 digits with a real reporting-body prefix (35 = BABT, 86 = TAF); they are plausible, not registry data.
HANDSETS = (
    ("Apple", "iPhone 16", 79_900, 0.06, ("35311536", "35311537")),
    ("Apple", "iPhone 15 Pro", 99_900, 0.09, ("35790218", "35790219")),
    ("Apple", "iPhone 15", 79_900, 0.13, ("35384622", "35384623", "35384624")),
    ("Apple", "iPhone 14", 69_900, 0.12, ("35468930", "35468931")),
    ("Apple", "iPhone 13", 59_900, 0.10, ("35276014", "35276015")),
    ("Apple", "iPhone SE (3rd generation)", 42_900, 0.04, ("35499112",)),
    ("Samsung", "Galaxy S24 Ultra", 129_999, 0.04, ("35088477", "35088478")),
    ("Samsung", "Galaxy S24", 79_999, 0.07, ("35082951", "35082952")),
    ("Samsung", "Galaxy S23", 69_999, 0.05, ("35143568", "35143569")),
    ("Samsung", "Galaxy A54 5G", 44_999, 0.04, ("35227761",)),
    ("Samsung", "Galaxy A15 5G", 19_999, 0.05, ("35415906", "35415907")),
    ("Samsung", "Galaxy Z Flip5", 99_999, 0.02, ("35326188",)),
    ("Google", "Pixel 8", 69_900, 0.03, ("35598420",)),
    ("Google", "Pixel 7a", 49_900, 0.02, ("35264737",)),
    ("Motorola", "moto g 5G (2024)", 19_999, 0.04, ("35912850", "35912851")),
    ("Motorola", "moto g stylus 5G (2024)", 39_999, 0.03, ("35937644",)),
    ("OnePlus", "OnePlus 12", 79_999, 0.01, ("86420507",)),
)
# 5G Home Internet gateways: company-owned equipment, never financed.
GATEWAYS = (
    ("Arcadyan", "KVD21 5G Gateway", 0, 0.35, ("86718203", "86718204")),
    ("Sagemcom", "Fast 5688W", 0, 0.30, ("35670911",)),
    ("Nokia", "5G21 Gateway", 0, 0.25, ("35462172", "35462173")),
    ("Inseego", "Wavemaker FX2000", 0, 0.10, ("86093355",)),
)
DEVICES = HANDSETS + GATEWAYS
N_HANDSETS = len(HANDSETS)
DEVICE_MAKER = np.array([d[0] for d in DEVICES], dtype=object)
DEVICE_MODEL = np.array([d[1] for d in DEVICES], dtype=object)
DEVICE_PRICE_CENTS = np.array([d[2] for d in DEVICES], dtype=np.int64)
HANDSET_P = np.array([d[3] for d in HANDSETS])
GATEWAY_P = np.array([d[3] for d in GATEWAYS])
DEVICE_CATEGORY = np.array(["handset"] * N_HANDSETS + ["gateway_5g_hsi"] * len(GATEWAYS), dtype=object)
_TACS = [(i, tac) for i, d in enumerate(DEVICES) for tac in d[4]]
TAC_DEVICE = np.array([i for i, _ in _TACS])
TAC_DIGITS = np.array([[int(c) for c in tac] for _, tac in _TACS], dtype=np.int64)
DEVICE_TAC_START = np.searchsorted(TAC_DEVICE, np.arange(len(DEVICES)))  # first TAC row of each device
DEVICE_TAC_COUNT = np.bincount(TAC_DEVICE, minlength=len(DEVICES))
TACS_OF_MODEL = {d[1]: d[4] for d in DEVICES}

# Real US area codes of large metros; exchange codes NXX exclude N11 service codes and 555.
AREA_CODES = np.array(
    [
        212,
        213,
        214,
        215,
        216,
        224,
        248,
        281,
        305,
        310,
        312,
        313,
        314,
        404,
        408,
        415,
        425,
        469,
        480,
        502,
        503,
        512,
        602,
        612,
        614,
        615,
        617,
        646,
        678,
        702,
        704,
        713,
        718,
        720,
        773,
        786,
        801,
        813,
        818,
        832,
        858,
        901,
        904,
        909,
        916,
        919,
        971,
        972,
    ],
    dtype=np.int64,
)
EXCHANGES = np.array([x for x in range(200, 1000) if x % 100 != 11 and x != 555], dtype=np.int64)


def cumulative(weights: np.ndarray) -> tuple[np.ndarray, int]:
    """A weight table prepared for _draw: cumulative weights and the last index with positive weight."""
    return np.cumsum(weights), int(np.flatnonzero(weights)[-1])


def draw(table: tuple[np.ndarray, int], u: np.ndarray) -> np.ndarray:
    """Indices drawn from a prepared weight table by uniforms u (zero-weight entries never drawn)."""
    cum, last = table
    return np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), last)


HANDSETS_CUM, GATEWAYS_CUM = cumulative(HANDSET_P), cumulative(GATEWAY_P)


def last_of_each(values: np.ndarray) -> np.ndarray:
    """Indices of the last occurrence of each distinct value (later writes win, as in arrival order)."""
    _, last = np.unique(values[::-1], return_index=True)
    return len(values) - 1 - last


def luhn_check_digits(body: np.ndarray) -> np.ndarray:
    """Luhn check digit of each row of an (n, 14) digit matrix (every second digit from the left doubled)."""
    doubled = body[:, 1::2] * 2
    total = body[:, 0::2].sum(axis=1) + (doubled - 9 * (doubled > 9)).sum(axis=1)
    return (10 - total % 10) % 10


def imeis(rng: np.random.Generator, devices: np.ndarray) -> list[str]:
    """One 15-digit IMEI per device index: one of the model's TACs, a 6-digit serial, a Luhn check digit."""
    n = len(devices)
    if n == 0:
        return []
    tac_row = DEVICE_TAC_START[devices] + (rng.random(n) * DEVICE_TAC_COUNT[devices]).astype(np.int64)
    digits = np.empty((n, 15), dtype=np.int64)
    digits[:, :8] = TAC_DIGITS[tac_row]
    digits[:, 8:14] = rng.integers(0, 10, (n, 6))
    digits[:, 14] = luhn_check_digits(digits[:, :14])
    text = (digits + 48).astype(np.uint8).tobytes().decode("ascii")
    return [text[i : i + 15] for i in range(0, 15 * n, 15)]


def msisdns(rng: np.random.Generator, n: int) -> list[str]:
    """n ten-digit NANP numbers (area code, exchange, line number) without the +1 country code."""
    npa = AREA_CODES[rng.integers(0, len(AREA_CODES), n)]
    nxx = EXCHANGES[rng.integers(0, len(EXCHANGES), n)]
    return [str(x) for x in (npa * 10_000_000 + nxx * 10_000 + rng.integers(0, 10_000, n)).tolist()]


def agreement_numbers(rng: np.random.Generator, n: int) -> list[str]:
    """n EIP agreement numbers in the seed's format, EIP- and ten digits."""
    return [f"EIP-{x}" for x in rng.integers(10**9, 10**10, n).tolist()]


# --- parameters ---------------------------------------------------------------------------------------


class ChurnRiskModel(DomainParams):
    """Per-customer churn_risk_score = base + tenure_weight * exp(-tenure / decay) + payment-method risk
    + service-type risk + N(0, noise_std), clipped to the seed's 0.01-0.63 (IBM Telco: short tenure,
    electronic checks and internet service churn most). Replay mode reads the score as the probability
    that the account churns within horizon_months: a constant monthly hazard 1 - (1 - score)^(1 / horizon)."""

    base: float = Field(0.05, ge=-1.0, le=1.0)
    tenure_weight: float = Field(0.30, ge=0.0, le=1.0)
    tenure_decay_months: float = Field(18.0, gt=0.0, le=600.0)
    payment_method_risk: dict[str, float] = Field(
        default_factory=lambda: {
            "electronic_check": 0.18,
            "mailed_check": 0.06,
            "bank_transfer_automatic": 0.02,
            "credit_card_automatic": 0.0,
        }
    )
    service_type_risk: dict[str, float] = Field(
        default_factory=lambda: {"voice_only": 0.0, "voice_and_home_internet": 0.06, "home_internet_only": 0.08}
    )
    noise_std: float = Field(0.03, ge=0.0, le=0.5)
    horizon_months: float = Field(
        12.0,
        gt=0.0,
        le=600.0,
        description="replay: churn_risk_score is the probability of churning within this many months",
    )

    @field_validator("payment_method_risk", "service_type_risk")
    @classmethod
    def _known_keys(cls, v: dict[str, float], info: Any) -> dict[str, float]:
        known = PAYMENT_METHODS if info.field_name == "payment_method_risk" else SERVICE_TYPES
        check_weights(v, known, info.field_name, need_positive=False)
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
    new_account_rate: Rate = Field(
        0.05, description="share of arrivals that onboard an account; the rest are usage snapshots"
    )
    usage_snapshot_date: date = Field(
        date(2026, 2, 22),
        description="as-of date of onboarded tenure (customer_since, EIP starts), or the onboarding's day if earlier",
    )
    p_inject_eip_usage_mismatch: Rate = Field(0.06, description="per snapshot of a financed line: imei_swap")
    imei_swap_within_account: bool = Field(
        True,
        description="swap with another line's device on the account "
        "when it has one (the seed's mismatch_within_customer_only)",
    )
    p_missing_usage_imei: Rate = Field(
        0.04,
        description="missing usage IMEIs: ghost_line_share of them are "
        "ghost lines (per line), the rest capture failures (per financed snapshot)",
    )
    ghost_line_share: Rate = 0.30
    p_voice_eip_attach_if_plan: Rate = Field(
        0.85, description="a voice line is financed if the customer has a device payment plan"
    )
    device_payment_plan_rate: Rate = Field(
        0.721,
        description="customers with a device payment plan (seed: "
        "contract mix 62/10/28 with month_to_month_plan_rate 0.55)",
    )
    eip_term_weights: dict[int, float] = Field(default_factory=lambda: {24: 0.35, 30: 0.25, 36: 0.40})
    suspended_line_rate: Rate = Field(0.07, description="voice lines suspended (5G HINT lines are active)")
    tenure_weights: dict[str, float] = Field(
        default_factory=lambda: dict(zip(TENURE_BINS, (0.34, 0.20, 0.16, 0.14, 0.10, 0.06))),
        description="months, uniform within a bin",
    )
    monthly_charge_weights: dict[str, float] = Field(
        default_factory=lambda: dict(zip(CHARGE_BINS, (0.18, 0.28, 0.26, 0.18, 0.10))),
        description="USD, uniform within a bin",
    )
    payment_method_weights: dict[str, float] = Field(
        default_factory=lambda: dict(zip(PAYMENT_METHODS, (0.30, 0.10, 0.35, 0.25)))
    )
    multiple_lines_weights: dict[str, float] = Field(
        default_factory=lambda: dict(zip(MULTIPLE_LINES, (0.40, 0.55, 0.05))),
        description="no: 1 voice line, yes: 2-5, no_phone_service: 0 (such customers have 5G Home Internet)",
    )
    home_internet_share: Rate = Field(0.45, description="IBM Telco DSL + fiber, remapped to 5G Home Internet")
    paperless_billing_rate: Rate = 0.60
    add_on_rates: dict[str, float] = Field(default_factory=lambda: dict(zip(ADD_ONS, (0.35, 0.30, 0.42, 0.33, 0.28))))
    churn_risk: ChurnRiskModel = Field(default_factory=ChurnRiskModel)
    replay_months: int = Field(
        12,
        ge=1,
        le=120,
        description="replay: monthly billing cycles (usage snapshots "
        "per line) an account is followed for unless it churns first",
    )
    usage: UsageModel = Field(default_factory=UsageModel)

    @field_validator(
        "eip_term_weights",
        "tenure_weights",
        "monthly_charge_weights",
        "payment_method_weights",
        "multiple_lines_weights",
    )
    @classmethod
    def _known_weights(cls, v: dict, info: Any) -> dict:
        known = {
            "eip_term_weights": EIP_TERMS,
            "tenure_weights": TENURE_BINS,
            "monthly_charge_weights": CHARGE_BINS,
            "payment_method_weights": PAYMENT_METHODS,
            "multiple_lines_weights": MULTIPLE_LINES,
        }
        return check_weights(v, known[info.field_name], info.field_name)

    @field_validator("add_on_rates")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        check_weights(v, ADD_ONS, "add_on_rates", need_positive=False)
        if any(r > 1 for r in v.values()):
            raise ValueError("add-on rates are probabilities in [0, 1]")
        return v


def weight_array(weights: dict, keys: tuple) -> np.ndarray:
    """The weights of keys, in key order (missing keys weigh 0)."""
    return np.array([float(weights.get(k, 0.0)) for k in keys])


def anomaly_rates(p: AccountParams, ctx: BlockContext | None = None) -> tuple[float, float, float]:
    """Probabilities of a ghost line (per line), an IMEI swap and a capture failure (per financed snapshot)."""
    boost = ctx.boost if ctx is not None else (lambda _: 1.0)
    ghost = min(1.0, p.p_missing_usage_imei * p.ghost_line_share * boost("ghost_line"))
    swap = p.p_inject_eip_usage_mismatch * boost("imei_swap")
    capture = p.p_missing_usage_imei * (1 - p.ghost_line_share) * boost("imei_capture_failure")
    scale = 1.0 / max(1.0, swap + capture)
    return ghost, swap * scale, capture * scale


def snapshot_kinds(
    rng: np.random.Generator,
    ctx: BlockContext[AccountParams],
    ghost: np.ndarray,
    financed: np.ndarray,
    registered: np.ndarray,
    ghost_injected: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each snapshot shows (NORMAL, SWAP, GHOST, CAPTURE), its observed IMEI and whether it is injected.

    Swapped snapshots' observed IMEIs are still to fill. A ghost line's snapshots are injected when the
    line was opened inside an injection window (`ghost_injected`, per line), wherever that window has
    gone since; a swap or a capture failure when this block's window boosts its pattern.
    """
    _, p_swap, p_capture = anomaly_rates(ctx.params, ctx)
    u = rng.random(len(ghost))
    kind = np.where(
        ghost,
        GHOST,
        np.where(financed & (u < p_swap), SWAP, np.where(financed & (u < p_swap + p_capture), CAPTURE, NORMAL)),
    )
    observed = registered.copy()
    observed[(kind == GHOST) | (kind == CAPTURE)] = None
    injected = np.where(kind == GHOST, ghost_injected, np.array([ctx.injects(pattern) for pattern in PATTERNS])[kind])
    return kind, observed, injected


def expected_events_per_arrival(p: AccountParams) -> float:
    """Mean events per arrival: an onboarding bundle (customer, lines, EIPs) or one snapshot."""
    ml = weight_array(p.multiple_lines_weights, MULTIPLE_LINES)
    ml /= ml.sum()
    k = np.arange(1, 4)
    multi = np.dot(1 + k, EXTRA_LINES_P * (1 - EXTRA_LINES_P) ** (k - 1)) + 5 * (1 - EXTRA_LINES_P) ** 3
    voice = ml[0] + ml[1] * multi
    home_internet = ml[2] + (1 - ml[2]) * p.home_internet_share
    eips = voice * (1 - anomaly_rates(p)[0]) * p.device_payment_plan_rate * p.p_voice_eip_attach_if_plan
    return p.new_account_rate * (1 + voice + home_internet + eips) + (1 - p.new_account_rate)


def mean_score(p: AccountParams, tables: dict[str, Any], tenure: Any, payment: Any, service: Any) -> Any:
    """churn_risk_score before its noise: base + tenure term + payment-method and service-type risks."""
    c = p.churn_risk
    return (
        c.base
        + c.tenure_weight * np.exp(-tenure / c.tenure_decay_months)
        + tables["payment_risk"][payment]
        + tables["service_risk"][service]
    )


def onboarding_risk(
    p: AccountParams, tables: dict[str, Any], u: np.ndarray, noise: np.ndarray, replay: bool
) -> dict[str, np.ndarray]:
    """What a new customer's churn risk depends on, from draw_customers' uniforms u and normal noise."""
    a = len(noise)
    months = np.zeros(a) if replay else 12 * (draw(tables["tenure"], u[0]) + u[1])
    payment, multiple = draw(tables["payment"], u[4]), draw(tables["multiple"], u[5])
    home = (multiple == 2) | (u[6] < p.home_internet_share)  # no phone service: internet only
    service = np.where(multiple == 2, 2, np.where(home, 1, 0))
    score = mean_score(p, tables, months.astype(np.int64), payment, service) + p.churn_risk.noise_std * noise
    return {
        "months": months,
        "payment": payment,
        "multiple": multiple,
        "home": home,
        "service": service,
        "score": np.round(np.clip(score, SCORE_FLOOR, SCORE_CAP), 4),
    }


def draw_customers(
    rng: np.random.Generator,
    p: AccountParams,
    tables: dict[str, Any],
    a: int,
    anchor_us: int | np.ndarray,
    start_us: np.ndarray | None = None,
    ids: bool = True,
    risk: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Attributes and churn risk of `a` new customers. Compressed mode: tenure from tenure_weights, customer
    since that long before anchor_us (one as-of instant, or one per customer; `asof`, its day); replay
    (start_us given): brand-new customers of tenure 0 since that day, which is their as-of day.
    The warm start passes `risk` (onboarding_risk's columns, drawn and accepted already) and no ids."""
    u, z = rng.random((9 + len(ADD_ONS), a)), rng.standard_normal((2, a))
    if risk is None:
        risk = onboarding_risk(p, tables, u, z[0], start_us is not None)
    months, multiple = risk["months"], risk["multiple"]
    voice = np.choose(multiple, [1, np.minimum(1 + rng.geometric(EXTRA_LINES_P, a), 5), 0])
    drawn = uuids(rng, 2 * a) if ids else []  # before patience's draws, as ever
    asof = np.broadcast_to(np.asarray(anchor_us if start_us is None else start_us, np.int64) // DAY_US * DAY_US, a)
    since = (asof - (months * MONTH_US).astype(np.int64)) // DAY_US * DAY_US
    out = {
        "tenure": months.astype(np.int64),  # exact tenure; whole months in the payload
        "charges": np.rint((20 + 20 * draw(tables["charges"], u[2]) + 20 * u[3]) * 100).astype(np.int64),
        "payment": risk["payment"],
        "voice": voice,
        "home": risk["home"],
        "service": risk["service"],
        "plan": u[7] < p.device_payment_plan_rate,
        "paperless": u[8] < p.paperless_billing_rate,
        "add_ons": (u[9:] < tables["add_ons"][:, None]).T,
        "score": risk["score"],
        "trust": np.round(np.clip(72.0 + 12.0 * z[1], 5.0, 98.0), 2),
        "patience": np.round(np.clip(rng.beta(2.2, 2.0, a), 0.02, 0.98), 4),
        "since": since,
        "asof": asof,  # the day tenure, line activations and EIP payments are counted to
    }
    if ids:
        out["account_id"], out["customer_id"] = drawn[:a], drawn[a:]
    return out


def usage(
    rng: np.random.Generator,
    us: UsageModel,
    product: np.ndarray,
    status: np.ndarray,
    ghost: np.ndarray,
    share: np.ndarray | float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Data MB, voice minutes and SMS of snapshots (share: the part of the cycle the line was live).

    Ghost lines show a trickle of data (0-2 MB) and nothing else; suspended lines show nothing."""
    s, z = len(product), rng.standard_normal((3, len(product)))
    voice = product == VOICE
    data_gb = np.where(voice, us.voice_data_gb_median, us.home_internet_data_gb_median) * np.exp(us.log_std * z[0])
    silent = ghost | (status == SUSPENDED)
    data_mb = np.where(ghost, rng.integers(0, 3, s), np.where(silent, 0, np.rint(data_gb * share * 1024)))
    minutes = np.where(voice & ~silent, np.rint(us.voice_minutes_median * share * np.exp(us.log_std * z[1])), 0)
    sms = np.where(voice & ~silent, np.rint(us.sms_median * share * np.exp(us.log_std * z[2])), 0)
    return data_mb.astype(np.int64), minutes.astype(np.int64), sms.astype(np.int64)
