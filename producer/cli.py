# PYTHON_ARGCOMPLETE_OK  (shell completion: `eval "$(register-python-argcomplete datagen)"`)
"""The `datagen` command line (also `python -m producer`)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from producer import __version__
from producer.errors import DatagenError, UsageError
from producer.redact import JsonLogFormatter, SafeFormatter, redact_flag, safe_url
from producer.scenario.durations import DURATION_HINT, parse_duration
from producer.scheduling.shard import Shard
from producer.settings import Env as _Env
from producer.settings import resolve_settings, switch
from producer.sinks import SINKS

if TYPE_CHECKING:
    from producer.app import RunSettings

log = logging.getLogger("producer")
LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]
_LOG_ALIASES = {"WARN": "WARNING"}
_TOPIC_PREFIX = re.compile(r"^[A-Za-z0-9._-]*$")


class _Parser(argparse.ArgumentParser):
    """argparse with datagen's error convention: one line on stderr, exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"datagen: error: {message}\n")


def _flag_type(
    expected: str, parse: Callable[[str], Any], shown: Callable[[str], str] = lambda text: text
) -> Callable[[str], Any]:
    """A converter for a flag (and its environment variable); `shown` hides secrets in the echoed input."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(f"expected {expected}, found {shown(text)!r}") from None

    convert.__name__ = expected
    return convert


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError
    return value


def _rate(text: str) -> float | str:
    if text.strip().lower() == "max":
        return "max"
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError
    return value


def _kv(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError
    return key.strip(), value


def _prefix(text: str) -> str:
    if not _TOPIC_PREFIX.match(text):
        raise ValueError
    return text


def _group(text: str) -> str:
    if not text or not text.isprintable() or any(c.isspace() for c in text):
        raise ValueError
    return text


def _log_level(text: str) -> str:
    level = text.strip().upper()
    level = _LOG_ALIASES.get(level, level)
    if level not in LOG_LEVELS:
        raise ValueError
    return level


def _servers(text: str) -> str:
    if not text.strip() or any(not part.strip() for part in text.split(",")):
        raise ValueError
    return text.strip()


def _registry_url(text: str) -> str:
    for part in text.split(","):
        url = urlsplit(part.strip())
        if url.scheme.lower() not in ("http", "https") or not url.hostname:
            raise ValueError
        url.port  # noqa: B018 - raises ValueError for a port that is not a number 0-65535
    return text.strip()


DURATION = _flag_type(DURATION_HINT, parse_duration)
POSITIVE = _flag_type("a positive integer", _positive_int)
NON_NEGATIVE = _flag_type("a non-negative integer", _non_negative_int)
PORT = _flag_type("a port number 0-65535", _port)
RATE = _flag_type("a positive number of events per second or 'max'", _rate)
KV = _flag_type("key=value", _kv, shown=redact_flag)
LOG_LEVEL = _flag_type(f"one of {', '.join(LOG_LEVELS)} (any case)", _log_level)
SERVERS = _flag_type("HOST:PORT[,HOST:PORT...]", _servers, shown=safe_url)
REGISTRY_URL = _flag_type("an http:// or https:// URL", _registry_url, shown=safe_url)


def _shard(text: str) -> Shard | int:
    """A Shard for `i/n`; the replica count N for `auto/N`, or DERIVE for `auto` (resolved when the run starts)."""
    from producer.scheduling.shard_auto import parse_auto

    count = parse_auto(text)
    return Shard.parse(text) if count is None else count


SHARD = _flag_type("i/n with 0 <= i < n (e.g. 0/3), or auto or auto/N inside a compose service", _shard)
PREFIX = _flag_type("letters, digits, '.', '_' or '-'", _prefix)
GROUP = _flag_type("a consumer group id: printable characters, no spaces", _group)
TRANSACTIONAL_ID = _flag_type("a transactional id: printable characters, no spaces", _group)


def _path(text: str) -> Path:
    if not text.strip():
        raise ValueError
    return Path(text)


def _one_of(options: Sequence[str]) -> Callable[[str], Any]:
    """A converter for a variable or file key of a flag with choices."""

    def convert(text: str) -> str:
        if text not in options:
            raise ValueError
        return text

    return _flag_type(f"one of {', '.join(options)}", convert)


def _scenario(text: str) -> str:
    if not text.strip():
        raise ValueError
    return text


PATH = _flag_type("a path", _path)
SCENARIO = _flag_type("a scenario file or the name of a bundled one", _scenario)


def resolve_environment(args: argparse.Namespace) -> None:
    """Replace every flag default that stands for a variable or a config file key by its checked value."""
    resolve_settings(args)


def _document_variables(parser: argparse.ArgumentParser) -> tuple[str, ...]:
    """Append each flag's variables to its help; the destinations that a config file may set."""
    dests = []
    for action in parser._actions:
        if isinstance(action.default, _Env):
            dests.append(action.dest)
            if action.help != argparse.SUPPRESS:
                action.help = f"{action.help or ''} (env {', '.join(action.default.names)})".lstrip()
    return tuple(dests)


