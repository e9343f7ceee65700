"""A logging filter that lets a repeated message through once per window and counts the rest.

librdkafka logs every failed reconnect (several a second during a broker outage); a person needs
one line per cause every few seconds and how often it happened, not hundreds of identical lines.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_NUMBERS = re.compile(r"\d+")
_MAX_KEYS = 1000  # distinct messages remembered; beyond that, the quiet ones are forgotten


@dataclass
class _Seen:
    first: float  # when the line that opened this window was let through
    message: str  # that line, numbers and all
    suppressed: int = 0


class RepeatFilter(logging.Filter):
    """Pass the first of each (level, logger, message without numbers) per `window` seconds.

    The next one let through after a window carries "(repeated N times in the last Ts)";
    `flush_summaries()` reports counts still pending (e.g. when the client closes).
    """

    def __init__(self, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[int, str, str], _Seen] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """True to emit `record`; repeats inside the window are counted and dropped."""
        message = record.getMessage()
        key = (record.levelno, record.name, _NUMBERS.sub("#", message))
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.first < self.window:
                seen.suppressed += 1
                return False
            if len(self._seen) >= _MAX_KEYS:
                self._forget_quiet(now)
            self._seen[key] = _Seen(now, message)
        if seen is not None and seen.suppressed:
            record.msg, record.args = f"{message} {_repeated(seen.suppressed, now - seen.first)}", None
        return True

    def _forget_quiet(self, now: float) -> None:
        for key in [k for k, s in self._seen.items() if now - s.first >= self.window]:
            del self._seen[key]

    def flush_summaries(self, logger: logging.Logger) -> None:
        """Log one line per message whose repeats were dropped and not yet reported."""
        now = self.clock()
        with self._lock:
            pending = [(key, seen) for key, seen in self._seen.items() if seen.suppressed]
            for key, _ in pending:
                del self._seen[key]
        for (level, _name, _text), seen in pending:
            logger.log(level, "%s %s", seen.message, _repeated(seen.suppressed, now - seen.first))


def _repeated(count: int, seconds: float) -> str:
    return f"(repeated {count} time{'s' if count != 1 else ''} in the last {seconds:.0f}s)"


def install(logger: logging.Logger, window: float = 10.0) -> RepeatFilter:
    """The logger's RepeatFilter, added on first use (clients share one per logger)."""
    for existing in logger.filters:
        if isinstance(existing, RepeatFilter):
            return existing
    repeat = RepeatFilter(window)
    logger.addFilter(repeat)
    return repeat
