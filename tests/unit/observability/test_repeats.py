"""The repeat filter: one line per message and window, then how often it repeated."""

from __future__ import annotations

import logging

from producer.observability.repeats import RepeatFilter, install


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


def quiet_logger(name: str, clock: FakeClock) -> tuple[logging.Logger, Collect]:
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    sink = Collect()
    logger.handlers[:] = [sink]
    logger.filters[:] = [RepeatFilter(10.0, clock)]
    return logger, sink


def refused(logger: logging.Logger, port: int) -> None:
    # the shape of a librdkafka log record: "%s [%s] %s" % (fac, client name, text)
    text = f"127.0.0.1:{port}/bootstrap: Connect to ipv4#127.0.0.1:{port} failed: Connection refused (after 0ms)"
    logger.error("%s [%s] %s", "FAIL", "rdkafka#producer-1", text)


def test_repeats_within_the_window_are_counted_not_printed():
    clock = FakeClock()
    logger, sink = quiet_logger("test.repeats.window", clock)
    for _ in range(190):  # ~4 per second for 47 s, as in a real outage
        refused(logger, 9092)
        clock.now += 0.25
    assert 4 <= len(sink.lines) <= 6, sink.lines
    assert "repeated" not in sink.lines[0]
    assert "(repeated 39 times in the last 10s)" in sink.lines[1]


def test_numbers_do_not_make_a_message_new_but_level_and_text_do():
    clock = FakeClock()
    logger, sink = quiet_logger("test.repeats.key", clock)
    refused(logger, 9092)
    refused(logger, 9093)  # another broker, same failure
    logger.warning("%s [%s] %s", "FAIL", "rdkafka#producer-1", "127.0.0.1:9092/bootstrap: Disconnected")
    logger.warning("%s [%s] %s", "FAIL", "rdkafka#producer-1", "127.0.0.1:9092/bootstrap: Disconnected")
    logger.error("all brokers down")
    assert len(sink.lines) == 3, sink.lines


def test_pending_counts_are_reported_when_flushed():
    clock = FakeClock()
    logger, sink = quiet_logger("test.repeats.flush", clock)
    for _ in range(5):
        refused(logger, 9092)
    clock.now = 4.0
    repeat = logger.filters[0]
    assert isinstance(repeat, RepeatFilter)
    repeat.flush_summaries(logger)
    assert len(sink.lines) == 2
    assert sink.lines[1].startswith("ERROR FAIL [rdkafka#producer-1] 127.0.0.1:9092/bootstrap")
    assert sink.lines[1].endswith("(repeated 4 times in the last 4s)")
    repeat.flush_summaries(logger)
    assert len(sink.lines) == 2  # reported once


def test_install_adds_one_filter_per_logger():
    logger = logging.getLogger("test.repeats.install")
    first = install(logger)
    assert install(logger) is first
    assert sum(isinstance(f, RepeatFilter) for f in logger.filters) == 1