def _add_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-b",
        "--bootstrap-servers",
        "--bootstrap-server",  # Kafka's tools spell it so
        metavar="HOST:PORT",
        type=SERVERS,
        default=_Env("DATAGEN_BOOTSTRAP_SERVERS", SERVERS, legacy=("KAFKA_BOOTSTRAP_SERVERS",)),
        help="Kafka bootstrap servers (default: the embedded broker)",
    )
    parser.add_argument(
        "--schema-registry-url",
        metavar="URL",
        type=REGISTRY_URL,
        default=_Env("DATAGEN_SCHEMA_REGISTRY_URL", REGISTRY_URL, legacy=("SCHEMA_REGISTRY_URL",)),
        help="Confluent-compatible schema registry",
    )
    parser.add_argument(
        "-X",
        dest="kafka_conf",
        action="append",
        type=KV,
        default=[],
        metavar="KEY=VALUE",
        help="any librdkafka property, passed through (repeatable); schema.registry.* go to the registry client. "
        "Also from DATAGEN_KAFKA_<PROPERTY> variables (DATAGEN_KAFKA_SASL_PASSWORD is sasl.password: '_' is '.', "
        "'__' is '_', '___' is '-'), which keep secrets out of ps; -X wins over them",
    )


def _add_progress(run: argparse.ArgumentParser) -> None:
    """The flags of progress while a run plays: a live view on a terminal, periodic lines otherwise."""
    run.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=_Env("DATAGEN_QUIET", switch, False),
        help="no live view on a terminal and no progress lines otherwise",
    )
    run.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=_Env("DATAGEN_LOG_FORMAT", _one_of(["text", "json"]), "text"),
        help="progress lines (off a terminal) and log lines as key=value text or as JSON objects (default text)",
    )
    run.add_argument(
        "--progress-interval",
        type=DURATION,
        default=_Env("DATAGEN_PROGRESS_INTERVAL", DURATION, 10.0),
        metavar="DURATION",
        help="off a terminal, seconds between periodic progress lines (default 10s)",
    )


def _watch(text: str) -> tuple[str, str, str]:
    detector, sep, rest = text.partition("=")
    topic, _, kind = rest.partition(":")
    if not sep or not detector or not topic or kind not in ("", "drift", "anomaly"):
        raise ValueError(text)
    return detector, topic, kind or "drift"


WATCH = _flag_type("DETECTOR=TOPIC or DETECTOR=TOPIC:anomaly", _watch)


def _add_score(sub: Any) -> None:
    """The `score` subcommand: alarms against the ground truth (docs/scoring.md)."""
    score = sub.add_parser(
        "score",
        help="score a detector's alarms against the ground truth (drift delay, false alarms, precision/recall)",
        description="Read <prefix>ground-truth (from `datagen run --labels topic`) and the alarms topic from the "
        "beginning up to where they ended when score started, score every detector, print the tables. "
        "Definitions: docs/scoring.md.",
    )
    score.add_argument(
        "--topic-prefix",
        type=PREFIX,
        default=_Env("DATAGEN_TOPIC_PREFIX", PREFIX, ""),
        help="the run's topic prefix (env DATAGEN_TOPIC_PREFIX)",
    )
    score.add_argument("--alarms-topic", metavar="TOPIC", help="where alarms are read (default: <prefix>alarms)")
    score.add_argument(
        "--watch",
        type=WATCH,
        action="append",
        default=[],
        metavar="DETECTOR=TOPIC[:KIND]",
        help="score DETECTOR's drift (or, with :anomaly, anomaly) alarms on TOPIC even if it raised none there "
        "(repeatable; default: the topics of its alarms)",
    )
    score.add_argument(
        "--until-idle", type=DURATION, metavar="DURATION", help="after the end offsets, read on until idle this long"
    )
    score.add_argument(
        "-f", "--follow", action="store_true", help="read until Ctrl+C or SIGTERM, then report (serves live metrics)"
    )
    score.add_argument("--json", type=Path, metavar="FILE", help="write the scores as JSON")
    score.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML page with a timeline")
    score.add_argument("--svg", type=Path, metavar="FILE", help="write the timeline alone as SVG")
    score.add_argument("--metrics-port", type=PORT, help="serve the scores on /metrics at this port (0: any free)")
    _add_connection(score)


