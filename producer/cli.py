"""The `datagen` command line (also `python -m producer`)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from producer import __version__
from producer.errors import DatagenError
from producer.scenario.durations import DURATION_HINT, parse_duration
from producer.scheduling.shard import Shard
from producer.sinks import SINKS

log = logging.getLogger("producer")
LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]
_TOPIC_PREFIX = re.compile(r"^[A-Za-z0-9._-]*$")


class _Parser(argparse.ArgumentParser):
    """argparse with datagen's error convention: one line on stderr, exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"datagen: error: {message}\n")


def _flag_type(expected: str, parse):  # noqa: ANN001, ANN202 - small factory
    def convert(text: str):  # noqa: ANN202
        try:
            return parse(text)
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(f"expected {expected}, found {text!r}") from None

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


DURATION = _flag_type(DURATION_HINT, parse_duration)
POSITIVE = _flag_type("a positive integer", _positive_int)
NON_NEGATIVE = _flag_type("a non-negative integer", _non_negative_int)
PORT = _flag_type("a port number 0-65535", _port)
RATE = _flag_type("a positive number of events per second or 'max'", _rate)
KV = _flag_type("key=value", _kv)
def _shard(text: str) -> Shard | int:
    """A Shard for `i/n`; the replica count N for `auto/N` (resolved when the run starts)."""
    from producer.scheduling.shard_auto import parse_auto

    count = parse_auto(text)
    return Shard.parse(text) if count is None else count


SHARD = _flag_type("i/n with 0 <= i < n (e.g. 0/3), or auto/N inside a compose service", _shard)
PREFIX = _flag_type("letters, digits, '.', '_' or '-'", _prefix)


def _add_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-servers", metavar="HOST:PORT", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
                        help="Kafka bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS; default: the embedded broker)")
    parser.add_argument("--schema-registry-url", metavar="URL", default=os.environ.get("SCHEMA_REGISTRY_URL") or None,
                        help="Confluent-compatible schema registry (env SCHEMA_REGISTRY_URL)")
    parser.add_argument("-X", dest="kafka_conf", action="append", type=KV, default=[], metavar="KEY=VALUE",
                        help="any librdkafka property, passed through (repeatable); schema.registry.* go to the registry client")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="datagen", description="Play scenario files into Kafka as realistic, labelled Avro events.")
    parser.add_argument("--version", action="version", version=f"datagen {__version__}")
    parser.add_argument("--log-level", default=os.environ.get("DATAGEN_LOG_LEVEL", "INFO"),
                        choices=LOG_LEVELS, help="log verbosity (stderr)")
    common = _Parser(add_help=False)
    common.add_argument("--log-level", default=argparse.SUPPRESS, choices=LOG_LEVELS, help="log verbosity (stderr)")
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
    run.add_argument("--metrics-port", type=PORT, default=int(os.environ.get("DATAGEN_METRICS_PORT", "9400")),
                     help="port of /metrics, /healthz, /readyz (0 = any free port; default 9400)")
    run.add_argument("--no-metrics", action="store_true", help="do not serve metrics")
    run.add_argument("--topic-prefix", type=PREFIX, default=os.environ.get("DATAGEN_TOPIC_PREFIX", ""))
    run.add_argument("--labels", choices=["inline", "topic", "off"], default="inline",
                     help="ground truth in the event, on <prefix>ground-truth, or dropped")
    run.add_argument("--partitions", type=POSITIVE, default=6, help="partitions of topics datagen creates")
    run.add_argument("--shard", type=SHARD, default=os.environ.get("DATAGEN_SHARD") or "0/1",
                     help="i/n: this instance's slice of the entity key space (0 <= i < n) and 1/n of the rate")
    run.add_argument("--linger", type=DURATION, default=0.0,
                     help="after the run ends, keep serving /metrics this long (for a last scrape)")
    _add_connection(run)

    validate = sub.add_parser("validate", help="check scenario files without emitting anything")
    validate.add_argument("scenarios", nargs="+")

    sub.add_parser("list", help="domains, streams, event types and bundled scenarios")

    tail = sub.add_parser("tail", help="print a topic's last events, decoded, as JSON lines")
    tail.add_argument("topic")
    tail.add_argument("-n", type=POSITIVE, default=10, help="how many events (default 10)")
    tail.add_argument("--timeout", type=DURATION, default=10.0, help="give up reading after this long")
    _add_connection(tail)

    registry = sub.add_parser("registry", help="run the local schema registry standalone")
    registry.add_argument("--host", default="127.0.0.1")
    registry.add_argument("--port", type=PORT, default=8081)
    registry.add_argument("--data-dir", type=Path, default=Path(".datagen/registry"))

    embedded = sub.add_parser("embedded", help="the embedded broker and registry that runs without a broker start")
    embedded.add_argument("action", choices=["start", "status", "stop", "serve"],
                          help="start/status/stop the detached stack; serve runs it in the foreground")
    return parser


