"""What every registered stream must do, checked on each stream's shared conformance sample.

Parametrised from the registry: a newly registered stream (and every companion stream it emits on)
is checked with no change here. Schema, Avro round trip and JSON, every event type present,
event-time order, determinism of generate() and prime(), truth labels, strict parameters, purity.
"""

from __future__ import annotations

import ast
import importlib
import io
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pytest
from annotated_types import Ge, Gt, Le, Lt
from fastavro.validation import validate
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from producer.domains import SPECS, STREAMS
from producer.domains.common.base import StreamGenerator, StreamSpec, to_datetime
from producer.domains.common.columns import Part
from producer.encoding.avro import Encode, schemaless_encoder
from producer.encoding.jsonl import to_json
from tests.unit.domains.conftest import (
    DRIFT_PROGRESS,
    PHASE,
    RECIPES,
    SCENARIO,
    Sample,
    expected_types,
    generate_sample,
    output_specs,
    recipe,
    sample_context,
    sample_params,
)
from tests.unit.domains.helpers import plain, schema_for, tagged

DOMAINS = Path(__file__).resolve().parents[3] / "producer" / "domains"
STREAM_NAMES = sorted(STREAMS)
# (generator's stream, stream it emits on): its own, then each companion
OUTPUTS = [(name, spec.name) for name in STREAM_NAMES for spec in output_specs(STREAMS[name])]
TRUTH_FIELDS = {
    "is_anomaly",
    "pattern",
    "risk_level",
    "scenario",
    "phase",
    "drift_progress",
    "disorder",
    "delay_ms",
    "injected",
    "episode_id",
}

by_stream = pytest.mark.parametrize("stream", STREAM_NAMES)
by_output = pytest.mark.parametrize(("stream", "output"), OUTPUTS, ids=[f"{s}->{o}" for s, o in OUTPUTS])


def defined_generators() -> set[str]:
    """Streams of every StreamGenerator subclass defined in a domain package's modules, registered or not."""
    names = set()
    for module in DOMAINS.glob("*/*.py"):
        if module.parent.name == "common" or module.name == "__init__.py":
            continue
        imported = importlib.import_module(f"producer.domains.{module.parent.name}.{module.stem}")
        for obj in vars(imported).values():
            if isinstance(obj, type) and issubclass(obj, StreamGenerator) and obj.__module__ == imported.__name__:
                names.add(obj.spec.name)
    return names


def test_the_parametrisation_is_the_registry() -> None:
    # every generator written is registered, and every registered one (and its companions) is checked
    assert defined_generators() == set(STREAMS) == set(STREAM_NAMES)
    assert {output for _, output in OUTPUTS} == set(SPECS)  # every topic a stream can have
    assert set(RECIPES) <= set(STREAMS)  # no recipe for a stream that is gone


def output_spec(stream: str, output: str) -> StreamSpec:
    """The spec of one stream a generator emits on."""
    return next(spec for spec in output_specs(STREAMS[stream]) if spec.name == output)


def of_output(sample: Sample, output: str) -> list[Any]:
    """The sample's events on one output stream."""
    return [e for e in sample.events if e.stream == output]


# --- schema and Avro ------------------------------------------------------------------------------------


@by_output
def test_schema_union_holds_exactly_the_specs_records(stream: str, output: str) -> None:
    spec = output_spec(stream, output)
    fields = {f["name"]: f["type"] for f in schema_for(spec)["fields"]}
    assert sorted(r["name"] for r in fields["payload"]) == sorted(spec.event_types.values())
    assert fields["truth"][0] == "null" and fields["truth"][1]["name"] == "datagen.Truth"


@by_output
def test_every_event_validates_against_its_schema(stream: str, output: str, sample_of: Any) -> None:
    spec, events = output_spec(stream, output), of_output(sample_of(stream), output)
    assert events
    for e in events:
        assert validate(tagged(e, spec), schema_for(spec), raise_errors=True)


@by_stream
def test_every_event_type_occurs(stream: str, sample_of: Any) -> None:
    assert {(e.stream, e.event_type) for e in sample_of(stream).events} == expected_types(stream)


@cache
def encoder(output: str) -> Encode:
    """The project's Avro body encoder of a stream, taking event values as generators make them."""
    return schemaless_encoder(SPECS[output].schema, SPECS[output].event_types)


@by_output
def test_each_event_type_round_trips_through_the_encoder(stream: str, output: str, sample_of: Any) -> None:
    spec = output_spec(stream, output)
    seen: dict[str, int] = {}
    for e in of_output(sample_of(stream), output):
        if seen.setdefault(e.event_type, 0) < 20:  # the first 20 of each type
            seen[e.event_type] += 1
            body = encoder(output)(e.value)
            decoded = fastavro.schemaless_reader(io.BytesIO(body), schema_for(spec), schema_for(spec))
            assert plain(decoded) == e.value, e.event_type
    assert set(seen) == {t for s, t in expected_types(stream) if s == output}


