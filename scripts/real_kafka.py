"""Real Apache Kafka from Maven Central: fetch the broker jars once, run a KRaft cluster of 1-N brokers.

The tests' real-Kafka tier uses it, and so can you:

    python scripts/real_kafka.py fetch              # jars into the cache (Maven), prints their folder
    python scripts/real_kafka.py up --brokers 3     # a cluster on free loopback ports until Ctrl+C
    python scripts/real_kafka.py up --dir kafka-data  # keep the log dirs (reused by the next `up --dir`)

Every node runs combined (broker and controller) in KRaft mode, in its own folder under a work dir;
nothing listens beyond 127.0.0.1, or beyond the test network namespaces `network="netns"` creates.
Needs `java` (17+) and `mvn` on PATH; the jars land in $DATAGEN_KAFKA_CACHE (default
~/.cache/datagen/kafka-<version>), Maven's own downloads in ~/.m2.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KAFKA_VERSION = "4.4.0"
SLF4J_BINDING = "2.25.5"  # log4j-slf4j-impl: Kafka logs through slf4j 1.7 to log4j2, as its distribution does
START_TIMEOUT = 120.0

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>datagen</groupId><artifactId>real-kafka</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{v}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>{v}</version></dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>{log}</version>
    </dependency>
  </dependencies>
</project>
"""