def _resolve_shard(value: Shard | int | str) -> Shard:
    """The run's shard: given, or detected from the compose replica name for auto/N."""
    if isinstance(value, str):  # the default (from DATAGEN_SHARD) is not passed through `type`
        value = _shard(value)
    if isinstance(value, Shard):
        return value
    from producer.scheduling.shard_auto import detect_shard

    return detect_shard(value)


def _run(args: argparse.Namespace) -> int:
    from producer.app import Run, RunSettings

    settings = RunSettings(
        scenario=args.scenario, duration=args.duration, events=args.events, rate=args.rate, seed=args.seed,
        sink=args.sink, out=args.out, format=args.format, bootstrap_servers=args.bootstrap_servers,
        schema_registry_url=args.schema_registry_url, metrics_port=None if args.no_metrics else args.metrics_port,
        topic_prefix=args.topic_prefix, labels=args.labels, partitions=args.partitions, linger=args.linger, shard=_resolve_shard(args.shard), kafka_conf=dict(args.kafka_conf),
    )
    return Run(settings).execute()


def _validate(args: argparse.Namespace) -> int:
    from producer.scenario.loader import load_scenario

    for name in args.scenarios:
        loaded = load_scenario(name)
        scenario = loaded.scenario
        print(f"{loaded.source}: ok (scenario={scenario.name} streams={len(scenario.streams)} phases={len(scenario.phases)})")
    return 0


def _list(args: argparse.Namespace) -> int:
    from producer.catalog import render_catalog

    print(render_catalog())
    return 0


def _tail(args: argparse.Namespace) -> int:
    from producer.tail import tail

    return tail(args.topic, args.n, args.bootstrap_servers, args.schema_registry_url, args.timeout, dict(args.kafka_conf))


def _registry(args: argparse.Namespace) -> int:
    from producer.embedded.registry import serve_forever

    serve_forever(args.host, args.port, args.data_dir)
    return 0


def _embedded(args: argparse.Namespace) -> int:
    from producer.embedded import stack

    if args.action == "serve":
        stack.serve()
    elif args.action == "start":
        info = stack.ensure()
        print(f"embedded broker: {info.bootstrap_servers}  schema registry: {info.registry_url}")
    elif args.action == "status":
        info = stack.status()
        print("embedded stack: not running" if info is None else
              f"embedded broker: {info.bootstrap_servers}  schema registry: {info.registry_url}  (pids {info.broker_pid}, {info.registry_pid})")
    else:
        print("embedded stack: stopped" if stack.stop() else "embedded stack: was not running")
    return 0


COMMANDS = {"run": _run, "validate": _validate, "list": _list, "tail": _tail, "registry": _registry, "embedded": _embedded}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, and map DatagenError to its exit code with one message."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # one line per registry request is noise
    try:
        return COMMANDS[args.command](args)
    except DatagenError as exc:
        print(f"datagen: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("datagen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
