"""The shared generator helpers: ids, money, time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from producer.domains.common.base import to_datetime, uuids
from producer.domains.common.columns import Decimals, values


def test_uuids_are_version4_and_reproducible():
    ids = uuids(np.random.default_rng(5), 300)
    assert ids == uuids(np.random.default_rng(5), 300)
    assert len(set(ids)) == 300
    for text in ids[:50]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and str(parsed) == text
    assert uuids(np.random.default_rng(5), 0) == []


def test_decimal_columns_are_exact_at_scale_two():
    cents = (0, 1, 99, 100, 123456, 999999999)
    for amount, units in zip(values(Decimals(np.array(cents), 2), None, len(cents)), cents, strict=True):
        assert amount == Decimal(units) / 100 == Decimal(f"{units / 100:.2f}")
        assert amount.as_tuple().exponent == -2


def test_to_datetime_is_utc_microseconds():
    assert to_datetime(1_767_225_600_000_001) == datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
