"""Load and validate scenario files; every problem becomes one ConfigError with a field path."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from producer._data import bundled_dir
from producer.domains import STREAMS, emitted_with, output_specs
from producer.domains.common.base import DomainParams
from producer.errors import ConfigError, Plain
from producer.scenario.durations import format_duration
from producer.scenario.model import CHARGEBACK_STREAM, RuleBroken, Scenario
from producer.scenario.oracle_checks import check_oracles
from producer.scenario.safe_yaml import MAX_DEPTH, MAX_FILE_BYTES, NodeChecker, Rejected, ScenarioLoader
from producer.scheduling.drift import get_path, set_path
from producer.scheduling.profiles import PROFILE_NAMES
from producer.scheduling.progress import CURVE_NAMES

_TAGS = set(PROFILE_NAMES) | set(CURVE_NAMES)
BUNDLED_DIR = bundled_dir("scenarios")  # the wheel's package data, or scenarios/ of a checkout


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario with each stream's parameters parsed into its Params model."""

    source: str
    scenario: Scenario
    params: dict[str, DomainParams]


def _loc(parts: tuple[Any, ...]) -> str:
    """A pydantic location as a dotted field path ("phases[1].rate.value")."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS or str(part).startswith("function-"):
            continue  # discriminator tags and validator wrappers are not fields the user wrote
        else:
            out += f".{part}" if out else str(part)
    return out


def _expected(error: ErrorDetails, model_fields: list[str] | None) -> tuple[str, object]:
    """What pydantic expected and what it found, in plain words."""
    kind, msg = error["type"], error["msg"]
    found = error.get("input")
    if kind == "extra_forbidden":
        known = f" (one of: {', '.join(model_fields)})" if model_fields else ""
        return f"no unknown key{known}", error["loc"][-1]
    if kind == "missing":
        return "this required field", "nothing"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"{ctx.get('discriminator', 'a kind')} to be one of {ctx.get('expected_tags', '?')}", found
    for prefix in ("Input should be ", "Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg, found


def validation_to_config_error(
    source: str, exc: ValidationError, prefix: str = "", model: type | None = None
) -> ConfigError:
    """The first pydantic error as a ConfigError naming file, field path, expected and found."""
    errors = exc.errors(include_url=False)
    # a misspelt key also shows up as a missing one; the misspelling is the one to report
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    path = _loc(tuple(error["loc"]))
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    fields = _fields_at(model, tuple(error["loc"][:-1])) if model is not None else None
    expected, found = _expected(error, fields)
    rule = error.get("ctx", {}).get("error")
    if isinstance(rule, RuleBroken):  # a rule across fields: name the field, not the whole mapping
        path = f"{path}.{rule.field}" if path else rule.field
        expected, found = rule.expected, rule.found
    return ConfigError(source, path, expected, found)


def _fields_at(model: type, loc: tuple[Any, ...]) -> list[str] | None:
    """The field names of the (nested) model at a location, to list valid keys."""
    current: Any = model
    for part in loc:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return None
        current = field.annotation
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else None


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning I/O, encoding, syntax and shape problems into ConfigError."""
    source = str(path)
    text = _read_text(path)
    try:
        loader = ScenarioLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character such as NUL, refused before parsing
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise ConfigError(source, f"line {line}, column {column}", "printable YAML text", chr(exc.character)) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        NodeChecker().check(node)
        return loader.construct_document(node)
    except Rejected as exc:
        raise ConfigError(source, exc.path, exc.expected, exc.found) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, where, "valid YAML", Plain(problem)) from None
    except RecursionError:  # a backstop: nesting is bounded while composing
        raise ConfigError(source, "", f"at most {MAX_DEPTH} levels of nesting", Plain("deeper nesting")) from None
    finally:
        loader.dispose()


