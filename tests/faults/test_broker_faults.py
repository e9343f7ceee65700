"""Faults on a real three-node Apache Kafka cluster while datagen produces 5,000 events/s: nothing lost, nothing twice.

Each test checks with an outside consumer (read_committed, Avro through the registry) that every event the
run counted delivered is on its topic exactly once, and records its figures as one JSON line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.real_kafka import KafkaCluster
from tests.faults.harness import RATE, TOPIC, DatagenRun, ReadyzPoller, outcome, record_figures

pytestmark = pytest.mark.faults
FLOWING = RATE * 4  # delivered events before a fault: the run is past connecting and warm-up, all partitions busy
OLD_CLOCK = "2026-01-01T00:00:00Z"  # the bundled scenarios' start: months before any run of these tests
FINISH_GRACE = 90.0  # seconds past --duration a run may take to flush, summarise and linger before it is a hang


def _assert_exactly_once(fig: dict, run: DatagenRun) -> None:
    """The guarantee: exit 0, all produced delivered, every delivered event on the topic exactly once."""
    context = f"{fig}\n{run.stderr_tail()}"
    assert fig["exit_code"] == 0, context
    assert fig["failed"] == 0 and fig["delivered"] == fig["produced"] > 0, context
    assert fig["delivered_counter"] == fig["delivered"], context  # /metrics agrees with the summary
    assert fig["consumed_distinct"] == fig["delivered"], context  # 0 lost (and nothing unaccounted for)
    assert fig["duplicates"] == 0, context


def _leader_out_for(
    cluster: KafkaCluster,
    run: DatagenRun,
    seconds: float,
    take_out: Callable[[int], None],
    bring_back: Callable[[int], None],
    registry_url: str,
) -> tuple[int, dict]:
    """Take the leader of a busy partition out for `seconds` once events flow, bring it back; the run's figures."""
    try:
        run.wait_delivered(FLOWING)
        leader = cluster.leader_of(TOPIC, 0)
        out_at = time.monotonic()
        take_out(leader)
        time.sleep(seconds)
        bring_back(leader)
        outage = time.monotonic() - out_at
        fig = outcome(run, cluster.bootstrap_servers, registry_url, run.duration + FINISH_GRACE)
    finally:
        run.kill()
    return leader, fig | {"outage_s": round(outage, 1)}


def _cluster_down_for(cluster: KafkaCluster, run: DatagenRun, seconds: float, registry_url: str) -> dict:
    """Kill every node once events flow, restart them `seconds` later; the run's figures and the fault's times."""
    try:
        run.wait_delivered(FLOWING)
        killed_at = time.monotonic() - run.started
        cluster.kill_all()
        time.sleep(seconds)
        restarted_at = time.monotonic() - run.started
        cluster.restart()
        healthy_at = time.monotonic() - run.started
        fig = outcome(run, cluster.bootstrap_servers, registry_url, run.duration + FINISH_GRACE)
    finally:
        run.kill()
    # unrounded: /readyz observations are compared with them
    times = {"killed_at_s": killed_at, "restarted_at_s": restarted_at, "healthy_at_s": healthy_at}
    return fig | times | {"outage_s": round(healthy_at - killed_at, 1)}


def test_leader_killed_and_not_restarted(
    cluster: KafkaCluster, tmp_path: Path, schema_registry_url: str, figures_file: Path
) -> None:
    """SIGKILL the leader of a busy partition mid-run; the other two (min.insync.replicas 2) carry on."""
    duration = 30.0
    run = DatagenRun(tmp_path, cluster.bootstrap_servers, schema_registry_url, duration)
    try:
        run.wait_delivered(FLOWING)
        leader = cluster.leader_of(TOPIC, 0)
        killed_at = time.monotonic()
        cluster.kill(leader)
        fig = outcome(run, cluster.bootstrap_servers, schema_registry_url, duration + FINISH_GRACE)
    finally:
        run.kill()
    fig |= {"fault": f"SIGKILL node {leader} (leader of {TOPIC}-0), not restarted"}
    fig["outage_s"] = round(run.started + fig["run_s"] - killed_at, 1)  # down until the end
    record_figures(figures_file, "leader_killed", fig)
    _assert_exactly_once(fig, run)


def test_leader_frozen_longer_than_request_timeout(
    cluster: KafkaCluster, tmp_path: Path, schema_registry_url: str, figures_file: Path
) -> None:
    """SIGSTOP the leader of a busy partition for 40 s (librdkafka's request timeout is 30 s), then SIGCONT."""
    run = DatagenRun(tmp_path, cluster.bootstrap_servers, schema_registry_url, 60.0)
    leader, fig = _leader_out_for(cluster, run, 40.0, cluster.freeze, cluster.thaw, schema_registry_url)
    fig["fault"] = f"SIGSTOP node {leader} (leader of {TOPIC}-0), then SIGCONT"
    record_figures(figures_file, "leader_frozen", fig)
    _assert_exactly_once(fig, run)