RUN_DESCRIPTION = (
    "Play a scenario. Every flag may also come from its variable (shown in its help) or from the [run] table of "
    "a config file (--config FILE, else ./datagen.toml if present), keyed by the flag's name without dashes "
    "(rate = 500, no-metrics = true); a flag wins over its variable, a variable over the file, the file over "
    "the default. The file's [kafka] table holds librdkafka properties and [registry] the schema registry "
    "client's settings (-X schema.registry.*); DATAGEN_KAFKA_* variables win over them, -X over both."
)


def _add_run(sub: Any) -> None:
    """`datagen run` and its flags, each with a DATAGEN_* variable and a config file key."""
    run = sub.add_parser("run", help="play a scenario", description=RUN_DESCRIPTION)
    run.add_argument(
        "scenario",
        nargs="?",
        type=SCENARIO,
        default=_Env("DATAGEN_SCENARIO", SCENARIO),
        help="a scenario file, or the name of a bundled one (steady_state)",
    )
    run.add_argument("--config", metavar="FILE", type=PATH, default=_Env("DATAGEN_CONFIG", PATH), help="a TOML file")
    run.add_argument(
        "--duration",
        type=DURATION,
        default=_Env("DATAGEN_DURATION", DURATION),
        help="stop after this wall time (30s, 5m, 1h)",
    )
    run.add_argument("--events", type=POSITIVE, default=_Env("DATAGEN_EVENTS", POSITIVE), help="stop after N events")
    run.add_argument(
        "--rate",
        type=RATE,
        default=_Env("DATAGEN_RATE", RATE),
        help="events per second, or 'max' (default: the scenario's profile)",
    )
    run.add_argument(
        "--seed", type=NON_NEGATIVE, default=_Env("DATAGEN_SEED", NON_NEGATIVE), help="override the scenario's seed"
    )
    run.add_argument(
        "--sink",
        choices=SINKS,
        default=_Env("DATAGEN_SINK", _one_of(SINKS), "kafka"),
        help="kafka, file (see --out) or stdout (default kafka)",
    )
    run.add_argument(
        "--out",
        type=PATH,
        default=_Env("DATAGEN_OUT", PATH, Path("out")),
        help="folder of the file sink (default: out)",
    )
    formats = ["avro", "jsonl"]
    run.add_argument(
        "--format",
        choices=formats,
        default=_Env("DATAGEN_FORMAT", _one_of(formats)),
        help="value format (default: avro; jsonl on stdout)",
    )
    run.add_argument(
        "--metrics-port",
        type=PORT,
        default=_Env("DATAGEN_METRICS_PORT", PORT, 9400),
        help="port of /metrics, /healthz, /readyz (0 = any free port; default 9400)",
    )
    run.add_argument(
        "--no-metrics",
        action="store_true",
        default=_Env("DATAGEN_NO_METRICS", switch, False),
        help="do not serve metrics (as a variable: true or false)",
    )
    run.add_argument(
        "--topic-prefix", type=PREFIX, default=_Env("DATAGEN_TOPIC_PREFIX", PREFIX, ""), help="prefix of every topic"
    )
    labels = ["inline", "topic", "off"]
    run.add_argument(
        "--labels",
        choices=labels,
        default=_Env("DATAGEN_LABELS", _one_of(labels), "inline"),
        help="ground truth in the event, on <prefix>ground-truth, or dropped",
    )
    run.add_argument(
        "--partitions",
        type=POSITIVE,
        default=_Env("DATAGEN_PARTITIONS", POSITIVE, 6),
        help="partitions of topics datagen creates (default 6)",
    )
    run.add_argument(
        "--transactional-id",
        type=TRANSACTIONAL_ID,
        metavar="ID",
        default=_Env("DATAGEN_TRANSACTIONAL_ID", TRANSACTIONAL_ID),
        help="send each batch as one Kafka transaction under this id (read_committed consumers see whole batches; "
        "with --shard or --workers, '-<i>of<n>' is appended per shard)",
    )
    run.add_argument(
        "--shard",
        type=SHARD,
        default=_Env("DATAGEN_SHARD", SHARD, Shard()),
        help="i/n: this instance's slice of the entity key space (0 <= i < n) and 1/n of the rate",
    )
    run.add_argument(
        "--linger",
        type=DURATION,
        default=_Env("DATAGEN_LINGER", DURATION, 0.0),
        help="after the run ends, keep serving /metrics this long (for a last scrape)",
    )
    run.add_argument(
        "--workers",
        type=POSITIVE,
        default=_Env("DATAGEN_WORKERS", POSITIVE, 1),
        help="N local processes, each a shard of this instance's slice, with one /metrics and one summary",
    )
    _add_progress(run)
    run.add_argument("--report-file", type=Path, help=argparse.SUPPRESS)  # set by --workers for its workers
    _add_connection(run)
    # the file may set every flag that has a variable but --config; --log-level is the main parser's
    keys = tuple(dest for dest in _document_variables(run) if dest != "config")
    run.set_defaults(file_keys=(*keys, "log_level"))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="datagen", description="Play scenario files into Kafka as realistic, labelled Avro events.")
    parser.add_argument("--version", action="version", version=f"datagen {__version__}")
    level_help = "log verbosity on stderr, any case (env DATAGEN_LOG_LEVEL; default INFO)"
    parser.add_argument(
        "--log-level",
        type=LOG_LEVEL,
        default=_Env("DATAGEN_LOG_LEVEL", LOG_LEVEL, "INFO"),
        metavar="{DEBUG,INFO,WARNING,ERROR}",
        help=level_help,
    )
    common = _Parser(add_help=False)
    common.add_argument(
        "--log-level", type=LOG_LEVEL, default=argparse.SUPPRESS, metavar="{DEBUG,INFO,WARNING,ERROR}", help=level_help
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    real_add = sub.add_parser
    sub.add_parser = lambda *a, **k: real_add(*a, parents=[common], **k)  # type: ignore[method-assign]

    _add_run(sub)

    validate = sub.add_parser("validate", help="check scenario files without emitting anything")
    validate.add_argument("scenarios", nargs="+")

    sub.add_parser("list", help="domains, streams, event types and bundled scenarios")

    schema = sub.add_parser("schema", help="print a stream's Avro value schema as registered (envelope composed in)")
    schema.add_argument("stream", help="a stream name (e.g. fintech.transactions), ground-truth or labels")

    tail = sub.add_parser(
        "tail",
        help="print a topic's last events, decoded, as JSON lines",
        description="Print a topic's last N events, decoded, as JSON lines; with --follow, then every new one "
        "until Ctrl+C or SIGTERM. On Kafka, tail is an ordinary consumer-group member; on the embedded broker "
        "it reads without a group.",
    )
    tail.add_argument("topic")
    tail.add_argument(
        "-n",
        type=NON_NEGATIVE,
        default=10,
        help="how many events (default 10); with --follow, how many of each partition first (0: only new ones)",
    )
    tail.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new events until Ctrl+C or SIGTERM (exit 0)"
    )
    tail.add_argument(
        "--group",
        type=GROUP,
        metavar="NAME",
        help="consumer group to join (default: a private datagen-tail-<random>); with --follow, offsets of "
        "printed events are committed to it and a restart resumes there; members of one group split the partitions",
    )
    tail.add_argument("--timeout", type=DURATION, default=10.0, help="give up reading after this long (not --follow)")
    _add_connection(tail)
    _document_variables(tail)

    _add_score(sub)

    registry = sub.add_parser("registry", help="run the local schema registry standalone")
    registry.add_argument("--host", default="127.0.0.1")
    registry.add_argument("--port", type=PORT, default=8081)
    registry.add_argument("--data-dir", type=Path, default=Path(".datagen/registry"))

    embedded = sub.add_parser("embedded", help="the embedded broker and registry that runs without a broker start")
    embedded.add_argument(
        "action",
        choices=["start", "status", "stop", "serve"],
        help="start/status/stop the detached stack; serve runs it in the foreground "
        "(status exits 0 while it runs, 3 when it does not)",
    )
    return parser


