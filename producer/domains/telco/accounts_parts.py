"""telco.accounts events as columns: onboarding bundles and usage snapshots as Parts (domains.common.columns).

Rate and replay mode share these builders. Nullable fields (observed IMEI, agreement number, EIP months
left, the truth's pattern and risk level) are list columns with None, as the columns contract says; every
other field is a numpy column, Micros or Decimals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from producer.domains.common.base import BlockContext, StreamSpec
from producer.domains.common.columns import Decimals, Micros, Part, TruthColumns
from producer.domains.telco.accounts_tables import (
    ADD_ONS,
    AGREEMENT_NAMES,
    DEVICE_CATEGORY,
    DEVICE_MAKER,
    DEVICE_MODEL,
    DEVICE_PRICE_CENTS,
    EIP_STATUSES,
    GHOST,
    HOME_INTERNET,
    NORMAL,
    PATTERNS,
    PAYMENT_METHODS,
    PRODUCT_NAMES,
    RISK,
    SERVICE_TYPES,
    STATUS_NAMES,
)

SERVICE_NAMES, PAYMENT_NAMES, EIP_STATUS_NAMES = (
    np.array(x, dtype=object) for x in (SERVICE_TYPES, PAYMENT_METHODS, EIP_STATUSES)
)
PATTERN_NAMES, RISK_NAMES = np.array(PATTERNS, dtype=object), np.array(RISK, dtype=object)


def bundle_sizes(cust: dict[str, Any], lines: dict[str, Any]) -> np.ndarray:
    """Events of each new account's onboarding bundle: customer-created, its lines and their EIPs."""
    a, owner = len(cust["voice"]), lines["owner"]
    financed = np.bincount(owner, lines["financed"], a).astype(np.int64)
    return 1 + np.bincount(owner, minlength=a) + financed


def bundle_id_count(cust: dict[str, Any], lines: dict[str, Any]) -> int:
    """Uuids the onboarding bundles take: per account a correlation id, then one event id per event."""
    return int(bundle_sizes(cust, lines).sum()) + len(cust["voice"])


def bundle_parts(
    spec: StreamSpec,
    ctx: BlockContext,
    times: np.ndarray,
    cust: dict[str, Any],
    lines: dict[str, Any],
    ids: list[str],
    start: np.ndarray,
) -> list[Part]:
    """Per new account: customer-created, then each line's line-activated and its eip-agreement-created.

    ids: bundle_id_count uuids, per account its correlation id, then its events' ids in bundle order.
    start: per account the seq of its customer-created; the rest of its bundle follows it consecutively.
    Lines and EIPs are dated at lines' act_us and eip_us when given (replay), else at their account's arrival.
    """
    owner, financed = lines["owner"], lines["financed"]
    size, count = bundle_sizes(cust, lines), np.bincount(owner, minlength=len(times))
    eips = size - 1 - count  # financed lines of each account
    # a line's place in its bundle: after customer-created, its account's earlier lines and their EIPs
    earlier_eips = (np.cumsum(financed) - financed) - (np.cumsum(eips) - eips)[owner]
    within = 1 + np.arange(len(owner)) - (np.cumsum(count) - count)[owner] + earlier_eips
    ids_of = np.array(ids, dtype=object)
    corr_at = np.cumsum(size + 1) - (size + 1)  # each bundle's ids: its correlation id, then its events' ids
    account, customer = (np.array(cust[k], dtype=object) for k in ("account_id", "customer_id"))
    normal = ctx.truth()

    def part(event_type: str, at: np.ndarray, acct: np.ndarray, w: Any, payload: dict, truth: TruthColumns) -> Part:
        event_id, corr = ids_of[corr_at[acct] + 1 + w], ids_of[corr_at[acct]]
        svc = spec.source_service
        return Part(spec.name, event_type, svc, at, account[acct], event_id, corr, payload, truth, start[acct] + w)

    act, eip = lines.get("act_us"), lines.get("eip_us")
    e = np.flatnonzero(financed)
    parts = [
        part("customer-created", times, np.arange(len(times)), 0, _customer_payload(cust, account, customer), normal),
        part(
            "line-activated",
            times[owner] if act is None else act,
            owner,
            within,
            _line_payload(lines, account[owner], customer[owner]),
            _ghost_truth(ctx, lines["ghost"], lines["ghost_injected"]),
        ),
        part(
            "eip-agreement-created",
            times[owner[e]] if eip is None else eip[e],
            owner[e],
            within[e] + 1,
            _eip_payload(lines, e, account[owner[e]], customer[owner[e]]),
            normal,
        ),
    ]
    return [p for p in parts if len(p)]


