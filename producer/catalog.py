"""What `datagen list` prints: domains, streams, event types, parameters (driftable ones too), anomaly
patterns and bundled scenarios."""

from __future__ import annotations

from producer.domains import SPECS, STREAMS, emitted_with
from producer.scenario.loader import BUNDLED_DIR, bundled_names, read_yaml


def render_catalog() -> str:
    """A readable listing of everything datagen can emit and play."""
    lines = ["streams (topic = <prefix><domain>.<stream>):"]
    by_domain: dict[str, list[str]] = {}
    for name in sorted(SPECS):
        by_domain.setdefault(SPECS[name].domain, []).append(name)
    for domain, names in by_domain.items():
        lines.append(f"  {domain}")
        for name in names:
            spec = SPECS[name]
            lines.append(f"    {name}  key={spec.key_field}  schema=schemas/{spec.schema}")
            if spec.description:
                lines.append(f"      {spec.description}")
            lines.append(f"      event types: {', '.join(spec.event_types)}")
            if name in STREAMS:
                generator = STREAMS[name]
                lines.append(f"      parameters: {', '.join(generator.Params.model_fields)}")
                # what a scenario's drift blocks may move, and what its injection windows may boost
                lines.append(f"      driftable: {', '.join(generator.driftable) or '(none)'}")
                lines.append(f"      anomaly patterns: {', '.join(generator.patterns) or '(none)'}")
            if emitted_with(name):
                lines.append(f"      also emitted by: {', '.join(emitted_with(name))}")
    lines.append("bundled scenarios:")
    for name in bundled_names():
        path = BUNDLED_DIR / f"{name}.yaml"
        data = read_yaml(path)
        description = (data.get("description") or "").strip().splitlines() if isinstance(data, dict) else []
        lines.append(f"  {path.stem:<18} {description[0] if description else ''}")
    return "\n".join(lines)
