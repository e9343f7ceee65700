"""A part lives only while a row needs it: held follow-ups, merge buffers and taken rows do not pin whole blocks.

Before, a generator's held follow-ups kept the whole block they came from (every column and every
cached encoding or Event of it), and emptied buffers kept their parts: a 25-minute soak grew to
937 MiB where the previous release stayed at 127 MiB.
"""

from __future__ import annotations

import numpy as np

from producer.domains.common.base import Event
from producer.domains.common.rows import RowSet, as_parts
from producer.domains.fintech.transactions import TransactionParams, TransactionsGenerator
from tests.unit.domains import helpers


def rows_of(stream: str, times: list[int]) -> RowSet:
    """One EventsPart of bare events at `times`."""
    events = [Event(stream, "k", t, {"truth": None}) for t in times]
    return RowSet.of_parts(as_parts(events))


def test_held_follow_ups_are_kept_in_parts_of_their_own() -> None:
    """Held rows (completions seconds ahead) live in new parts of held rows only, never in a block's own parts."""
    gen = TransactionsGenerator(TransactionParams(), np.random.default_rng(1))
    rng, ctx = np.random.default_rng(2), helpers.context(gen.params)
    produced: set[int] = set()
    arrivals = gen.arrivals

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        parts = arrivals(*args, **kwargs)
        produced.update(part.uid for part in parts)
        return parts

    gen.arrivals = recorded  # type: ignore[method-assign]
    for times in helpers.arrival_blocks(1_767_225_600_000_000, 5, 1_000, 1_000):
        gen.generate_rows(rng, times, ctx)
        assert len(gen._held) > 0 and produced
        assert not set(gen._held.parts) & produced  # a block's parts go once its due rows are taken


def test_rows_taken_to_the_end_keep_no_part() -> None:
    rows = rows_of("s", [1, 2, 3])
    assert rows.take(slice(3, None)).parts == {}
    assert rows.take(np.array([], dtype=np.int64)).parts == {}


def test_concatenated_rows_forget_the_parts_they_no_longer_use() -> None:
    a, b, c = rows_of("a", [1, 2]), rows_of("b", [3]), rows_of("c", [4, 5])
    only_b = RowSet.concat([a, b]).take(np.array([2]))  # b's row, over the parts of a and b
    both = RowSet.concat([only_b, c])
    assert set(both.parts) == set(b.parts) | set(c.parts)
