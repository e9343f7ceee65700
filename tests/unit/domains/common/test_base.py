"""The shared generator helpers: ids, money, time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from producer.domains.common.base import dollars, to_datetime, uuids


def test_uuids_are_version4_and_reproducible():
    ids = uuids(np.random.default_rng(5), 300)
    assert ids == uuids(np.random.default_rng(5), 300)
    assert len(set(ids)) == 300
    for text in ids[:50]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and str(parsed) == text
    assert uuids(np.random.default_rng(5), 0) == []


def test_dollars_are_exact_at_scale_two():
    for cents in (0, 1, 99, 100, 123456, 999999999):
        assert dollars(cents) == Decimal(cents) / 100 == Decimal(f"{cents / 100:.2f}")
        assert dollars(cents).as_tuple().exponent == -2


def test_to_datetime_is_utc_microseconds():
    assert to_datetime(1_767_225_600_000_001) == datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
