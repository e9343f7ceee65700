"""RunStats.on_rows counts a batch of rows from its parts' columns exactly as on_produced counts its Events."""

from __future__ import annotations

from collections import Counter

from producer.domains import output_specs
from producer.observability.stats import RunStats


def test_rows_are_counted_as_their_events(every_stream_rows) -> None:
    """Per topic, per (topic, event type) and per injected pattern: equal counts, no tolerance (seed 5)."""
    loaded, batches = every_stream_rows
    topic_of = {spec.name: "p." + spec.name for spec in output_specs(list(loaded.scenario.streams))}
    by_rows, by_events = RunStats(), RunStats()
    for rows in batches:
        records = Counter({"p.fintech.transactions": len(rows)})
        by_rows.on_rows(rows, topic_of, records)
        by_events.on_produced(rows.events(), topic_of, records)
    assert by_rows.produced_by_type == by_events.produced_by_type
    assert by_rows.injected == by_events.injected
    assert by_rows.totals() == by_events.totals()
    assert sum(by_rows.produced_by_type.values()) == sum(map(len, batches))
    # the window injects two patterns, and generators draw others: both columnar and Events parts count
    assert by_rows.injected[("p.fintech.transactions", "fraud")] > 10
    assert {topic for topic, _ in by_rows.injected} >= {"p.fintech.transactions", "p.fintech.sessions"}
