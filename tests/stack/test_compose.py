"""docker-compose.yml and Dockerfile.datagen: validated by a real compose implementation, and their
structure (services, health checks, start order, KRaft, sharding, scenario choice, mounts) checked."""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from producer.cli import build_parser
from producer.errors import UsageError
from scripts import real_kafka
from tests.stack import (
    COMPOSE_FILE,
    DASHBOARD,
    DOCKERFILE,
    GRAFANA_DIR,
    PROMETHEUS_CONFIG,
    ROOT,
    require_tool,
)

SERVICES = {"kafka", "schema-registry", "data-generator", "prometheus", "grafana"}
COMPOSE_VARIABLES = ("SCENARIO", "REPLICAS", "DATAGEN_LOG_LEVEL", "DATAGEN_TOPIC_PREFIX", "GRAFANA_ADMIN_PASSWORD")


def compose_config(**variables: str) -> dict:
    """`docker-compose -f docker-compose.yml config` with these variables: the resolved model."""
    binary = require_tool("docker-compose")
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARIABLES and not k.startswith("COMPOSE_")}
    env.update(variables)
    result = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_file_validates_with_docker_compose():
    config = compose_config()
    assert set(config["services"]) == SERVICES
    generator = config["services"]["data-generator"]
    assert generator["command"] == ["run", "scenarios/steady_state.yaml"]
    # the replica count is counted, not taken from REPLICAS: `--scale` alone never duplicates events
    assert generator["environment"]["DATAGEN_SHARD"] == "auto"


def test_scenario_and_replicas_come_from_the_environment():
    generator = compose_config(SCENARIO="drift_ramp", REPLICAS="3")["services"]["data-generator"]
    assert generator["command"] == ["run", "scenarios/drift_ramp.yaml"]
    assert generator["environment"]["DATAGEN_SHARD"] == "auto"
    assert int(generator["deploy"]["replicas"]) == 3


