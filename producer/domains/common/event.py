"""One generated event, as the rest of datagen sees it when it wants Python values."""

from __future__ import annotations

from operator import itemgetter
from typing import Any, NamedTuple


class Event(NamedTuple):
    """One generated event: the stream it belongs to, its key, event time and Avro-ready value.

    A NamedTuple rather than a frozen dataclass: it is built once per event on the hot path.
    """

    stream: str
    key: str
    time_us: int
    value: dict[str, Any]

    @property
    def event_type(self) -> str:
        """The envelope's event type."""
        return self.value["event_type"]


# an Event's fields by position: C-level getters for map() and sort keys over a block's events
EVENT_STREAM, EVENT_KEY, EVENT_TIME, EVENT_VALUE = (itemgetter(i) for i in range(len(Event._fields)))
