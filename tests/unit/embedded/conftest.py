"""Fixtures of the registry tests: a file-backed local registry on a free port, and a client of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from producer.embedded.registry import LocalSchemaRegistry


@pytest.fixture()
def registry(tmp_path: Path) -> Iterator[LocalSchemaRegistry]:
    with LocalSchemaRegistry(data_dir=tmp_path) as running:
        yield running


@pytest.fixture()
def client(registry: LocalSchemaRegistry) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": registry.url})
