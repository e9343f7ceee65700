"""`datagen run --workers N`: N processes that together are the unsharded run, seen as one run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from producer.embedded.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
FINITE = """\
name: pair
seed: 5
streams:
  fintech.transactions: {weight: 3}
  fintech.sessions: {weight: 1}
phases:
  - {name: only, duration: 5s, rate: 2000}
"""
ENDLESS = """\
name: endless
seed: 9
streams:
  fintech.transactions: {weight: 1}
phases:
  - {name: only, duration: 1h, rate: 300}
"""


class Datagen:
    """A `datagen run` in its own process, its stdout read line by line in the background."""

    def __init__(self, tmp: Path, scenario: str, *flags: str) -> None:
        path = tmp / "scenario.yaml"
        path.write_text(scenario)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "producer", "run", str(path), "--sink", "file", "--format", "jsonl", *flags],
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        into.extend(line.rstrip("\n") for line in stream)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 30.0) -> list[re.Match[str]]:
        """The first `count` stdout lines matching `pattern`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for line in list(self.lines) if (m := re.search(pattern, line))]
            if len(found) >= count:
                return found[:count]
            time.sleep(0.05)
        raise AssertionError(f"no {count} lines matching {pattern!r} in {self.lines}")

    def finish(self, timeout: float = 60.0) -> tuple[int, str, str]:
        """Exit code, stdout and stderr once it ended."""
        self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(5)
        return self.proc.returncode, "\n".join(self.lines), "".join(line + "\n" for line in self.errors)


def sorted_lines(folder: Path) -> list[str]:
    return sorted(line for path in folder.rglob("*.jsonl") for line in path.read_text().splitlines())


def total_delivered(stdout: str) -> int:
    return int(re.search(r"^\s+total\s+\d+\s+(\d+)", stdout, re.M).group(1))


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/status").read_text().count("State:\tZ") == 1


def test_two_workers_write_exactly_the_unsharded_run(tmp_path):
    whole = Datagen(tmp_path, FINITE, "--out", "whole", "--rate", "max", "--no-metrics").finish()
    assert whole[0] == 0, whole[2]
    code, out, err = Datagen(
        tmp_path, FINITE, "--out", "two", "--rate", "max", "--no-metrics", "--workers", "2"
    ).finish()
    assert code == 0, err
    expected = sorted_lines(tmp_path / "whole")
    assert len(expected) > 2000  # the scenario ended by itself
    assert sorted_lines(tmp_path / "two") == expected
    for j in range(2):  # each worker wrote its own folder, and a real share
        assert len(sorted_lines(tmp_path / "two" / f"worker-{j}")) > len(expected) / 4
    assert out.count("summary:") == 1
    assert total_delivered(out) == len(expected)


def test_workers_compose_with_shard(tmp_path):
    code, _, err = Datagen(tmp_path, FINITE, "--out", "one", "--rate", "max", "--no-metrics", "--shard", "1/2").finish()
    assert code == 0, err
    flags = ("--out", "two", "--rate", "max", "--no-metrics", "--shard", "1/2", "--workers", "2")
    code, out, err = Datagen(tmp_path, FINITE, *flags).finish()
    assert code == 0, err
    assert "shards 1/4 3/4" in out
    assert sorted_lines(tmp_path / "two") == sorted_lines(tmp_path / "one")


def test_events_is_the_total_over_workers(tmp_path):
    flags = ("--out", "o", "--rate", "max", "--no-metrics", "--workers", "2", "--events", "1001")
    code, out, err = Datagen(tmp_path, ENDLESS, *flags).finish()
    assert code == 0, err
    assert len(sorted_lines(tmp_path / "o")) == 1001 == total_delivered(out)


def test_sigterm_stops_every_worker_with_one_summary(tmp_path):
    run = Datagen(tmp_path, ENDLESS, "--out", "o", "--no-metrics", "--workers", "2", "--duration", "5m")
    pids = [int(m.group(1)) for m in run.wait_for(r"^worker \d: pid (\d+)", 2)]
    run.wait_for(r"\[worker \d\] playing", 2)
    time.sleep(0.5)
    sent = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    code, out, err = run.finish(timeout=20)
    assert time.monotonic() - sent < 10
    assert code == 0, err
    assert all(gone(pid) for pid in pids)
    assert out.count("summary:") == 1 and "ended_by=signal" in out
    assert total_delivered(out) == len(sorted_lines(tmp_path / "o")) > 0


def test_sigterm_while_workers_start_up_is_a_clean_stop(tmp_path):
    run = Datagen(tmp_path, ENDLESS, "--out", "o", "--no-metrics", "--workers", "2", "--duration", "5m")
    run.wait_for(r"^worker 1: pid (\d+)")  # started, still importing: no signal handlers yet
    run.proc.send_signal(signal.SIGTERM)
    code, out, err = run.finish(timeout=30)
    assert code == 0, err
    assert out.count("summary:") == 1 and "killed" not in out