def _resolve_shard(value: Shard | int) -> Shard:
    """The run's shard: given, or detected from the compose replica name for auto and auto/N."""
    if isinstance(value, Shard):
        return value
    from producer.scheduling.shard_auto import detect_shard

    return detect_shard(value)


def _check_state_dir() -> None:
    """$DATAGEN_STATE_DIR, where the embedded stack is about to keep its state: a folder datagen can write."""
    text = os.environ.get("DATAGEN_STATE_DIR", "")
    if not text:
        return
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)  # the stack creates it next anyway
        usable = os.access(path, os.W_OK | os.X_OK)
    except OSError:
        usable = False
    if not usable:
        raise UsageError(f"DATAGEN_STATE_DIR: expected a folder datagen can create or write, found {text!r}")


def _check_schemas_dir() -> None:
    """$DATAGEN_SCHEMAS_DIR, about to be read for Avro: a folder holding datagen's schemas."""
    from producer.encoding.schemas import GROUND_TRUTH_SCHEMA

    text = os.environ.get("DATAGEN_SCHEMAS_DIR", "")
    if text and not (Path(text) / GROUND_TRUTH_SCHEMA).is_file():
        raise UsageError(
            f"DATAGEN_SCHEMAS_DIR: expected a folder of Avro schemas (with {GROUND_TRUTH_SCHEMA}), found {text!r}"
        )


