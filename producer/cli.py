"""The `datagen` command line (also `python -m producer`)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from producer import __version__
from producer.errors import DatagenError, UsageError
from producer.redact import SafeFormatter, redact_flag, safe_url
from producer.scenario.durations import DURATION_HINT, parse_duration
from producer.scheduling.shard import Shard
from producer.sinks import SINKS

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


@dataclass(frozen=True)
class _Env:
    """A flag's default: environment variable `name`, read with the flag's converter, else `fallback`.

    Resolved after parsing and only if the subcommand has the flag and it was not given, so a bad
    DATAGEN_METRICS_PORT stops `datagen run` but not `datagen list`, and a flag overrides its variable.
    """

    name: str
    convert: Callable[[str], Any]
    fallback: Any = None

    def resolve(self) -> Any:
        """The variable's value converted (UsageError naming the variable if bad), or the fallback."""
        text = os.environ.get(self.name, "")
        if not text.strip():  # unset, or set empty as compose files do to mean "not set"
            return self.fallback
        try:
            return self.convert(text)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"{self.name}: {exc}") from exc


def resolve_environment(args: argparse.Namespace) -> None:
    """Replace every flag default that stands for an environment variable by its checked value."""
    for dest, value in vars(args).items():
        if isinstance(value, _Env):
            setattr(args, dest, value.resolve())


def _add_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        type=SERVERS,
        default=_Env("KAFKA_BOOTSTRAP_SERVERS", SERVERS),
        help="Kafka bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS; default: the embedded broker)",
    )
    parser.add_argument(
        "--schema-registry-url",
        metavar="URL",
        type=REGISTRY_URL,
        default=_Env("SCHEMA_REGISTRY_URL", REGISTRY_URL),
        help="Confluent-compatible schema registry (env SCHEMA_REGISTRY_URL)",
    )
    parser.add_argument(
        "-X",
        dest="kafka_conf",
        action="append",
        type=KV,
        default=[],
        metavar="KEY=VALUE",
        help="any librdkafka property, passed through (repeatable); schema.registry.* go to the registry client",
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

    run = sub.add_parser("run", help="play a scenario")
    run.add_argument("scenario", help="a scenario file, or the name of a bundled one (steady_state)")
    run.add_argument("--duration", type=DURATION, help="stop after this wall time (30s, 5m, 1h)")
    run.add_argument("--events", type=POSITIVE, help="stop after N events")
    run.add_argument("--rate", type=RATE, help="events per second, or 'max' (default: the scenario's profile)")
    run.add_argument("--seed", type=NON_NEGATIVE, help="override the scenario's seed")
    run.add_argument("--sink", choices=SINKS, default="kafka")
    run.add_argument("--out", type=Path, default=Path("out"), help="folder of the file sink (default: out)")
    run.add_argument("--format", choices=["avro", "jsonl"], help="value format (default: avro; jsonl on stdout)")
    run.add_argument(
        "--metrics-port",
        type=PORT,
        default=_Env("DATAGEN_METRICS_PORT", PORT, 9400),
        help="port of /metrics, /healthz, /readyz (0 = any free port; default 9400; env DATAGEN_METRICS_PORT)",
    )
    run.add_argument("--no-metrics", action="store_true", help="do not serve metrics")
    run.add_argument(
        "--topic-prefix",
        type=PREFIX,
        default=_Env("DATAGEN_TOPIC_PREFIX", PREFIX, ""),
        help="prefix of every topic name (env DATAGEN_TOPIC_PREFIX)",
    )
    run.add_argument(
        "--labels",
        choices=["inline", "topic", "off"],
        default="inline",
        help="ground truth in the event, on <prefix>ground-truth, or dropped",
    )
    run.add_argument("--partitions", type=POSITIVE, default=6, help="partitions of topics datagen creates")
    run.add_argument(
        "--transactional-id",
        type=TRANSACTIONAL_ID,
        metavar="ID",
        help="send each batch as one Kafka transaction under this id (read_committed consumers see whole batches; "
        "with --shard or --workers, '-<i>of<n>' is appended per shard)",
    )
    run.add_argument(
        "--shard",
        type=SHARD,
        default=_Env("DATAGEN_SHARD", SHARD, Shard()),
        help="i/n: this instance's slice of the entity key space (0 <= i < n) and 1/n of the rate (env DATAGEN_SHARD)",
    )
    run.add_argument(
        "--linger",
        type=DURATION,
        default=0.0,
        help="after the run ends, keep serving /metrics this long (for a last scrape)",
    )
    run.add_argument(
        "--workers",
        type=POSITIVE,
        default=1,
        help="N local processes, each a shard of this instance's slice, with one /metrics and one summary",
    )
    run.add_argument("--report-file", type=Path, help=argparse.SUPPRESS)  # set by --workers for its workers
    _add_connection(run)

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


def _run(args: argparse.Namespace) -> int:
    from producer.app import Run, RunSettings, output_format

    if output_format(args.sink, args.format) == "avro":
        _check_schemas_dir()
    if args.sink == "kafka" and args.bootstrap_servers is None:
        _check_state_dir()
    settings = RunSettings(
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
        transactional_id=args.transactional_id,
        report_file=args.report_file,
    )
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
    return run_parsed(build_parser().parse_args(argv))


def run_parsed(args: argparse.Namespace) -> int:
    """Dispatch parsed flags (also a `--workers` worker's, handed over by its parent); DatagenError to exit code."""
    try:
        resolve_environment(args)  # before anything starts: a bad variable is bad input, exit 2
        handler = logging.StreamHandler(sys.stderr)
        # a safety net: datagen's own lines use safe_url already, libraries' lines may carry URL credentials
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
