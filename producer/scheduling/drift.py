"""Drift and injection plans: for a stream and a scenario instant, its effective params and boosts.

A drift block moves dotted parameter paths from the value they have when the block applies
toward a target, by p(t) of its curve. Blocks apply in file order, so overlapping drifts compose
(a later block starts from what earlier ones made). Drifts restart with each pass of a repeating
scenario. Everything here is a pure function of the scenario and the instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from producer.domains.common.base import DomainParams
from producer.scenario.model import DriftBlock, InjectBlock, Scenario
from producer.scheduling.timeline import Timeline


def get_path(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted path in nested dicts (KeyError if absent)."""
    node: Any = data
    for part in path.split("."):
        node = node[part]
    return node


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at a dotted path in nested dicts."""
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[last] = value


def interpolate(base: Any, target: Any, p: float) -> Any:
    """base + p * (target - base) for numbers and (nested) dicts of numbers; ints stay ints."""
    if isinstance(base, dict) and isinstance(target, dict):
        out = dict(base)
        for key in set(base) | set(target):
            out[key] = interpolate(base.get(key, 0.0), target.get(key, base.get(key, 0.0)), p)
        return out
    if isinstance(base, bool) or isinstance(target, bool):
        return target if p >= 0.5 else base
    if isinstance(base, (int, float)) and isinstance(target, (int, float)):
        value = base + p * (target - base)
        return round(value) if isinstance(base, int) and isinstance(target, int) else value
    if isinstance(base, list) and isinstance(target, list) and len(base) == len(target):
        return [interpolate(a, b, p) for a, b in zip(base, target)]
    return target if p >= 0.5 else base


@dataclass(frozen=True)
class _Scheduled:
    start: float  # scenario seconds from the start of a pass
    end: float
    block: DriftBlock | InjectBlock


def _block_progress(item: _Scheduled, within: float) -> float:
    """p of one scheduled drift block at an offset into the pass: 0 before it (and after it unless it persists)."""
    block = item.block
    assert isinstance(block, DriftBlock)
    if within < item.start or (within >= item.end and not block.persist):
        return 0.0
    return block.curve.progress_at(min(within, item.end) - item.start, item.end - item.start)


class DriftPlan:
    """Every drift and injection block of a scenario, placed on the pass timeline, per stream."""

    def __init__(self, scenario: Scenario, base: dict[str, DomainParams]) -> None:
        self.timeline = Timeline(scenario)
        self.base = base
        self.drifts: dict[str, list[_Scheduled]] = {}
        self.injections: dict[str, list[_Scheduled]] = {}
        for index, phase in enumerate(scenario.phases):
            offset, length = self.timeline.phase_start(index), self.timeline.durations[index]
            for block in phase.drift:
                start, end = block.bounds(length)
                self.drifts.setdefault(block.stream, []).append(_Scheduled(offset + start, offset + end, block))
            for inject in phase.inject:
                start, end = inject.bounds(length)
                self.injections.setdefault(inject.stream, []).append(_Scheduled(offset + start, offset + end, inject))
        self._cached = lru_cache(maxsize=512)(self._build)

    def _within(self, tau: float) -> float:
        return tau - self.timeline.at(tau).cycle * self.timeline.cycle

    def progress(self, stream: str, tau: float) -> tuple[float, ...]:
        """p of each drift block of `stream` at `tau` (None-free; 0 before a block starts)."""
        within = self._within(tau)
        return tuple(_block_progress(item, within) for item in self.drifts.get(stream, ()))

    def _largest(self, stream: str, within: float) -> float:
        """The largest p of the stream's blocks at an offset into the pass, each rounded as params_at does."""
        return max((round(_block_progress(item, within), 4) for item in self.drifts.get(stream, ())), default=0.0)

    def drift_progress(self, stream: str, tau: float) -> float:
        """The stream's drift progress at `tau`: the largest p of its blocks, each rounded as params_at does."""
        if stream not in self.drifts:
            return 0.0
        return self._largest(stream, self._within(tau))

    def drift_progress_many(self, stream: str, taus: list[float]) -> list[float]:
        """drift_progress at each instant, with the pass resolved once when they share one."""
        if stream not in self.drifts or not taus:
            return [0.0] * len(taus)
        cycle = self.timeline.at(min(taus)).cycle
        if self.timeline.at(max(taus)).cycle != cycle:
            return [self.drift_progress(stream, tau) for tau in taus]
        offset = cycle * self.timeline.cycle  # the same offset _within subtracts (the pass is monotone in tau)
        return [self._largest(stream, tau - offset) for tau in taus]

    def steady(self, stream: str, tau0: float, tau1: float) -> bool:
        """True when no drift block of `stream` changes its progress between `tau0` and `tau1` (inclusive)."""
        items = self.drifts.get(stream)
        if not items:
            return True
        cycle = self.timeline.at(tau0).cycle
        if self.timeline.at(tau1).cycle != cycle:
            return False
        low, high = tau0 - cycle * self.timeline.cycle, tau1 - cycle * self.timeline.cycle
        # before a window p is 0; after it p holds (persist) or is 0: only a window's inside moves
        return all(high < item.start or low >= item.end for item in items)

    def params_at(self, stream: str, tau: float) -> tuple[DomainParams, float]:
        """Effective params of `stream` at `tau` and its drift progress (the largest active p)."""
        if stream not in self.drifts:
            return self.base[stream], 0.0
        progress = tuple(round(p, 4) for p in self.progress(stream, tau))
        return self._cached(stream, progress), max(progress, default=0.0)

    def _build(self, stream: str, progress: tuple[float, ...]) -> DomainParams:
        base = self.base[stream]
        if not any(progress):
            return base
        values = base.model_dump()
        for item, p in zip(self.drifts[stream], progress):
            if p <= 0:
                continue
            block = item.block
            assert isinstance(block, DriftBlock)
            for path, target in block.params.items():
                set_path(values, path, interpolate(get_path(values, path), target, p))
        return type(base).model_validate(values)

    def boosts_at(self, stream: str, tau: float) -> dict[str, float]:
        """pattern -> multiplier for the injection windows of `stream` open at `tau`."""
        windows = self.injections.get(stream)
        if not windows:
            return {}
        within = self._within(tau)
        out: dict[str, float] = {}
        for item in windows:
            if item.start <= within < item.end:
                block = item.block
                assert isinstance(block, InjectBlock)
                out[block.pattern] = max(out.get(block.pattern, 0.0), block.multiplier)
        return out