@by_stream
def test_each_event_type_encodes_as_json(stream: str, sample_of: Any) -> None:
    seen: dict[tuple[str, str], int] = {}
    for e in sample_of(stream).events:
        if seen.setdefault((e.stream, e.event_type), 0) < 20:  # the first 20 of each type
            seen[e.stream, e.event_type] += 1
            decoded = json.loads(to_json(e.value))
            assert decoded["event_id"] == e.value["event_id"] and decoded["event_type"] == e.event_type
    assert set(seen) == expected_types(stream)


@by_stream
def test_envelope_names_the_stream_its_service_and_time(stream: str, sample_of: Any) -> None:
    specs = {spec.name: spec for spec in output_specs(STREAMS[stream])}
    events = sample_of(stream).events
    for e in events:
        spec, v = specs[e.stream], e.value
        assert e.event_type in spec.event_types and v["source_service"] == spec.source_service
        assert v["timestamp"] == to_datetime(e.time_us) and isinstance(e.key, str) and e.key
    assert len({e.value["event_id"] for e in events}) == len(events)


# --- order and determinism ------------------------------------------------------------------------------


@by_stream
def test_output_is_in_event_time_order_across_blocks(stream: str, sample_of: Any) -> None:
    run = sample_of(stream).run
    for spec in output_specs(STREAMS[stream]):
        last = -(2**63)
        for block, times in zip(run.blocks, run.times):
            own = [e.time_us for e in block if e.stream == spec.name]
            assert own == sorted(own) and (not own or own[0] >= last)
            assert not own or own[-1] <= times[-1]  # nothing released before it is due
            last = own[-1] if own else last
        assert all(e.time_us > run.last_us for e in run.held)  # held back only what is not yet due


@by_stream
def test_same_seed_same_events_other_seed_other_events(stream: str, sample_of: Any) -> None:
    shared = sample_of(stream).run  # seed 7
    again = generate_sample(stream, seed=7, blocks=2).run
    assert again.blocks == shared.blocks[:2]
    other = generate_sample(stream, seed=8, blocks=2).run
    assert [e.value["event_id"] for e in other.events] != [e.value["event_id"] for e in again.events]


def first_block_after_prime(stream: str, prime_seed: int) -> list[Any]:
    """The first block (64 arrivals) of a generator primed with `prime_seed` at the recipe's rate."""
    cls, rec = STREAMS[stream], recipe(stream)
    params = sample_params(stream)
    gen = cls(params, np.random.default_rng(1))
    rate = cls.events_per_arrival * 1e6 / rec.spacing_us  # events per event-second, as pacing would ask
    gen.prime(np.random.default_rng(prime_seed), sample_context(stream, params, time_us=rec.start_us, event_rate=rate))
    times = rec.start_us + np.arange(64, dtype=np.int64) * rec.spacing_us
    return gen.generate(np.random.default_rng(2), times, sample_context(stream, params))


@by_stream
@pytest.mark.parametrize("replay", [False, True], ids=["rate", "replay"])
def test_arrivals_hand_over_columns(stream: str, replay: bool) -> None:
    """Every stream returns Parts, in rate and replay mode: the Avro path reads them with no per-event object.

    A stream that built Events would still be correct, but encoded event by event, several times slower.
    """
    cls, rec = STREAMS[stream], recipe(stream)
    params = sample_params(stream)
    gen = cls(params, np.random.default_rng(1))
    times = rec.start_us + np.arange(256, dtype=np.int64) * rec.spacing_us
    produce = gen.replay_arrivals if replay else gen.arrivals
    produced = produce(np.random.default_rng(2), times, sample_context(stream, params))
    assert produced and all(isinstance(part, Part) for part in produced)


@by_stream
def test_prime_is_deterministic(stream: str) -> None:
    primed = first_block_after_prime(stream, 5)
    assert primed and primed == first_block_after_prime(stream, 5)
    if STREAMS[stream].prime is not StreamGenerator.prime:  # it draws state: another seed, another state
        assert primed != first_block_after_prime(stream, 6)


# --- truth labels -----------------------------------------------------------------------------------------


