"""The end-of-run summary: events and bytes per topic, failures, achieved rate."""

from __future__ import annotations

from producer.observability.stats import RunStats


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def render_summary(stats: RunStats, elapsed: float, ended_by: str, outstanding: int = 0) -> str:
    """A small table a person reads at the end of a run."""
    with stats.lock:
        rows = sorted(stats.topics.items())
        produced_types = sum(stats.produced_by_type.values())
    lines = [f"summary: scenario={stats.scenario} ended_by={ended_by} elapsed={elapsed:.1f}s"]
    width = max([len("topic")] + [len(t) for t, _ in rows])
    lines.append(f"  {'topic':<{width}}  {'produced':>10}  {'delivered':>10}  {'failed':>7}  {'bytes':>10}")
    total_delivered = total_failed = total_bytes = total_produced = 0
    for topic, t in rows:
        lines.append(f"  {topic:<{width}}  {t.produced:>10}  {t.delivered:>10}  {t.failed:>7}  {_bytes(t.delivered_bytes):>10}")
        total_produced += t.produced
        total_delivered += t.delivered
        total_failed += t.failed
        total_bytes += t.delivered_bytes
    lines.append(f"  {'total':<{width}}  {total_produced:>10}  {total_delivered:>10}  {total_failed:>7}  {_bytes(total_bytes):>10}")
    rate = total_delivered / elapsed if elapsed > 0 else 0.0
    lines.append(f"  achieved rate: {rate:,.0f} events/s ({produced_types} events generated)")
    if total_failed or outstanding:
        lines.append(f"  failures: {total_failed} failed; first error: {stats.first_error}")
    return "\n".join(lines)
