"""Load and validate scenario files; every problem becomes one ConfigError with a field path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from producer.domains import STREAMS, emitted_with
from producer.domains.base import DomainParams
from producer.errors import ConfigError
from producer.scenario.durations import format_duration
from producer.scenario.model import Scenario
from producer.scheduling.drift import get_path, set_path
from producer.scheduling.profiles import PROFILE_NAMES
from producer.scheduling.progress import CURVE_NAMES

_TAGS = set(PROFILE_NAMES) | set(CURVE_NAMES)
BUNDLED_DIR = Path(__file__).resolve().parents[2] / "scenarios"


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


def _expected(error: dict[str, Any], model_fields: list[str] | None) -> tuple[str, object]:
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
            msg = msg[len(prefix):]
    return msg, found


def validation_to_config_error(source: str, exc: ValidationError, prefix: str = "", model: type | None = None) -> ConfigError:
    """The first pydantic error as a ConfigError naming file, field path, expected and found."""
    errors = exc.errors(include_url=False)
    # a misspelt key also shows up as a missing one; the misspelling is the one to report
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    path = _loc(tuple(error["loc"]))
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    fields = _fields_at(model, tuple(error["loc"][:-1])) if model is not None else None
    expected, found = _expected(error, fields)
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
    """Parse a YAML file, turning I/O and syntax problems into ConfigError."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", "an existing scenario file", "no such file") from None
    except OSError as exc:
        raise ConfigError(source, "", "a readable file", exc.strerror) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, "", "valid YAML", f"{problem} at {where}") from None


def resolve_path(name: str) -> Path:
    """A scenario path as given, or a bundled scenario by name ("steady_state")."""
    path = Path(name)
    if path.exists() or path.suffix:
        return path
    bundled = BUNDLED_DIR / f"{name}.yaml"
    return bundled if bundled.exists() else path


def load_scenario(name: str | Path) -> LoadedScenario:
    """Read, validate and resolve one scenario file."""
    path = resolve_path(str(name))
    source = str(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(source, "", "a mapping at the top level", type(data).__name__)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise validation_to_config_error(source, exc, model=Scenario) from None
    params: dict[str, DomainParams] = {}
    for stream, config in scenario.streams.items():
        cls = STREAMS.get(stream)
        if cls is None and emitted_with(stream):
            owners = " or ".join(emitted_with(stream))
            raise ConfigError(source, f"streams.{stream}", f"a configurable stream ({stream} is emitted by {owners}; configure that one)", stream)
        if cls is None:
            known = ", ".join(sorted(STREAMS))
            raise ConfigError(source, f"streams.{stream}", f"a known stream (one of: {known})", stream)
        try:
            params[stream] = cls.Params.model_validate(config.params)
        except ValidationError as exc:
            raise validation_to_config_error(
                source, exc, prefix=f"streams.{stream}.params", model=cls.Params
            ) from None
    for i, phase in enumerate(scenario.phases):
        length = scenario.phase_seconds(phase)
        for j, block in enumerate(phase.drift):
            _check_drift(source, f"phases[{i}].drift[{j}]", block, scenario, params, length)
        for j, block in enumerate(phase.inject):
            _check_inject(source, f"phases[{i}].inject[{j}]", block, scenario, length)
    return LoadedScenario(source=source, scenario=scenario, params=params)


def _check_window(source: str, where: str, block: Any, scenario: Any, length: float) -> None:
    if block.stream not in scenario.streams:
        known = ", ".join(scenario.streams)
        raise ConfigError(source, f"{where}.stream", f"a stream of this scenario (one of: {known})", block.stream)
    if block.start >= length:
        raise ConfigError(source, f"{where}.start", f"an offset inside the phase (< {format_duration(length)})",
                          format_duration(block.start))
    if block.duration is not None and block.start + block.duration > length * (1 + 1e-9):
        raise ConfigError(source, f"{where}.duration",
                          f"a window that ends inside the phase (<= {format_duration(length - block.start)} from its start)",
                          format_duration(block.duration))


def _check_drift(source: str, where: str, block: Any, scenario: Any, params: dict[str, DomainParams], length: float) -> None:
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
        cls.Params.model_validate(values)
    except ValidationError as exc:
        raise validation_to_config_error(source, exc, prefix=f"{where}.params", model=cls.Params) from None


def _check_inject(source: str, where: str, block: Any, scenario: Any, length: float) -> None:
    _check_window(source, where, block, scenario, length)
    patterns = STREAMS[block.stream].patterns
    if block.pattern not in patterns:
        raise ConfigError(source, f"{where}.pattern", f"a pattern of {block.stream} (one of: {', '.join(patterns)})",
                          block.pattern)