@by_stream
def test_truth_labels_are_consistent(stream: str, sample_of: Any) -> None:
    patterns = STREAMS[stream].patterns
    seen = set()
    for e in sample_of(stream).events:
        t = e.value["truth"]
        assert set(t) == TRUTH_FIELDS
        assert t["is_anomaly"] == (t["pattern"] is not None) and t["pattern"] in (None, *patterns)
        assert (t["scenario"], t["phase"], t["drift_progress"]) == (SCENARIO, PHASE, DRIFT_PROGRESS)
        assert (t["disorder"], t["delay_ms"]) == (None, 0)  # the delivery stage's, not the generator's
        # every pattern is boosted for the whole sample: each anomaly is an injected one, and only those
        assert t["injected"] == t["is_anomaly"]
        # a cross-topic episode's id (an account-takeover chain's) only on anomalous rows, a str
        assert t["episode_id"] is None or (isinstance(t["episode_id"], str) and t["is_anomaly"])
        seen.add(t["pattern"])
    assert seen >= set(patterns)  # every pattern shows (the recipe's boost), so the checks above bite


@by_stream
def test_truth_is_never_mutated_after_it_is_returned(stream: str, sample_of: Any) -> None:
    sample = sample_of(stream)
    assert [e.value["truth"] for e in sample.events] == sample.truths_as_returned


# --- parameters -------------------------------------------------------------------------------------------


def param_fields(model: type[BaseModel], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], FieldInfo]]:
    """Every field of a parameter model by its path, nested models' fields included."""
    for name, info in model.model_fields.items():
        yield (*path, name), info
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            yield from param_fields(info.annotation, (*path, name))


def at(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """Parameters setting only `path` to `value`."""
    for name in reversed(path):
        value = {name: value}
    return value


def out_of_bounds(info: FieldInfo) -> list[Any]:
    """A value just past each numeric bound the field declares."""
    out: list[Any] = []
    for m in info.metadata:
        if isinstance(m, Ge):
            out.append(m.ge - 1)  # type: ignore[operator]  # numeric bounds only, in these models
        elif isinstance(m, Gt):
            out.append(m.gt)
        elif isinstance(m, Le):
            out.append(m.le + 1)  # type: ignore[operator]
        elif isinstance(m, Lt):
            out.append(m.lt)
    return out


def assert_rejected_at(params: type[BaseModel], path: tuple[str, ...], value: Any) -> None:
    """Setting `path` to `value` fails validation with an error located at `path`."""
    with pytest.raises(ValidationError) as caught:
        params.model_validate(at(path, value))
    locations = [tuple(err["loc"]) for err in caught.value.errors()]
    assert any(loc[: len(path)] == path for loc in locations), (path, value, locations)


@by_stream
def test_invalid_params_are_rejected_with_a_field_path(stream: str) -> None:
    params = STREAMS[stream].Params
    params()  # the defaults are valid
    assert_rejected_at(params, ("unknown_knob",), 1)
    checked = 0
    for path, info in param_fields(params):
        assert_rejected_at(params, path, object())  # a value of no accepted type
        for bad in out_of_bounds(info):
            assert_rejected_at(params, path, bad)
            checked += 1
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            assert_rejected_at(params, (*path, "unknown_knob"), 1)  # nested models are strict too
    assert checked > 0


def test_the_bounds_check_finds_every_declared_bound() -> None:
    bounds = {path: out_of_bounds(info) for path, info in param_fields(STREAMS["fintech.transactions"].Params)}
    assert bounds[("num_users",)] == [0, 5_000_001] and bounds[("fraud_injection_rate",)] == [-1.0, 2.0]
    assert bounds[("amount_distribution", "log_normal_std")] == [0.0, 6.0]
    assert bounds[("type_weights",)] == []  # a dict: its checks are the stream's own (test_transactions.py)


# --- purity -----------------------------------------------------------------------------------------------

FORBIDDEN = {"confluent_kafka", "prometheus_client", "time", "os", "socket", "random", "requests", "httpx"}
MODULES = sorted(DOMAINS.rglob("*.py"))  # every domain package, common included


def imported_modules(tree: ast.AST) -> set[str]:
    """Top-level names of every module a parsed file imports (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_domain_modules_exist() -> None:
    assert any(m.relative_to(DOMAINS) == Path("common/base.py") for m in MODULES)
    assert len(MODULES) > 25  # the packages' modules, not only the top level
    for cls in STREAMS.values():  # every registered generator lives in a module the check below reads
        assert Path(cls.__module__.replace(".", "/") + ".py").name in {m.name for m in MODULES}


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(DOMAINS)))
def test_domain_module_imports_nothing_impure(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    assert not imported_modules(tree) & FORBIDDEN


def test_the_import_check_catches_forbidden_imports() -> None:
    tree = ast.parse("import os.path\nfrom time import monotonic\nimport numpy as np\n")
    assert imported_modules(tree) & FORBIDDEN == {"os", "time"}


@by_stream
def test_generation_leaves_global_randomness_alone(stream: str, sample_of: Any) -> None:
    assert sample_of(stream).globals_untouched  # `random` and numpy's global state as seeded before the run