def _read_text(path: Path) -> str:
    """The file's text: at most MAX_FILE_BYTES, UTF-8 (a BOM is allowed)."""
    source = str(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(source, "", "an existing scenario file", Plain("no such file")) from None
    except OSError as exc:
        raise ConfigError(source, "", "a readable file", Plain(exc.strerror or str(exc))) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(source, "", f"a scenario file of at most {MAX_FILE_BYTES:,} bytes", Plain("a larger file"))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        where = f"line {line}, column {column} (byte {exc.start})"
        raise ConfigError(source, where, "UTF-8 text", data[exc.start : exc.end]) from None


def bundled_names() -> list[str]:
    """Names of the bundled scenarios ("steady_state", ...), sorted."""
    return sorted(path.stem for path in BUNDLED_DIR.glob("*.yaml"))


def resolve_path(name: str) -> Path:
    """A scenario path as given, or a bundled scenario by name ("steady_state")."""
    path = Path(name)
    if path.exists() or path.suffix or len(path.parts) != 1:
        return path
    bundled = BUNDLED_DIR / f"{name}.yaml"
    if bundled.is_file():
        return bundled
    known = ", ".join(bundled_names()) or "none found in " + str(BUNDLED_DIR)
    raise ConfigError(
        name,
        "",
        f"a scenario file or the name of a bundled scenario (one of: {known})",
        "no such file or bundled scenario",
    )


def load_scenario(name: str | Path) -> LoadedScenario:
    """Read, validate and resolve one scenario file."""
    path = resolve_path(str(name))
    source = str(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(source, "", "a mapping at the top level", type(data).__name__)
    try:
        return _validated(source, data)
    except (ArithmeticError, ValueError, TypeError, LookupError, RecursionError) as exc:
        # a backstop, so odd input no validator anticipated is still one line; the fuzz tests flag it as a bug
        raise ConfigError(source, "", UNCHECKED, Plain(f"{type(exc).__name__}: {exc}")) from None


UNCHECKED = "values the scenario checks understand"


def _validated(source: str, data: dict[Any, Any]) -> LoadedScenario:
    """The scenario model, each stream's parameters, and the drift and inject blocks checked."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise validation_to_config_error(source, exc, model=Scenario) from None
    _check_finite(source, "", scenario.model_dump(by_alias=True, exclude={"streams": {"__all__": {"params"}}}))
    params: dict[str, DomainParams] = {}
    for stream, config in scenario.streams.items():
        cls = STREAMS.get(stream)
        if cls is None and emitted_with(stream):
            owners = " or ".join(emitted_with(stream))
            raise ConfigError(
                source,
                f"streams.{stream}",
                f"a configurable stream ({stream} is emitted by {owners}; configure that one)",
                stream,
            )
        if cls is None:
            known = ", ".join(sorted(STREAMS))
            raise ConfigError(source, f"streams.{stream}", f"a known stream (one of: {known})", stream)
        try:
            params[stream] = cls.Params.model_validate(config.params)
        except ValidationError as exc:
            raise validation_to_config_error(source, exc, prefix=f"streams.{stream}.params", model=cls.Params) from None
        _check_finite(source, f"streams.{stream}.params", params[stream].model_dump(by_alias=True))
    for i, phase in enumerate(scenario.phases):
        length = scenario.phase_seconds(phase)
        for j, block in enumerate(phase.drift):
            _check_drift(source, f"phases[{i}].drift[{j}]", block, scenario, params, length)
        for j, inject in enumerate(phase.inject):
            _check_inject(source, f"phases[{i}].inject[{j}]", inject, scenario, length)
    if scenario.delayed_labels is not None:
        _check_delayed_labels(source, scenario)
    check_oracles(source, scenario)
    return LoadedScenario(source=source, scenario=scenario, params=params)


def _check_finite(source: str, path: str, value: Any) -> None:
    """Reject NaN and infinities anywhere in validated data ("nan" and "1e999" strings parse to them)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(source, path, "a finite number", value)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        _check_finite(source, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}".lstrip("."), item)


def _check_window(source: str, where: str, block: Any, scenario: Any, length: float) -> None:
    if block.stream not in scenario.streams:
        known = ", ".join(scenario.streams)
        raise ConfigError(source, f"{where}.stream", f"a stream of this scenario (one of: {known})", block.stream)
    if block.start >= length:
        raise ConfigError(
            source,
            f"{where}.start",
            f"an offset inside the phase (< {format_duration(length)})",
            format_duration(block.start),
        )
    if block.duration is not None and block.start + block.duration > length * (1 + 1e-9):
        raise ConfigError(
            source,
            f"{where}.duration",
            f"a window that ends inside the phase (<= {format_duration(length - block.start)} from its start)",
            format_duration(block.duration),
        )


def _check_drift(
    source: str, where: str, block: Any, scenario: Any, params: dict[str, DomainParams], length: float
) -> None:
    """Drift targets: known, driftable, numeric parameters, with values inside the parameter's range."""
    _check_window(source, where, block, scenario, length)
    cls = STREAMS[block.stream]
    base = params[block.stream]
    values = base.model_dump()
    for path, target in block.params.items():
        try:
            current = get_path(values, path)
        except (KeyError, TypeError):
            raise ConfigError(source, f"{where}.params.{path}", f"a parameter of {block.stream}", path) from None
        if not any(path == d or path.startswith(d + ".") for d in cls.driftable):
            allowed = ", ".join(cls.driftable) or "none"
            raise ConfigError(source, f"{where}.params.{path}", f"a driftable parameter (one of: {allowed})", path)
        if isinstance(current, (bool, str)) or not isinstance(current, (int, float, dict, list)):
            raise ConfigError(source, f"{where}.params.{path}", "a numeric parameter (or a table of numbers)", path)
        set_path(values, path, target)
    try:
        drifted = cls.Params.model_validate(values)
    except ValidationError as exc:
        raise validation_to_config_error(source, exc, prefix=f"{where}.params", model=cls.Params) from None
    _check_finite(source, f"{where}.params", drifted.model_dump(by_alias=True))


def _check_inject(source: str, where: str, block: Any, scenario: Any, length: float) -> None:
    _check_window(source, where, block, scenario, length)
    patterns = STREAMS[block.stream].patterns
    if block.pattern not in patterns:
        raise ConfigError(
            source, f"{where}.pattern", f"a pattern of {block.stream} (one of: {', '.join(patterns)})", block.pattern
        )


def _check_delayed_labels(source: str, scenario: Any) -> None:
    """Label sources named explicitly: streams this scenario writes, their patterns and event types."""
    labels = scenario.delayed_labels
    written = {spec.name: spec for spec in output_specs(list(scenario.streams))}
    confirmed = labels.confirmed_fraud
    for stream, rule in confirmed.streams.items() if "streams" in confirmed.model_fields_set else ():
        where = f"delayed_labels.confirmed_fraud.streams.{stream}"
        if stream not in written:
            raise ConfigError(source, where, f"a stream this scenario writes (one of: {', '.join(written)})", stream)
        _check_names(source, f"{where}.patterns", rule.patterns, _patterns_of(stream), f"a pattern of {stream}")
        types = tuple(written[stream].event_types)
        _check_names(source, f"{where}.event_types", rule.event_types, types, f"an event type of {stream}")
    known = STREAMS[CHARGEBACK_STREAM].patterns
    where = "delayed_labels.chargeback.patterns"
    _check_names(source, where, labels.chargeback.patterns, known, f"a pattern of {CHARGEBACK_STREAM}")


def _patterns_of(stream: str) -> tuple[str, ...]:
    """The anomaly patterns a stream's events may carry: those of every generator that writes it."""
    owners = [gen for gen in STREAMS.values() if stream in {gen.spec.name, *(c.name for c in gen.companions)}]
    return tuple(dict.fromkeys(p for gen in owners for p in gen.patterns))


def _check_names(source: str, where: str, names: list[str], known: tuple[str, ...], what: str) -> None:
    for i, name in enumerate(names):
        if name not in known:
            raise ConfigError(source, f"{where}[{i}]", f"{what} (one of: {', '.join(known)})", name)