def run_settings(args: argparse.Namespace) -> RunSettings:
    """What `datagen run` was told, from its resolved flags (`resolve_environment` first)."""
    from producer.app import RunSettings

    if args.scenario is None:
        raise UsageError("run: expected a SCENARIO (the argument, DATAGEN_SCENARIO or scenario in the config file)")
    return RunSettings(
        scenario=args.scenario,
        duration=args.duration,
        events=args.events,
        rate=args.rate,
        seed=args.seed,
        sink=args.sink,
        out=args.out,
        format=args.format,
        bootstrap_servers=args.bootstrap_servers,
        schema_registry_url=args.schema_registry_url,
        metrics_port=None if args.no_metrics else args.metrics_port,
        topic_prefix=args.topic_prefix,
        labels=args.labels,
        partitions=args.partitions,
        linger=args.linger,
        shard=_resolve_shard(args.shard),
        kafka_conf=dict(args.kafka_conf),
        kafka_sources=args.kafka_sources,
        transactional_id=args.transactional_id,
        report_file=args.report_file,
        quiet=args.quiet,
        log_format=args.log_format,
        progress_interval=args.progress_interval,
    )


def _run(args: argparse.Namespace) -> int:
    from producer.app import Run, output_format

    settings = run_settings(args)
    if output_format(args.sink, args.format) == "avro":
        _check_schemas_dir()
    if args.sink == "kafka" and args.bootstrap_servers is None:
        _check_state_dir()
    if args.workers > 1:
        from producer.workers import run_workers

        return run_workers(args, settings)
    return Run(settings).execute()


def _validate(args: argparse.Namespace) -> int:
    from producer.scenario.loader import load_scenario

    failed = 0
    for name in args.scenarios:  # every file is checked and reported, bad ones do not hide later ones
        try:
            loaded = load_scenario(name)
        except DatagenError as exc:
            print(f"datagen: error: {exc}", file=sys.stderr)
            failed = max(failed, exc.exit_code)
            continue
        scenario = loaded.scenario
        counts = f"streams={len(scenario.streams)} phases={len(scenario.phases)}"
        print(f"{loaded.source}: ok (scenario={scenario.name} {counts})")
    return failed


def _list(args: argparse.Namespace) -> int:
    from producer.catalog import render_catalog

    print(render_catalog())
    return 0


def _schema(args: argparse.Namespace) -> int:
    from producer.domains import SPECS
    from producer.encoding.delayed_labels import LABELS
    from producer.encoding.pipeline import GROUND_TRUTH
    from producer.encoding.schemas import GROUND_TRUTH_SCHEMA, LABELS_SCHEMA, schema_text

    files = {name: spec.schema for name, spec in SPECS.items()} | {GROUND_TRUTH: GROUND_TRUTH_SCHEMA}
    files[LABELS] = LABELS_SCHEMA  # the delayed labels topic (scenario delayed_labels)
    if args.stream not in files:
        raise UsageError(f"schema: unknown stream {args.stream[:200]!r}; expected one of: {', '.join(sorted(files))}")
    print(schema_text(files[args.stream]))
    return 0


