"""Helpers of the registry tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryError


def registry_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> SchemaRegistryError:
    """The SchemaRegistryError a client call raises (the test fails if it raises none)."""
    with pytest.raises(SchemaRegistryError) as caught:
        call(*args, **kwargs)
    return caught.value
