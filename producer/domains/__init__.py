"""Domain stream generators, registered by stream name ("<domain>.<stream>")."""

from __future__ import annotations

from producer.domains.common.base import StreamGenerator, StreamSpec
from producer.domains.ecommerce.customers import CustomersGenerator
from producer.domains.fintech.circles import CirclesGenerator
from producer.domains.fintech.remittances import RemittancesGenerator
from producer.domains.fintech.sessions import SessionsGenerator
from producer.domains.fintech.transactions import TransactionsGenerator
from producer.domains.telco.accounts import AccountsGenerator
from producer.domains.telematics.driving_events import TelematicsGenerator

# Adding a stream (docs/adding_a_stream.md): one module producer/domains/<domain>/<stream>.py and one line here.
STREAMS: dict[str, type[StreamGenerator]] = {
    gen.spec.name: gen
    for gen in (
        TransactionsGenerator,
        CustomersGenerator,
        CirclesGenerator,
        AccountsGenerator,
        SessionsGenerator,
        RemittancesGenerator,
        TelematicsGenerator,
    )
}


def _all_specs() -> dict[str, StreamSpec]:
    specs: dict[str, StreamSpec] = {}
    for gen in STREAMS.values():
        for spec in (gen.spec, *gen.companions):
            specs.setdefault(spec.name, spec)
    return specs


# every stream a topic can exist for: the configurable ones and those emitted alongside them
SPECS: dict[str, StreamSpec] = _all_specs()


def emitted_with(stream: str) -> list[str]:
    """The configurable streams whose generators emit `stream` as a companion."""
    return sorted(name for name, gen in STREAMS.items() if any(c.name == stream for c in gen.companions))


def output_specs(streams: list[str]) -> list[StreamSpec]:
    """Specs of every stream the given configured streams write to (theirs and their companions)."""
    out: dict[str, StreamSpec] = {}
    for name in streams:
        gen = STREAMS[name]
        for spec in (gen.spec, *gen.companions):
            out.setdefault(spec.name, spec)
    return list(out.values())


def stream_class(name: str) -> type[StreamGenerator]:
    """The generator class of a stream; KeyError lists the valid names."""
    try:
        return STREAMS[name]
    except KeyError:
        raise KeyError(f"unknown stream {name!r}; known: {', '.join(sorted(STREAMS))}") from None
