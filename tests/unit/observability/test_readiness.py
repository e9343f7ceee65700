"""Readiness follows deliveries: stalled records turn it false, acknowledgements turn it back."""

from __future__ import annotations

from collections import Counter

from producer.observability.stats import RunStats

TOPIC = "p.fintech.transactions"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def handed(stats: RunStats, n: int) -> None:
    stats.on_produced([], {}, Counter({TOPIC: n}))


def test_ready_until_records_wait_unacknowledged_longer_than_the_threshold():
    clock = FakeClock()
    stats = RunStats(clock=clock, stall_after=8.0)
    stats.ready = True
    handed(stats, 100)
    clock.now += 0.5
    stats.on_delivered(TOPIC, 100, 1000)
    assert stats.is_ready() and stats.oldest_undelivered_age() == 0.0

    handed(stats, 50)  # the broker freezes: nothing comes back
    clock.now += 5
    handed(stats, 50)
    assert stats.oldest_undelivered_age() == 5.0
    assert stats.is_ready()
    clock.now += 3.5
    assert stats.stalled_for() == 8.5
    assert not stats.is_ready()

    stats.on_delivered(TOPIC, 50, 500)  # the first batch is acknowledged: deliveries flow again
    assert stats.is_ready()
    assert stats.oldest_undelivered_age() == 3.5  # the second batch is still out
    stats.on_failed(TOPIC, 50, 500, "boom")  # failures settle records too
    assert stats.oldest_undelivered_age() == 0.0


def test_a_deep_queue_that_keeps_draining_is_not_a_stall():
    clock = FakeClock()
    stats = RunStats(clock=clock, stall_after=8.0)
    stats.ready = True
    for _ in range(30):  # 30 s of producing at max, acknowledgements 12 s behind but steady
        handed(stats, 1000)
        clock.now += 1
        if stats._handed > 12_000:
            stats.on_delivered(TOPIC, 1000, 1)
    assert stats.oldest_undelivered_age() >= 12
    assert stats.is_ready()


def test_the_sink_health_probe_and_the_connected_flag_both_count():
    stats = RunStats(clock=FakeClock())
    assert not stats.is_ready()  # not connected yet
    stats.ready = True
    healthy = [True]
    stats.sink_healthy = lambda: healthy[0]
    assert stats.is_ready()
    healthy[0] = False  # e.g. librdkafka reported all brokers down
    assert not stats.is_ready()
