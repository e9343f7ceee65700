"""Settings from four layers: a flag, else its DATAGEN_* variable, else the config file, else its default.

The config file (`--config FILE`, else `./datagen.toml` if present) holds a `[run]` table keyed by
`datagen run`'s flag names without the leading dashes, a `[kafka]` table of librdkafka properties and a
`[registry]` table of schema registry client settings (`schema.registry.*` for `-X`). librdkafka
properties also come from DATAGEN_KAFKA_* variables, so secrets stay out of `ps` output; `-X` wins
over both. An invalid value gives one line naming where it came from (exit 2).
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from producer.client_conf import REGISTRY_PREFIX
from producer.errors import ConfigError, Plain, UsageError

CONFIG_FILE = "datagen.toml"
KAFKA_VARIABLE_PREFIX = "DATAGEN_KAFKA_"
# DATAGEN_KAFKA_* variables that are not librdkafka properties: the test scripts' Apache Kafka jar cache
NOT_PROPERTIES = frozenset({"DATAGEN_KAFKA_CACHE"})
FILE_TABLES = ("run", "kafka", "registry")
# Confluent's images spell properties the same way (KAFKA_SASL_JAAS_CONFIG): `_` is `.`, `__` is `_`,
# `___` is `-`; longest first, so DATAGEN_KAFKA_A__B is `a_b`
_SEPARATORS = {"___": "-", "__": "_", "_": "."}
_SEPARATOR = re.compile("___|__|_")
_MISSING = object()


def switch(text: str) -> bool:
    """A store_true flag's variable: true/1/yes/on or false/0/no/off, any case."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false (1/0, yes/no, on/off), found {text!r}")


@dataclass(frozen=True)
class Env:
    """A flag's default: variable `name` (then `legacy` ones), else its config file key, else `fallback`.

    Resolved after parsing and only if the subcommand has the flag and it was not given, so a bad
    DATAGEN_METRICS_PORT stops `datagen run` but not `datagen list`, and a flag overrides its variable.
    """

    name: str
    convert: Callable[[str], Any]
    fallback: Any = None
    legacy: tuple[str, ...] = ()

    @property
    def is_switch(self) -> bool:
        """A store_true flag: true/false in a variable, a TOML boolean in the file."""
        return self.convert is switch

    @property
    def names(self) -> tuple[str, ...]:
        """The variables read, first set one wins."""
        return (self.name, *self.legacy)

    def resolve(self, environ: Mapping[str, str], found: Any = _MISSING, where: str = "") -> Any:
        """The first set variable's value, else the file's `found` at `where`, else the fallback."""
        for name in self.names:
            text = environ.get(name, "")
            if text.strip():  # unset, or set empty as compose files do to mean "not set"
                return self._converted(text, name)
        if found is _MISSING:
            return self.fallback
        return self._from_file(found, where)

    def _converted(self, text: str, source: str) -> Any:
        try:
            return self.convert(text)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"{source}: {exc}") from exc

    def _from_file(self, value: Any, where: str) -> Any:
        """A TOML value: a boolean for a switch; a string or number for any other flag, read like its text."""
        if self.is_switch:
            if isinstance(value, bool):
                return value
            expected = "true or false"
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            return self._converted(str(value), where)
        else:
            expected = getattr(self.convert, "__name__", "a string")
        source, _, path = where.rpartition(": ")
        raise ConfigError(source, path, expected, value)


@dataclass(frozen=True)
class ConfigFile:
    """A parsed config file: the [run] table as given, and its librdkafka / registry properties as -X keys."""

    label: str
    run: dict[str, Any]
    properties: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # property -> "datagen.toml: kafka.sasl.password"


