"""The end-of-run summary: events and bytes per topic, failures, achieved rate."""

from __future__ import annotations

from producer.observability.stats import RunStats, TopicTotals


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def _row(name: str, width: int, t: TopicTotals) -> str:
    """One line of the summary table."""
    return f"  {name:<{width}}  {t.produced:>10}  {t.delivered:>10}  {t.failed:>7}  {_bytes(t.delivered_bytes):>10}"


def _sum(rows: list[tuple[str, TopicTotals]]) -> TopicTotals:
    out = TopicTotals()
    for _, t in rows:
        out.produced += t.produced
        out.delivered += t.delivered
        out.failed += t.failed
        out.delivered_bytes += t.delivered_bytes
    return out


def _rate_line(delivered: int, generated: int, producing: float, flush_seconds: float, outstanding: int) -> str:
    """Delivered events per second; a flush that timed out waited on a dead broker and is left out of the rate."""
    seconds = producing if outstanding else producing + flush_seconds
    rate = delivered / seconds if seconds > 0 else 0.0
    line = f"  achieved rate: {rate:,.0f} events/s over {seconds:.1f}s of producing"
    if outstanding:
        line += f"; flush timed out after {flush_seconds:.1f}s with {outstanding} outstanding (not in the rate)"
    else:
        line += f" (flush took {flush_seconds:.1f}s of it)"
    return f"{line}; {generated} events generated"


def _labels_line(counts: dict[str, int]) -> str:
    """What became of the delayed labels: none is lost without a count."""
    return (
        f"  delayed labels: {counts['made']} made; {counts['sent_when_due']} sent when due, "
        f"{counts['sent_early']} sent before due (run ended or queue full), {counts['held_at_end']} held at the end"
    )


def _table(stats: RunStats) -> tuple[list[str], TopicTotals, TopicTotals]:
    """The table's lines (domain topics, then derived ones, each group with its subtotal when both exist),
    and the totals of domain events and of every record."""
    with stats.lock:
        rows = sorted(stats.topics.items())
        derived_topics = set(stats.derived_topics)
    domain = [(name, t) for name, t in rows if name not in derived_topics]
    derived = [(name, t) for name, t in rows if name in derived_topics]
    events, records = _sum(domain), _sum(rows)
    names = [name for name, _ in rows] + (["derived records"] if derived else [])
    width = max([len("topic")] + [len(name) for name in names])
    lines = [f"  {'topic':<{width}}  {'produced':>10}  {'delivered':>10}  {'failed':>7}  {'bytes':>10}"]
    lines += [_row(name, width, t) for name, t in domain]
    if derived:
        lines.append(_row("domain events", width, events))
        lines += [_row(name, width, t) for name, t in derived]
        lines.append(_row("derived records", width, _sum(derived)))
    lines.append(_row("total", width, records))
    return lines, events, records


def render_summary(
    stats: RunStats, producing: float, ended_by: str, outstanding: int = 0, flush_seconds: float = 0.0
) -> str:
    """A small table a person reads at the end of a run.

    `producing` is the time until the scheduler stopped, `flush_seconds` the final flush, and
    `outstanding` what that flush left undelivered when it timed out. The achieved rate counts
    domain events only: records derived from them (ground truth, labels, oracle answers) are
    listed apart.
    """
    with stats.lock:
        produced_types = sum(stats.produced_by_type.values())
    lines = [f"summary: scenario={stats.scenario} ended_by={ended_by} elapsed={producing + flush_seconds:.1f}s"]
    table, events, records = _table(stats)
    lines += table
    rate = _rate_line(events.delivered, produced_types, producing, flush_seconds, outstanding)
    derived = records.delivered - events.delivered
    if derived:
        rate += f"; {derived} derived records delivered (ground truth, labels, answers), not in the rate"
    lines.append(rate)
    if stats.delayed_labels is not None:
        lines.append(_labels_line(stats.delayed_labels))
    if records.failed or outstanding:
        lines.append(f"  failures: {records.failed} failed; first error: {stats.first_error}")
    return "\n".join(lines)