def test_services_have_health_checks_and_start_in_order(raw):
    services = raw["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name} has no health check"
    conditions = {
        name: {dep: spec["condition"] for dep, spec in service.get("depends_on", {}).items()}
        for name, service in services.items()
    }
    assert conditions["schema-registry"] == {"kafka": "service_healthy"}
    generator = conditions["data-generator"]
    assert generator["kafka"] == generator["schema-registry"] == "service_healthy"
    # `up data-generator` alone brings up the observability side too
    assert {"prometheus", "grafana"} <= set(generator)
    assert conditions["grafana"] == {"prometheus": "service_healthy"}
    assert "/healthz" in " ".join(services["data-generator"]["healthcheck"]["test"])


def test_kafka_runs_in_kraft_mode_without_zookeeper(raw):
    kafka = raw["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert not any("ZOOKEEPER" in key for key in env)
    assert not any("zookeeper" in name for name in raw["services"])
    registry = raw["services"]["schema-registry"]
    assert registry["image"].startswith("confluentinc/cp-schema-registry:")
    assert registry["environment"]["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"].endswith("kafka:9092")


def test_data_generator_is_built_from_dockerfile_and_scales(raw):
    generator = raw["services"]["data-generator"]
    assert generator["build"] == {"context": ".", "dockerfile": "Dockerfile.datagen"}
    assert (ROOT / generator["build"]["dockerfile"]).is_file()
    # --scale needs no fixed container name and no host port
    assert "container_name" not in generator and "ports" not in generator
    assert generator["environment"]["DATAGEN_SHARD"] == "auto"
    assert "${SCENARIO:-steady_state}" in " ".join(generator["command"])
    assert generator["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert generator["environment"]["SCHEMA_REGISTRY_URL"] == "http://schema-registry:8081"


def _mounts(service: dict) -> dict[str, str]:
    """container path -> host path of a service's bind mounts."""
    out = {}
    for volume in service.get("volumes", []):
        host, container = volume.split(":")[:2]
        if host.startswith("."):
            assert (ROOT / host).exists(), f"mounted {host} does not exist"
            out[container] = host
    return out


# the lowest release line each image must be on (the issue: bring the stack to current releases)
MIN_IMAGE_VERSIONS = {
    "apache/kafka": (4, 1),
    "confluentinc/cp-schema-registry": (8, 0),
    "prom/prometheus": (3, 0),
    "grafana/grafana": (12, 0),
}


def test_images_are_pinned_to_current_releases(raw):
    images = {
        service["image"].split(":")[0]: service["image"].split(":")[1]
        for service in raw["services"].values()
        if "build" not in service
    }
    assert set(images) == set(MIN_IMAGE_VERSIONS)
    for name, tag in images.items():
        match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", tag)
        assert match, f"{name}:{tag} is not pinned to a release (major.minor.patch)"
        assert (int(match.group(1)), int(match.group(2))) >= MIN_IMAGE_VERSIONS[name], f"{name}:{tag} is too old"


def test_compose_kafka_is_the_release_line_the_tests_run(raw):
    # the real-Kafka test tier runs the jars of real_kafka.KAFKA_VERSION: compose must not drift from them
    tag = raw["services"]["kafka"]["image"].split(":")[1]
    assert tag.split(".")[:2] == real_kafka.KAFKA_VERSION.split(".")[:2], (tag, real_kafka.KAFKA_VERSION)


def test_nothing_is_pinned_to_one_platform(raw):
    # every dependency ships x86_64 and aarch64 wheels: an arm64 host builds and runs natively
    for name, service in raw["services"].items():
        assert "platform" not in service, f"{name} is pinned to {service['platform']}"
    assert not any("--platform" in args for args in dockerfile_instructions("FROM"))
    assert "platform" not in compose_config()["services"]["data-generator"]


def test_mounts_and_provisioning_paths_line_up(raw):
    services = raw["services"]
    workdir = dockerfile_instructions("WORKDIR")[-1]
    assert _mounts(services["data-generator"]) == {f"{workdir}/scenarios": "./scenarios"}
    assert _mounts(services["prometheus"])["/etc/prometheus"] == "./deploy/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    grafana = _mounts(services["grafana"])
    provider = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "datagen.yml").read_text())["providers"][0]
    assert grafana[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert (ROOT / grafana[provider["options"]["path"]] / DASHBOARD.name).is_file()
    assert grafana["/etc/grafana/provisioning/datasources"] == "./deploy/grafana/provisioning/datasources"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"
    # Prometheus finds every replica by the service name, on the port datagen serves
    job = next(j for j in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"] if j["job_name"] == "datagen")
    sd = job["dns_sd_configs"][0]
    assert sd["names"] == ["data-generator"] and sd["type"] == "A"
    assert str(sd["port"]) == services["data-generator"]["environment"]["DATAGEN_METRICS_PORT"]
    datasources = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
    datasource = yaml.safe_load(datasources.read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"


# --- environment variables: compose sets only what the CLI reads --------------------------------


def _environ_names(source: str) -> set[str]:
    """Names read through os.environ.get(...), os.environ[...] or os.getenv(...) in Python source."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func in {"os.environ.get", "os.getenv", "environ.get"}:
                names.add(node.args[0].value)
        # _Env("NAME", ..., legacy=("OLD_NAME",)): a flag default that producer/cli.py reads from the environment
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "_Env":
            arguments = [node.args[0], *(k.value for k in node.keywords if k.arg == "legacy")]
            names |= {c.value for a in arguments for c in ast.walk(a) if isinstance(c, ast.Constant)}
        if (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) in {"os.environ", "environ"}
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(node.slice.value)
    return names


def test_compose_environment_is_what_the_cli_reads(raw, monkeypatch):
    import producer.cli

    cli_names = _environ_names(Path(producer.cli.__file__).read_text())
    environment = raw["services"]["data-generator"]["environment"]
    unknown = sorted(set(environment) - cli_names)
    assert not unknown, f"data-generator sets {unknown}, which producer/cli.py never reads ({sorted(cli_names)})"
    # and the CLI accepts the values compose passes (defaults of the compose variables applied)
    for name in cli_names:
        monkeypatch.delenv(name, raising=False)
    resolved = {name: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value)) for name, value in environment.items()}
    for name, value in resolved.items():
        monkeypatch.setenv(name, value)
    try:
        args = build_parser().parse_args(["run", "scenarios/steady_state.yaml"])
        # flag defaults that stand for environment variables are read after parsing, where the CLI has that step
        getattr(producer.cli, "resolve_environment", lambda args: None)(args)
    except (SystemExit, UsageError) as exc:
        pytest.fail(
            f"datagen run rejects the compose environment {resolved} ({exc}); "
            "DATAGEN_SHARD=auto needs producer.scheduling.shard_auto wired into the CLI"
        )
    assert args.bootstrap_servers == "kafka:9092"
    assert args.schema_registry_url == "http://schema-registry:8081"
    assert args.metrics_port == int(resolved["DATAGEN_METRICS_PORT"])
    assert args.log_level == resolved["DATAGEN_LOG_LEVEL"]
    assert args.topic_prefix == resolved["DATAGEN_TOPIC_PREFIX"]


def test_default_scenario_of_compose_and_image_is_valid():
    from producer.cli import main

    assert main(["validate", str(ROOT / "scenarios" / "steady_state.yaml")]) == 0


# --- Dockerfile.datagen ----------------------------------------------------------------------------


def dockerfile_lines() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of Dockerfile.datagen, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            joined.append(current)
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in joined]


def dockerfile_instructions(kind: str, stage: int | None = None) -> list[str]:
    """Arguments of every `kind` instruction (of one stage: 0, 1, ... or -1 for the last)."""
    stages: list[list[tuple[str, str]]] = []
    for instruction, args in dockerfile_lines():
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, args))
    chosen = stages if stage is None else [stages[stage]]
    return [args for s in chosen for instruction, args in s if instruction == kind]


def test_dockerfile_is_multi_stage_slim_and_runs_as_non_root():
    lines = dockerfile_lines()
    froms = dockerfile_instructions("FROM")
    assert len(froms) >= 2 and all(" AS " in f.upper() for f in froms)
    base = next(args for instruction, args in lines if instruction == "ARG" and args.startswith("PYTHON_IMAGE="))
    match = re.fullmatch(r"PYTHON_IMAGE=python:3\.(\d+)-slim(-\w+)?", base)
    assert match and int(match.group(1)) >= 11, base
    users = dockerfile_instructions("USER", -1)
    # numeric uid:gid, so that Kubernetes' runAsNonRoot can check it without the image's /etc/passwd
    assert users and re.fullmatch(r"[1-9]\d*:\d+", users[-1]), users
    uid, gid = users[-1].split(":")
    assert f"--uid {uid}" in " ".join(dockerfile_instructions("RUN", -1))
    assert f"--gid {gid}" in " ".join(dockerfile_instructions("RUN", -1))
    assert any("--from=build" in c for c in dockerfile_instructions("COPY", -1))
    runs = " ".join(dockerfile_instructions("RUN"))
    assert "pip install" in runs and " -e " not in runs and "[test]" not in runs  # runtime deps, not editable


def test_dockerfile_health_entrypoint_and_default_command():
    (health,) = dockerfile_instructions("HEALTHCHECK", -1)
    assert "/healthz" in health and "DATAGEN_METRICS_PORT" in health
    assert dockerfile_instructions("ENTRYPOINT", -1) == ['["datagen"]']
    assert dockerfile_instructions("CMD", -1) == ['["run", "steady_state"]']  # a bundled name: package data
    # the wheel built in the first stage carries schemas/ and scenarios/ as package data ...
    build_copies = dockerfile_instructions("COPY", 0)
    assert "schemas ./schemas" in build_copies and "scenarios ./scenarios" in build_copies
    build_runs = dockerfile_instructions("RUN", 0)
    assert any("pip install --no-deps ." in r and "datagen validate steady_state" in r for r in build_runs)
    # ... so the runtime needs neither a schemas folder, DATAGEN_SCHEMAS_DIR nor a symlink into site-packages
    copies = dockerfile_instructions("COPY", -1)
    assert "scenarios ./scenarios" in copies and not any(c.startswith("schemas ") for c in copies)
    assert "DATAGEN_SCHEMAS_DIR" not in " ".join(dockerfile_instructions("ENV", -1))
    assert not any("ln -s" in r for r in dockerfile_instructions("RUN", -1))


def test_dockerfile_environment_names_are_read_by_datagen():
    read = set()
    for path in (ROOT / "producer").rglob("*.py"):
        read |= _environ_names(path.read_text())
    env = " ".join(dockerfile_instructions("ENV", -1))
    for name in re.findall(r"\b(DATAGEN_[A-Z_]+)=", env):
        assert name in read, f"Dockerfile sets {name}, which datagen never reads"


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a parent folder matches too."""
    parts = path.split("/")
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if pattern.startswith("**/"):
            candidates += [c.split("/")[-1] for c in candidates]
            pattern = pattern[3:]
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            excluded = not negate
    return excluded


def test_every_copied_file_is_in_the_build_context():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for args in dockerfile_instructions("COPY"):
        if args.startswith("--from"):
            continue
        for source in args.split()[:-1]:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: missing"
            files = (
                [path]
                if path.is_file()
                else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
            )
            assert files, f"COPY {source}: empty"
            for file in files:
                relative = file.relative_to(ROOT).as_posix()
                assert not _dockerignored(relative, patterns), f"{relative} is excluded by .dockerignore but copied"
    assert _dockerignored("tests/stack/test_compose.py", patterns)
    assert _dockerignored(".git/HEAD", patterns)
    assert _dockerignored("producer/__pycache__/cli.cpython-311.pyc", patterns)