def test_a_killed_worker_ends_the_run_and_is_counted(tmp_path):
    run = Datagen(tmp_path, ENDLESS, "--out", "o", "--no-metrics", "--workers", "2", "--duration", "5m")
    pids = [int(m.group(1)) for m in run.wait_for(r"^worker \d: pid (\d+)", 2)]
    run.wait_for(r"\[worker \d\] playing", 2)
    time.sleep(1.5)  # a few reports written
    os.kill(pids[1], signal.SIGKILL)
    code, out, err = run.finish(timeout=20)
    assert code == 4, err
    assert "worker 1 (shard 1/2) killed by SIGKILL" in err
    assert out.count("summary:") == 1 and "worker 1 (shard 1/2) killed by SIGKILL: counted up to its last report" in out
    survivor = len(sorted_lines(tmp_path / "o" / "worker-0"))
    assert survivor < total_delivered(out) <= survivor + len(sorted_lines(tmp_path / "o" / "worker-1"))
    assert all(gone(pid) for pid in pids)


def scrape(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_one_metrics_endpoint_sums_the_workers(tmp_path):
    port = free_port()
    flags = ("--out", "o", "--rate", "max", "--workers", "2", "--metrics-port", str(port), "--linger", "60s")
    run = Datagen(tmp_path, FINITE, *flags)
    run.wait_for(r"^run ended; serving metrics")
    status, text = scrape(port, "/metrics")
    assert status == 200
    delivered = re.findall(r'^datagen_delivered_events_total\{topic="[^"]+"\} ([\d.e+]+)$', text, re.M)
    assert len(delivered) == 2  # one series per topic, not per worker
    assert "process_cpu_seconds_total" in text  # the parent's own process series
    assert scrape(port, "/readyz")[0] == 503  # the workers have ended
    run.proc.send_signal(signal.SIGTERM)
    code, out, err = run.finish(timeout=20)
    assert code == 0, err
    assert sum(float(v) for v in delivered) == total_delivered(out) == len(sorted_lines(tmp_path / "o")) > 2000


def test_ready_while_all_workers_run(tmp_path):
    port = free_port()
    run = Datagen(tmp_path, ENDLESS, "--out", "o", "--workers", "2", "--metrics-port", str(port), "--duration", "5m")
    run.wait_for(r"\[worker \d\] playing", 2)
    deadline = time.monotonic() + 20
    while scrape(port, "/readyz")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert scrape(port, "/readyz")[0] == 200
    assert scrape(port, "/healthz")[0] == 200
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish(timeout=20)[0] == 0


@pytest.mark.parametrize(
    "flags",
    [
        ("--workers", "0"),
        ("--workers", "2", "--events", "1"),
        ("--workers", "2", "--rate", "fast"),
        ("--workers", "2", "--sink", "stdout", "--format", "avro"),
    ],
)
def test_bad_input_exits_2_before_any_worker(tmp_path, flags):
    code, out, err = Datagen(tmp_path, FINITE, "--out", "o", "--no-metrics", *flags).finish()
    assert code == 2
    assert err.startswith("datagen: error: ") and err.count("\n") == 1, err
    assert "worker" not in out and not (tmp_path / "o").exists()


def test_bad_scenario_exits_2_before_any_worker(tmp_path):
    code, out, err = Datagen(tmp_path, FINITE.replace("rate: 2000", "rate: -1"), "--workers", "2").finish()
    assert code == 2 and err.startswith("datagen: error: ") and err.count("\n") == 1, err
    assert "worker" not in out


def test_one_worker_is_a_plain_run(tmp_path):
    plain = Datagen(tmp_path, FINITE, "--out", "plain", "--rate", "max", "--no-metrics").finish()
    code, out, err = Datagen(
        tmp_path, FINITE, "--out", "one", "--rate", "max", "--no-metrics", "--workers", "1"
    ).finish()
    assert code == 0, err
    assert "workers:" not in out and "[worker" not in out
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == sorted(
        p.name for p in (tmp_path / "plain").iterdir()
    )
    assert Counter(sorted_lines(tmp_path / "one")) == Counter(sorted_lines(tmp_path / "plain"))
    assert plain[1].count("summary:") == out.count("summary:") == 1


def test_two_workers_into_kafka_with_avro(tmp_path, kafka_bootstrap, schema_registry_url, consume_all):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(ENDLESS)
    prefix = f"w{os.getpid()}{time.monotonic_ns() % 10**6}."
    command = [sys.executable, "-m", "producer", "run", str(scenario), "--rate", "max", "--events", "600"]
    command += ["--workers", "2", "--no-metrics", "--topic-prefix", prefix, "--bootstrap-servers", kafka_bootstrap]
    command += ["--schema-registry-url", schema_registry_url]
    done = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("summary:") == 1 and total_delivered(done.stdout) == 600
    assert len(consume_all(f"{prefix}fintech.transactions")) == 600
