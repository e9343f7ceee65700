"""The pure parts of `--workers`: shard composition, the --events split, the exit-code rule."""

from __future__ import annotations

import signal

import pytest

from producer.errors import UsageError
from producer.scheduling.shard import Shard
from producer.workers import describe_exit, producing_window, run_exit_code, split_events, worker_shard

PARTITIONS = 240  # divisible by every process count below


@pytest.mark.parametrize(("shard", "workers"), [(Shard(), 3), (Shard(1, 3), 2), (Shard(2, 5), 4), (Shard(0, 2), 1)])
def test_workers_partition_their_shard_exactly(shard, workers):
    mine = set(shard.partitions(PARTITIONS))
    slices = [set(worker_shard(shard, workers, j).partitions(PARTITIONS)) for j in range(workers)]
    assert set().union(*slices) == mine
    assert sum(len(s) for s in slices) == len(mine)  # disjoint
    assert all(len(s) == len(mine) // workers for s in slices)  # an even split when the counts divide


def test_all_machines_times_workers_cover_every_partition_once():
    owners = [worker_shard(Shard(i, 3), 2, j).partitions(12) for i in range(3) for j in range(2)]
    assert sorted(p for owned in owners for p in owned) == list(range(12))


def test_more_processes_than_partitions_is_refused():
    Shard(3, 4).check(4)
    with pytest.raises(UsageError, match="--shard 1/2 with --workers 3: 6 processes"):
        Shard(1, 2).check(4, processes=3)


def test_events_is_split_as_a_total():
    assert split_events(1001, 2) == [501, 500]
    assert split_events(6, 3) == [2, 2, 2]
    assert split_events(None, 2) == [None, None]
    with pytest.raises(UsageError, match="fewer events than --workers 3"):
        split_events(2, 3)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [([0, 0], 0), ([0, 3], 3), ([4, 3, 2], 4), ([2, 130], 2), ([130, 0], 130), ([-9, 0], 4), ([1, 3], 4), ([], 0)],
)
def test_the_worst_worker_exit_code_is_the_runs(codes, expected):
    assert run_exit_code(codes) == expected


def test_describe_exit():
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(3) == "exit code 3"


def test_the_rate_of_workers_is_over_their_producing_window() -> None:
    """From the first worker's clock start to the last one's end of producing: start-up left out, as for one run."""
    finals = [
        {"started_at": 1000.0, "producing": 6.0, "flushing": 0.1},
        {"started_at": 1000.5, "producing": 5.8, "flushing": 0.2},
    ]
    assert producing_window(finals, wall=8.0, flushing=0.2, workers=2) == pytest.approx(6.3)
    # a worker without a final report (it died): the parent's wall time, flush excluded
    assert producing_window(finals[:1], wall=8.0, flushing=0.2, workers=2) == pytest.approx(7.8)
    # reports from a release without started_at: the same
    assert producing_window([{"producing": 6.0}] * 2, wall=8.0, flushing=0.0, workers=2) == pytest.approx(8.0)