def read_config(path: Path, label: str) -> ConfigFile:
    """Parse `path` strictly: only the tables run, kafka and registry; an unreadable file is a UsageError."""
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(label, "", "a readable UTF-8 TOML file", Plain(type(exc).__name__)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(label, "", "TOML", Plain(str(exc))) from exc
    for key, value in data.items():
        if key not in FILE_TABLES or not isinstance(value, dict):
            raise ConfigError(label, key, "one of the tables [run], [kafka], [registry]", Plain("an unknown key"))
    config = ConfigFile(label, dict(data.get("run", {})))
    for table, prefix in (("kafka", ""), ("registry", REGISTRY_PREFIX)):
        for key, value in _flatten(data.get(table, {})).items():
            config.properties[prefix + key] = _property_value(value, label, f"{table}.{key}")
            config.sources[prefix + key] = f"{label}: {table}.{key}"
    return config


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`sasl.password = "x"` (a nested table in TOML) and `"sasl.password" = "x"` both as `sasl.password`."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[prefix + key] = value
    return flat


def _property_value(value: Any, label: str, path: str) -> str:
    """A property's TOML value as -X would give it: text; booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ConfigError(label, path, "a string, number or boolean", Plain(f"a {type(value).__name__}"))


def find_config(given: Path | None, source: str, cwd: Path) -> ConfigFile | None:
    """The config file named by --config/DATAGEN_CONFIG (`source`), else ./datagen.toml if present."""
    if given is not None:
        if not given.is_file():
            raise UsageError(f"{source}: expected a readable TOML file, found {str(given)!r}")
        return read_config(given, str(given))
    default = cwd / CONFIG_FILE
    return read_config(default, CONFIG_FILE) if default.is_file() else None


def property_name(variable: str) -> str:
    """The librdkafka property a DATAGEN_KAFKA_* variable sets: DATAGEN_KAFKA_SASL_PASSWORD is sasl.password."""
    suffix = variable.removeprefix(KAFKA_VARIABLE_PREFIX).lower()
    return _SEPARATOR.sub(lambda match: _SEPARATORS[match.group()], suffix)


def kafka_variables(environ: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The librdkafka properties set by DATAGEN_KAFKA_* variables, and which variable set each."""
    properties: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name in sorted(environ):
        if not name.startswith(KAFKA_VARIABLE_PREFIX) or name in NOT_PROPERTIES or not environ[name].strip():
            continue
        key = property_name(name)
        if not key.strip("._-"):
            raise UsageError(f"{name}: expected a librdkafka property after {KAFKA_VARIABLE_PREFIX}, found none")
        properties[key], sources[key] = environ[name], name
    return properties, sources


def file_key(dest: str) -> str:
    """The config file key of a flag's destination: its long name without dashes (metrics-port)."""
    return dest.replace("_", "-")


def resolve_settings(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> None:
    """Replace every flag not given by its variable, file key or default; merge librdkafka properties under -X."""
    if getattr(args, "settings_resolved", False):  # a --workers worker: its parent did it
        return
    environ = os.environ if environ is None else environ
    config = _config_file(args, environ, cwd or Path.cwd())
    table = _run_table(config, getattr(args, "file_keys", ()))
    for dest, value in vars(args).items():
        if isinstance(value, Env):
            where = f"{config.label}: run.{file_key(dest)}" if config else ""
            setattr(args, dest, value.resolve(environ, table.get(file_key(dest), _MISSING), where))
    if hasattr(args, "kafka_conf"):
        _merge_properties(args, config, environ)
    args.settings_resolved = True


def _config_file(args: argparse.Namespace, environ: Mapping[str, str], cwd: Path) -> ConfigFile | None:
    """The config file of a subcommand that has --config (run), or None."""
    if not hasattr(args, "config"):
        return None
    source = "--config"
    if isinstance(args.config, Env):
        source = args.config.name
        args.config = args.config.resolve(environ)
    return find_config(args.config, source, cwd)


def _run_table(config: ConfigFile | None, keys: tuple[str, ...]) -> dict[str, Any]:
    """The file's [run] table, every key checked to be a flag's."""
    if config is None:
        return {}
    known = sorted(file_key(dest) for dest in keys)
    for key in config.run:
        if key not in known:
            raise ConfigError(config.label, f"run.{key}", f"one of {', '.join(known)}", Plain("an unknown key"))
    return config.run


def _merge_properties(args: argparse.Namespace, config: ConfigFile | None, environ: Mapping[str, str]) -> None:
    """-X over DATAGEN_KAFKA_* over the file's [kafka]/[registry]; where each non -X property came from."""
    from_file = config.properties if config else {}
    from_variables, variable_sources = kafka_variables(environ)
    flags = dict(args.kafka_conf)
    merged = {**from_file, **from_variables, **flags}
    sources = {**(config.sources if config else {}), **variable_sources}
    args.kafka_conf = list(merged.items())
    args.kafka_sources = {key: label for key, label in sources.items() if key not in flags}
