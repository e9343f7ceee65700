"""The end-of-run summary: events and bytes per topic, failures, achieved rate."""

from __future__ import annotations

from producer.observability.stats import RunStats


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def _row(name: str, width: int, produced: int, delivered: int, failed: int, nbytes: int) -> str:
    """One line of the summary table."""
    return f"  {name:<{width}}  {produced:>10}  {delivered:>10}  {failed:>7}  {_bytes(nbytes):>10}"


def _rate_line(delivered: int, generated: int, producing: float, flush_seconds: float, outstanding: int) -> str:
    """Delivered per second; a flush that timed out waited on a dead broker and is left out of the rate."""
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


def render_summary(
    stats: RunStats, producing: float, ended_by: str, outstanding: int = 0, flush_seconds: float = 0.0
) -> str:
    """A small table a person reads at the end of a run.

    `producing` is the time until the scheduler stopped, `flush_seconds` the final flush, and
    `outstanding` what that flush left undelivered when it timed out.
    """
    with stats.lock:
        rows = sorted(stats.topics.items())
        produced_types = sum(stats.produced_by_type.values())
    lines = [f"summary: scenario={stats.scenario} ended_by={ended_by} elapsed={producing + flush_seconds:.1f}s"]
    width = max([len("topic")] + [len(t) for t, _ in rows])
    lines.append(f"  {'topic':<{width}}  {'produced':>10}  {'delivered':>10}  {'failed':>7}  {'bytes':>10}")
    total_delivered = total_failed = total_bytes = total_produced = 0
    for topic, t in rows:
        lines.append(_row(topic, width, t.produced, t.delivered, t.failed, t.delivered_bytes))
        total_produced += t.produced
        total_delivered += t.delivered
        total_failed += t.failed
        total_bytes += t.delivered_bytes
    lines.append(_row("total", width, total_produced, total_delivered, total_failed, total_bytes))
    lines.append(_rate_line(total_delivered, produced_types, producing, flush_seconds, outstanding))
    if stats.delayed_labels is not None:
        lines.append(_labels_line(stats.delayed_labels))
    if total_failed or outstanding:
        lines.append(f"  failures: {total_failed} failed; first error: {stats.first_error}")
    return "\n".join(lines)