def _customer_payload(cust: dict[str, Any], account: np.ndarray, customer: np.ndarray) -> dict[str, Any]:
    """customer-created payload columns of the new accounts."""
    return {
        "customer_id": customer,
        "account_id": account,
        "customer_since": Micros(cust["since"]),
        "tenure_months": cust["tenure"],
        "service_type": SERVICE_NAMES[cust["service"]],
        "voice_lines": cust["voice"],
        "has_5g_home_internet": cust["home"],
        "payment_method": PAYMENT_NAMES[cust["payment"]],
        "paperless_billing": cust["paperless"],
        "monthly_charges": Decimals(cust["charges"], 2),
        "device_payment_plan": cust["plan"],
        "add_ons": {name: cust["add_ons"][:, k] for k, name in enumerate(ADD_ONS)},
        "churn_risk_score": cust["score"],
        "trust_baseline": cust["trust"],
        "patience": cust["patience"],
    }


def _line_payload(lines: dict[str, Any], account: np.ndarray, customer: np.ndarray) -> dict[str, Any]:
    """line-activated payload columns of the new lines."""
    device, imei, product = lines["device"], lines["imei"], lines["product"]
    return {
        "account_id": account,
        "customer_id": customer,
        "line_id": lines["line_id"],
        "msisdn": lines["msisdn"],
        "line_number": lines["pos"] + 1,
        "product_type": PRODUCT_NAMES[product],
        "line_status": STATUS_NAMES[lines["status"]],
        "activated_at": Micros(lines["activated"]),
        "device": {
            "imei": imei,
            "tac": imei.astype("U8"),  # the IMEI's first 8 digits
            "manufacturer": DEVICE_MAKER[device],
            "model": DEVICE_MODEL[device],
            "category": DEVICE_CATEGORY[device],
        },
        "company_owned_equipment": product == HOME_INTERNET,
        "billing_agreement_type": AGREEMENT_NAMES[lines["type"]],
    }


def _eip_payload(lines: dict[str, Any], e: np.ndarray, account: np.ndarray, customer: np.ndarray) -> dict[str, Any]:
    """eip-agreement-created payload columns of the financed lines e."""
    device, term = lines["device"][e], lines["term"][e]
    price = DEVICE_PRICE_CENTS[device]
    return {
        "account_id": account,
        "customer_id": customer,
        "line_id": lines["line_id"][e],
        "msisdn": lines["msisdn"][e],
        "agreement_number": lines["agreement"][e],
        "eip_imei": lines["imei"][e],
        "device_model": DEVICE_MODEL[device],
        "installment_months": term,
        "billing_agreement_type": AGREEMENT_NAMES[lines["type"][e]],
        "financed_amount": Decimals(price, 2),
        "monthly_installment": Decimals(-(-price // term), 2),  # rounded up to the cent
        "agreement_start": Micros(lines["start"][e]),
        "months_remaining": lines["left"][e],
        "eip_status": EIP_STATUS_NAMES[lines["closed"][e].astype(np.int64)],
    }


def _ghost_truth(ctx: BlockContext, ghost: np.ndarray, ghost_injected: np.ndarray) -> TruthColumns:
    """Truth of line activations: ghost lines labelled (injected if opened in a window), the rest normal."""
    kind = np.where(ghost, GHOST, NORMAL)
    return ctx.truth(
        is_anomaly=ghost,
        pattern=PATTERN_NAMES[kind].tolist(),
        risk_level=RISK_NAMES[kind].tolist(),
        injected=ghost & ghost_injected,
    )


def snapshot_part(
    spec: StreamSpec,
    ctx: BlockContext,
    time_us: np.ndarray,
    ids: np.ndarray,
    kind: np.ndarray,
    injected: np.ndarray,
    c: dict[str, Any],
    seq: np.ndarray | None = None,
) -> Part:
    """device-usage-snapshot events from per-snapshot columns c; each snapshot is its own correlation root.

    c: account, customer, line, msisdn, product and status (names), cycle, day (µs), tenure, registered and
    observed IMEI, agreement, agreement_type (names), financed, left (EIP months), data_mb, minutes, sms.
    """
    observed, left = c["observed"], c["left"].astype(object)  # Python ints
    left[~c["financed"]] = None
    missing = np.equal(observed, None)  # type: ignore[call-overload]  # numpy's stubs reject None
    payload = {
        "account_id": c["account"],
        "customer_id": c["customer"],
        "line_id": c["line"],
        "msisdn": c["msisdn"],
        "product_type": c["product"],
        "line_status": c["status"],
        "billing_cycle": c["cycle"],
        "snapshot_date": Micros(c["day"]),
        "tenure_months": c["tenure"],
        "registered_imei": c["registered"],
        "observed_imei": observed.tolist(),
        "imei_mismatch": ~missing & (observed != c["registered"]),
        "missing_usage_imei": missing,
        "usage_eip_agreement_number": c["agreement"].tolist(),
        "billing_agreement_type": c["agreement_type"],
        "eip_months_remaining": left.tolist(),
        "data_usage_mb": c["data_mb"],
        "voice_minutes": c["minutes"],
        "sms_count": c["sms"],
    }
    truth = ctx.truth(
        is_anomaly=kind != NORMAL,
        pattern=PATTERN_NAMES[kind].tolist(),
        risk_level=RISK_NAMES[kind].tolist(),
        injected=injected,
    )
    svc = spec.source_service
    return Part(spec.name, "device-usage-snapshot", svc, time_us, c["account"], ids, ids, payload, truth, seq)