def test_whole_cluster_killed_and_restarted(
    cluster: KafkaCluster, tmp_path: Path, schema_registry_url: str, figures_file: Path
) -> None:
    """SIGKILL all three nodes, restart them from their log dirs 15 s later; /readyz says 503 meanwhile, then 200."""
    run = DatagenRun(tmp_path, cluster.bootstrap_servers, schema_registry_url, 50.0)
    poller = ReadyzPoller(run)
    fig = _cluster_down_for(cluster, run, 15.0, schema_registry_url)
    changes = poller.stop()
    fig |= {"fault": "SIGKILL all 3 nodes, restart from log dirs", "readyz_changes": changes}
    killed_at, healthy_at = fig["killed_at_s"], fig["healthy_at_s"]
    fig["readyz_503_s"] = _first_503_interval(changes, killed_at)
    record_figures(figures_file, "cluster_killed", fig)
    _assert_exactly_once(fig, run)
    # readyz: 200 before the kill, 503 after it (within the outage), then 200 again once the cluster is back
    before = [t for t, code in changes if code == 200 and t < killed_at]
    down = [t for t, code in changes if code == 503 and killed_at <= t <= healthy_at]
    back = [t for t, code in changes if code == 200 and down and t > down[0]]
    assert before and down and back, fig


def _first_503_interval(changes: list[tuple[float, int | None]], after: float) -> list[float] | None:
    """[start, end] (s since the run started) of the first stretch of 503 answers after `after`."""
    for i, (t, code) in enumerate(changes):
        if code == 503 and t >= after:
            end = next((t2 for t2, c2 in changes[i + 1 :] if c2 != 503), None)
            return [t, end] if end is not None else [t]
    return None


def test_leader_isolated_from_network(
    netns_cluster: KafkaCluster, tmp_path: Path, schema_registry_url: str, figures_file: Path
) -> None:
    """Cut the leader of a busy partition off the network (its veth down) for 30 s, then heal it."""
    cluster = netns_cluster
    run = DatagenRun(tmp_path, cluster.bootstrap_servers, schema_registry_url, 55.0)
    leader, fig = _leader_out_for(cluster, run, 30.0, cluster.isolate, cluster.heal, schema_registry_url)
    fig["fault"] = f"node {leader} (leader of {TOPIC}-0) isolated, then healed"
    record_figures(figures_file, "leader_isolated", fig)
    _assert_exactly_once(fig, run)


def test_outage_longer_than_message_timeout_counts_failures(
    cluster: KafkaCluster, tmp_path: Path, schema_registry_url: str, figures_file: Path
) -> None:
    """Where exactly-once cannot hold: the whole cluster down 25 s with message.timeout.ms=10000.

    Events older than the timeout fail (exit 4); every event is still accounted for, and nothing
    counted delivered is missing (an event that timed out may yet have been written: >=, not ==).
    """
    timeout = ("-X", "message.timeout.ms=10000")
    run = DatagenRun(tmp_path, cluster.bootstrap_servers, schema_registry_url, 50.0, *timeout)
    fig = _cluster_down_for(cluster, run, 25.0, schema_registry_url)
    fig["fault"] = "SIGKILL all 3 nodes for longer than message.timeout.ms=10000"
    record_figures(figures_file, "outage_beyond_message_timeout", fig)
    context = f"{fig}\n{run.stderr_tail()}"
    assert fig["exit_code"] == 4, context
    assert fig["failed"] > 0 and fig["delivered"] + fig["failed"] == fig["produced"], context
    assert (fig["delivered_counter"], fig["failed_counter"]) == (fig["delivered"], fig["failed"]), context
    assert fig["consumed_distinct"] >= fig["delivered"], context


def test_transactions_keep_an_old_clock_exactly_once_across_a_cluster_restart(
    cluster: KafkaCluster, tmp_path: Path, schema_registry_url: str, figures_file: Path
) -> None:
    """--transactional-id, event time months back (idempotence alone duplicated there): all nodes killed, back 15 s on.

    The broker never expires a producer with a transaction open, so a batch retried after the restart is
    recognised; each batch is counted when it commits.
    """
    txn = ("--transactional-id", "faults")
    run = DatagenRun(tmp_path, cluster.bootstrap_servers, schema_registry_url, 50.0, *txn, clock_start=OLD_CLOCK)
    fig = _cluster_down_for(cluster, run, 15.0, schema_registry_url)
    fig["fault"] = f"SIGKILL all 3 nodes, restart from log dirs; --transactional-id, clock {OLD_CLOCK}"
    record_figures(figures_file, "transactions_cluster_killed_old_clock", fig)
    _assert_exactly_once(fig, run)
