"""`datagen tail` as an ordinary consumer-group client on the session broker (real Apache Kafka here).

Values are JSON (tail passes them through), {"seq": i}, on partition i % partitions, with timestamps
rising with seq: the seq of a printed line tells which record it was.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from producer.tail import tail

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
GRACE = 10.0  # seconds a follower may take to exit after SIGTERM
WAIT = 30.0  # seconds to wait for lines or a group state before failing (a bound, not a measurement)


def _topic(bootstrap: str, partitions: int) -> str:
    name = f"tail-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # held: a collected client cancels its futures
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    return name


def _produce(bootstrap: str, topic: str, seqs: range, partitions: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in seqs:
        value = json.dumps({"seq": i}).encode()
        producer.produce(topic, value, partition=i % partitions, timestamp=1_700_000_000_000 + i)
    assert producer.flush(30) == 0


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    future = admin.list_consumer_group_offsets([request])[group]
    return [tp.offset for tp in sorted(future.result(30).topic_partitions, key=lambda tp: tp.partition)]


class Follower:
    """`datagen tail TOPIC -f ...` in a subprocess; its stdout lines parsed as they come."""

    def __init__(self, bootstrap: str, topic: str, *flags: str) -> None:
        args = ["tail", topic, "-f", "--bootstrap-servers", bootstrap, *flags]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "producer", *args],
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.seqs: list[int] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, stream, events: bool) -> None:
        for line in stream:
            (self.seqs.append(json.loads(line)["seq"]) if events else self.err.append(line))

    def stop(self) -> int:
        """SIGTERM, then its exit code (killed and -9 if not gone within GRACE)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(GRACE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = -9
        for thread in self._threads:
            thread.join(5)
        return code


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT:g}s for {what}"
        time.sleep(0.1)


@pytest.mark.parametrize(
    "conf",
    [{}, {"partition.assignment.strategy": "cooperative-sticky"}, {"group.protocol": "consumer"}],
    ids=["eager", "cooperative", "kip848"],  # the group protocols a -X can choose: incremental assigns for the last two
)
def test_last_n_over_all_partitions_in_timestamp_order_commits_nothing(kafka_bootstrap, capsys, conf):
    topic = _topic(kafka_bootstrap, 4)  # partition 3 stays empty: it must not hold up the read
    _produce(kafka_bootstrap, topic, range(30), 3)
    group = f"audit-{uuid.uuid4().hex[:6]}"
    assert tail(topic, 5, kafka_bootstrap, None, conf=conf, group=group) == 0
    assert [json.loads(line)["seq"] for line in capsys.readouterr().out.splitlines()] == [25, 26, 27, 28, 29]
    assert tail(topic, 100, kafka_bootstrap, None, conf=conf) == 0  # more than there is: everything, once, in order
    assert [json.loads(line)["seq"] for line in capsys.readouterr().out.splitlines()] == list(range(30))
    assert all(offset < 0 for offset in _committed(kafka_bootstrap, group, topic, 4))  # no offset: side-effect free


def test_follow_prints_what_comes_after_it_started_and_ends_on_sigterm(kafka_bootstrap):
    topic = _topic(kafka_bootstrap, 3)
    _produce(kafka_bootstrap, topic, range(6), 3)
    follower = Follower(kafka_bootstrap, topic, "-n", "1")
    try:
        _until(lambda: len(follower.seqs) >= 3, "the last record of each partition")  # then it is positioned
        _produce(kafka_bootstrap, topic, range(6, 15), 3)
        _until(lambda: len(follower.seqs) >= 12, "the records produced after it started")
    finally:
        code = follower.stop()
    assert code == 0, "".join(follower.err)
    assert sorted(follower.seqs) == list(range(3, 15))  # each once
    for p in range(3):  # in offset order within each partition
        mine = [s for s in follower.seqs if s % 3 == p]
        assert mine == sorted(mine)
    assert any("signal received signal=SIGTERM" in line for line in follower.err)


def _members(bootstrap: str, group: str) -> dict[str, set[int]]:
    """client id + member id -> partitions, of a STABLE group; {} while it is not."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_consumer_groups([group])[group].result(30)
    if described.state != ConsumerGroupState.STABLE:
        return {}
    return {
        f"{m.client_id} {m.member_id}": {tp.partition for tp in m.assignment.topic_partitions}
        for m in described.members
    }


def test_two_followers_in_one_group_split_the_partitions_commit_and_resume(kafka_bootstrap):
    topic, group = _topic(kafka_bootstrap, 4), f"followers-{uuid.uuid4().hex[:6]}"
    _produce(kafka_bootstrap, topic, range(8), 4)
    first, second = (Follower(kafka_bootstrap, topic, "-n", "100", "--group", group) for _ in range(2))
    try:
        _until(lambda: len(_members(kafka_bootstrap, group)) == 2, "a stable group of 2 members")
        members = _members(kafka_bootstrap, group)
        assert all(name.startswith("datagen-tail ") for name in members)
        owned = list(members.values())
        assert all(owned) and not owned[0] & owned[1] and owned[0] | owned[1] == {0, 1, 2, 3}
        _produce(kafka_bootstrap, topic, range(8, 20), 4)
        _until(lambda: len(first.seqs) + len(second.seqs) >= 20, "20 records between the two")
    finally:
        codes = first.stop(), second.stop()
    assert codes == (0, 0), "".join(first.err + second.err)
    # each record printed by exactly one member: a rebalance hands a partition over at its committed offset
    assert sorted(first.seqs + second.seqs) == list(range(20))
    assert not {s % 4 for s in first.seqs if s >= 8} & {s % 4 for s in second.seqs if s >= 8}
    assert _committed(kafka_bootstrap, group, topic, 4) == [5, 5, 5, 5]  # all that was printed

    again = Follower(kafka_bootstrap, topic, "-n", "100", "--group", group)
    try:
        _produce(kafka_bootstrap, topic, range(20, 23), 4)
        _until(lambda: len(again.seqs) >= 3, "the 3 records produced while no member ran")
    finally:
        code = again.stop()
    assert code == 0, "".join(again.err)
    assert sorted(again.seqs) == [20, 21, 22]  # resumed at the commits: nothing printed twice
