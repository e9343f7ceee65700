"""Domain stream generators, registered by stream name ("<domain>.<stream>")."""

from __future__ import annotations

from producer.domains.base import StreamGenerator
from producer.domains.fintech_transactions import TransactionsGenerator

# Adding a stream: one module under producer/domains/ and one line here.
STREAMS: dict[str, type[StreamGenerator]] = {
    gen.spec.name: gen
    for gen in (
        TransactionsGenerator,
    )
}


def stream_class(name: str) -> type[StreamGenerator]:
    """The generator class of a stream; KeyError lists the valid names."""
    try:
        return STREAMS[name]
    except KeyError:
        raise KeyError(f"unknown stream {name!r}; known: {', '.join(sorted(STREAMS))}") from None