LOG4J = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
"""


class RealKafkaUnavailable(RuntimeError):
    """Java or Maven is missing, or the jars could not be fetched: the message says which and why."""


def cache_dir(version: str = KAFKA_VERSION) -> Path:
    """Where the jars of `version` live."""
    root = os.environ.get("DATAGEN_KAFKA_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "datagen" / f"kafka-{version}"


def fetch_jars(version: str = KAFKA_VERSION, quiet: bool = True) -> Path:
    """The folder of the broker's jars, fetched with Maven on first use; raises RealKafkaUnavailable."""
    home = cache_dir(version)
    lib, stamp = home / "lib", home / "complete"
    if stamp.exists():
        return lib
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise RealKafkaUnavailable(f"real Kafka needs `{tool}` on PATH, found none")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(POM.format(v=version, log=SLF4J_BINDING))
    shutil.rmtree(lib, ignore_errors=True)
    command = ["mvn", "-B", *(["-q"] if quiet else []), "dependency:copy-dependencies"]
    command += [f"-DoutputDirectory={lib}", "-DincludeScope=runtime"]
    done = subprocess.run(command, check=False, cwd=home, capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not any(lib.glob(f"kafka_2.13-{version}.jar")):
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        what = f"org.apache.kafka:kafka_2.13:{version}"
        raise RealKafkaUnavailable(f"mvn could not fetch {what} (exit {done.returncode}):\n{tail}")
    stamp.write_text(version + "\n")
    return lib


def available() -> str | None:
    """None when real Kafka can run here (jars fetched or fetchable), else why not."""
    try:
        fetch_jars()
    except (RealKafkaUnavailable, OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None


_QUIET = logging.getLogger("real_kafka.client")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False  # a probe's "connection refused" while a broker starts is expected, not news


def _cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _ip_quietly(*args: str) -> None:
    """Clean-up: what is already gone is fine."""
    subprocess.run(["ip", *args], check=False, capture_output=True, timeout=10)


@dataclass
class Node:
    """One combined broker/controller: its id, address, folder and (while running) process."""

    node_id: int
    host: str
    port: int
    controller_port: int
    home: Path
    netns: str | None = None
    host_link: str | None = None  # the root-namespace end of its veth (netns mode)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"node {self.node_id} is not running"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, lines: int = 40) -> str:
        """The last lines of its server log."""
        path = self.home / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


class KafkaCluster:
    """`brokers` Apache Kafka nodes in KRaft combined mode, started, health-checked and stopped here.

    With 3 or more nodes, topics default to replication factor 3 and min.insync.replicas 2.
    `network="netns"` puts each node in its own network namespace behind one bridge, so that
    `isolate(node)` can cut it off from the others and from clients (root only).
    """

    def __init__(
        self,
        brokers: int = 1,
        workdir: str | Path | None = None,
        version: str = KAFKA_VERSION,
        network: str = "loopback",
        overrides: dict[str, str] | None = None,
        heap: str = "384m",
        graceful_stop: bool = False,
    ) -> None:
        self.lib = fetch_jars(version)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="datagen-kafka-"))
        self.network = network
        self.overrides = overrides or {}
        self.heap = heap
        self.graceful_stop = graceful_stop  # SIGTERM at exit (clean log dirs to keep) rather than SIGKILL
        self._tag = f"{os.getpid() % 10000:04d}{uuid.uuid4().hex[:3]}"
        self._bridge: str | None = None
        self.nodes = [self._node(i + 1, brokers) for i in range(brokers)]
        self.cluster_id = _cluster_id()

    def _node(self, node_id: int, count: int) -> Node:
        home = self.workdir / f"node-{node_id}"
        home.mkdir(parents=True, exist_ok=True)
        if self.network == "netns":
            if node_id == 1:
                self._make_bridge()
            host = f"{self._subnet}.{10 + node_id}"
            return Node(node_id, host, 9092, 9093, home, netns=f"dg{self._tag}n{node_id}")
        from producer.embedded.broker import free_port  # here: `fetch` runs before datagen is installed

        return Node(node_id, "127.0.0.1", free_port(), free_port(), home)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.address for node in self.nodes)

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id - 1]

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> KafkaCluster:
        """Format every node's storage, start them all and wait until every broker serves metadata."""
        try:
            for node in self.nodes:
                if self.network == "netns":
                    self._make_netns(node)
                self._write_config(node)
                self._format(node)
            for node in self.nodes:
                self._launch(node)
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float = START_TIMEOUT, nodes: list[Node] | None = None) -> None:
        """Wait until every running node (or `nodes`) is listed as a broker and answers metadata."""
        from confluent_kafka.admin import AdminClient

        want = {n.node_id for n in (nodes or [n for n in self.nodes if n.running])}
        deadline = time.monotonic() + timeout
        seen: set[int] = set()
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.node_id in want and node.proc is not None and node.proc.poll() is not None:
                    raise RuntimeError(f"kafka node {node.node_id} exited ({node.proc.returncode}):\n{node.log()}")
            from producer.embedded.broker import accepts_connections  # here: `fetch` needs no datagen

            listening = [n for n in self.nodes if n.node_id in want and accepts_connections(n.host, n.port, 1.0)]
            if len(listening) == len(want):
                conf: dict[str, Any] = {"bootstrap.servers": ",".join(n.address for n in listening), "logger": _QUIET}
                admin = AdminClient(conf)
                try:
                    seen = set(admin.list_topics(timeout=3).brokers)
                except Exception:  # the controller quorum is still electing
                    seen = set()
                if want <= seen:
                    return
            time.sleep(0.5)
        missing = sorted(want - seen)
        raise TimeoutError(f"kafka brokers {missing} not up after {timeout:g}s; brokers seen {sorted(seen)}")

    def stop(self, graceful: bool = False) -> None:
        """Stop every node and remove namespaces and, if ours, the work dir.

        graceful: SIGTERM (a controlled shutdown, SIGKILL after 20 s); else SIGKILL at once, as a
        throw-away test cluster needs no clean log dirs.
        """
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(node.proc.pid, signal.SIGCONT)  # a frozen node cannot act on SIGTERM
                    os.kill(node.proc.pid, signal.SIGTERM if graceful else signal.SIGKILL)
        for node in self.nodes:
            self._reap(node, 20.0)
        self._remove_network()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(graceful=self.graceful_stop)

    # ---- faults ----------------------------------------------------------------------------------------------

    def kill(self, node_id: int) -> None:
        """SIGKILL one node and wait until it is gone; its log dir stays for a restart."""
        node = self.node(node_id)
        if node.running:
            node.proc.kill()  # type: ignore[union-attr]
        self._reap(node, 10.0)

    def kill_all(self) -> None:
        for node in self.nodes:
            self.kill(node.node_id)

    def restart(self, node_id: int | None = None, timeout: float = START_TIMEOUT) -> None:
        """Start one stopped node (or every stopped node) again from its log dir, and wait for it."""
        targets = [self.node(node_id)] if node_id is not None else [n for n in self.nodes if not n.running]
        for node in targets:
            self._launch(node)
        self.wait_healthy(timeout, targets)

    def freeze(self, node_id: int) -> None:
        """SIGSTOP: the node keeps its sockets open and answers nothing."""
        os.kill(self.node(node_id).pid, signal.SIGSTOP)

    def thaw(self, node_id: int) -> None:
        os.kill(self.node(node_id).pid, signal.SIGCONT)

    def isolate(self, node_id: int) -> None:
        """Cut a node off from the other nodes and from every client (netns mode)."""
        _ip("link", "set", self._host_link(node_id), "down")

    def heal(self, node_id: int) -> None:
        _ip("link", "set", self._host_link(node_id), "up")

    def leader_of(self, topic: str, partition: int = 0, timeout: float = 10.0) -> int:
        """The node id leading `topic`'s partition now."""
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        meta = admin.list_topics(topic, timeout=timeout).topics[topic]
        return int(meta.partitions[partition].leader)

    # ---- inside ----------------------------------------------------------------------------------------------

    def _write_config(self, node: Node) -> None:
        replicated = len(self.nodes) >= 3
        rf, isr = ("3", "2") if replicated else (str(len(self.nodes)), "1")
        voters = ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in self.nodes)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{node.host}:{node.port},CONTROLLER://{node.host}:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{node.address}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(node.home / "data"),
            "num.partitions": "3",
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            **self.overrides,
        }
        text = "".join(f"{key}={value}\n" for key, value in props.items())
        (node.home / "server.properties").write_text(text)
        (node.home / "log4j2.properties").write_text(LOG4J)

    def _java(self, node: Node, main: str, *args: str, heap: str = "256m") -> list[str]:
        prefix = ["ip", "netns", "exec", node.netns] if node.netns else []
        quick = ["-XX:TieredStopAtLevel=1"] if main != "kafka.Kafka" else []  # a one-shot tool starts faster
        return [
            *prefix,
            "java",
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            *quick,
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={node.home}",
            f"-Dlog4j2.configurationFile={node.home / 'log4j2.properties'}",
            "-cp",
            f"{self.lib}/*",
            main,
            *args,
        ]

    def _format(self, node: Node) -> None:
        if (node.home / "data" / "meta.properties").exists():
            return  # formatted before (a kept --dir): start from what is there
        config = str(node.home / "server.properties")
        command = self._java(node, "kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", config)
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"kafka storage format failed for node {node.node_id}:\n{done.stdout}{done.stderr}")

    def _launch(self, node: Node) -> None:
        out = open(node.home / "stdout.log", "ab")  # noqa: SIM115 - owned by the child from here on
        try:
            command = self._java(node, "kafka.Kafka", str(node.home / "server.properties"), heap=self.heap)
            node.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            out.close()

    @staticmethod
    def _reap(node: Node, timeout: float) -> None:
        if node.proc is None:
            return
        try:
            node.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(10)

    # ---- network namespaces ----------------------------------------------------------------------------------

    def _make_bridge(self) -> None:
        used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
        for third in range(16, 250):
            subnet = f"10.{200 + os.getpid() % 50}.{third}"
            if f" {subnet}." not in used:
                break
        self._subnet = subnet
        self._bridge = f"dg{self._tag}br"
        _ip("link", "add", self._bridge, "type", "bridge")
        _ip("addr", "add", f"{subnet}.1/24", "dev", self._bridge)
        _ip("link", "set", self._bridge, "up")

    def _make_netns(self, node: Node) -> None:
        assert node.netns is not None and self._bridge is not None
        inside, outside = f"dg{self._tag}i{node.node_id}", f"dg{self._tag}h{node.node_id}"
        _ip("netns", "add", node.netns)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", node.netns)
        _ip("link", "set", outside, "master", self._bridge)
        _ip("link", "set", outside, "up")
        for args in (("link", "set", "lo", "up"), ("addr", "add", f"{node.host}/24", "dev", inside)):
            _ip("netns", "exec", node.netns, "ip", *args)
        _ip("netns", "exec", node.netns, "ip", "link", "set", inside, "up")
        node.host_link = outside

    def _host_link(self, node_id: int) -> str:
        link = self.node(node_id).host_link
        if link is None:
            raise RuntimeError("isolate()/heal() need network='netns'")
        return link

    def _remove_network(self) -> None:
        for node in self.nodes:
            if node.host_link is not None:
                _ip_quietly("link", "del", node.host_link)
                node.host_link = None
            if node.netns is not None:
                _ip_quietly("netns", "del", node.netns)
        if self._bridge is not None:
            _ip_quietly("link", "del", self._bridge)
            self._bridge = None


@contextlib.contextmanager
def running(brokers: int = 1, **kwargs: object) -> Iterator[KafkaCluster]:
    """A started cluster for the `with` block."""
    cluster = KafkaCluster(brokers, **kwargs)  # type: ignore[arg-type]
    with cluster:
        yield cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="real_kafka.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="fetch the broker jars into the cache and print their folder")
    up = sub.add_parser("up", help="run a cluster on loopback until Ctrl+C")
    up.add_argument("--brokers", type=int, default=1, help="how many nodes (3 gives replication factor 3)")
    up.add_argument("--dir", help="keep the nodes' folders here (default: a temp folder, removed at exit)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(fetch_jars(quiet=False))
            return 0
        with running(args.brokers, workdir=args.dir, graceful_stop=args.dir is not None) as cluster:
            print(f"kafka {KAFKA_VERSION}: {len(cluster.nodes)} broker(s) at {cluster.bootstrap_servers}", flush=True)
            print(f"log dirs under {cluster.workdir}; Ctrl+C stops", flush=True)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            with contextlib.suppress(KeyboardInterrupt):
                while all(node.running for node in cluster.nodes):
                    time.sleep(1)
        return 0
    except RealKafkaUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