def _tail(args: argparse.Namespace) -> int:
    from producer.tail import tail

    if args.n == 0 and not args.follow:
        raise UsageError("-n: expected a positive integer (0, only new events, needs --follow), found 0")
    return tail(
        args.topic,
        args.n,
        args.bootstrap_servers,
        args.schema_registry_url,
        args.timeout,
        dict(args.kafka_conf),
        group=args.group,
        follow=args.follow,
        conf_sources=args.kafka_sources,
    )


def _score(args: argparse.Namespace) -> int:
    from producer.client_conf import check_client_conf, kafka_part, registry_part
    from producer.encoding.pipeline import GROUND_TRUTH
    from producer.scoring.alarms import ALARMS
    from producer.scoring.run import ScoreSettings, run_score
    from producer.tail import connection

    conf = dict(args.kafka_conf)
    check_client_conf(conf, args.schema_registry_url, consumer=True)
    link = connection(args.bootstrap_servers, args.schema_registry_url)
    settings = ScoreSettings(
        bootstrap=link.bootstrap,
        registry_url=link.registry_url,
        ground_truth_topic=args.topic_prefix + GROUND_TRUTH,
        alarms_topic=args.alarms_topic or args.topic_prefix + ALARMS,
        watch=set(args.watch),
        until_idle=args.until_idle,
        follow=args.follow,
        json_path=args.json,
        html_path=args.html,
        svg_path=args.svg,
        metrics_port=args.metrics_port,
        kafka_conf=kafka_part(conf),
        registry_conf=registry_part(conf),
    )
    return run_score(settings)


def _registry(args: argparse.Namespace) -> int:
    from producer.embedded.registry import serve_forever

    serve_forever(args.host, args.port, args.data_dir)
    return 0


# `embedded status` when no stack runs: 3, as an LSB init script's status says "not running", so
# scripts can tell it from an error (1) or bad input (2)
EMBEDDED_NOT_RUNNING = 3


def _embedded(args: argparse.Namespace) -> int:
    from producer.embedded import stack

    if args.action in ("serve", "start"):
        _check_state_dir()
    if args.action == "serve":
        stack.serve()
    elif args.action == "start":
        started = stack.ensure()
        print(f"embedded broker: {started.bootstrap_servers}  schema registry: {started.registry_url}")
    elif args.action == "status":
        info = stack.status()
        if info is None:
            print("embedded stack: not running")
            return EMBEDDED_NOT_RUNNING
        print(
            f"embedded broker: {info.bootstrap_servers}  schema registry: {info.registry_url}  "
            f"(pids {info.broker_pid}, {info.registry_pid})"
        )
    else:
        print("embedded stack: stopped" if stack.stop() else "embedded stack: was not running")
    return 0


COMMANDS = {
    "run": _run,
    "validate": _validate,
    "list": _list,
    "schema": _schema,
    "tail": _tail,
    "score": _score,
    "registry": _registry,
    "embedded": _embedded,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, and map DatagenError to its exit code with one message."""
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: argcomplete prints them and exits
        import argcomplete

        argcomplete.autocomplete(parser)
    return run_parsed(parser.parse_args(argv))


def run_parsed(args: argparse.Namespace) -> int:
    """Dispatch parsed flags (also a `--workers` worker's, handed over by its parent); DatagenError to exit code."""
    try:
        resolve_environment(args)  # before anything starts: a bad variable is bad input, exit 2
        handler = logging.StreamHandler(sys.stderr)
        # a safety net: datagen's own lines use safe_url already, libraries' lines may carry URL credentials
        if getattr(args, "log_format", "text") == "json":  # one JSON object a line, like the progress lines
            handler.setFormatter(JsonLogFormatter())
        else:
            handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logging.basicConfig(level=args.log_level, handlers=[handler])
        for noisy in ("httpx", "httpx2", "httpcore", "httpcore2"):
            logging.getLogger(noisy).setLevel(logging.WARNING)  # one line per registry request is noise
        return COMMANDS[args.command](args)
    except DatagenError as exc:
        print(f"datagen: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("datagen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
