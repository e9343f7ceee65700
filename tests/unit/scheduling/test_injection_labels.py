"""truth.injected over three cycles of fraud_burst: bursts raise the labelled share five-fold, and
episodes that outlive their burst say so instead of counting as background."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

from producer.domains.common.base import Event

CYCLE_S, QUIET_S = 90.0, 60.0  # fraud_burst: a 60 s quiet phase, then a 30 s burst, repeated
MAIN_STREAMS = ("fintech.transactions", "fintech.sessions", "telco.accounts", "telematics.driving-events")


# every test reads the three cycles of fraud_burst (~540k events, ~15 s to generate once per session,
# shared with test_labels.py: tests/unit/scheduling/conftest.py)
pytestmark = pytest.mark.slow


def shares(events: list[Event]) -> dict[str, dict[str, float]]:
    """Per topic: labelled share inside bursts, background share outside (carried-over excluded), carried-over."""
    count: Counter[tuple[str, str]] = Counter()
    for e in events:
        truth = e.value["truth"]
        where = "in" if truth["phase"] == "burst" else "out"
        count[e.stream, where] += 1
        if truth["is_anomaly"]:
            carried = where == "out" and truth.get("injected", False)
            count[e.stream, "carried" if carried else where + "_anomalous"] += 1
    return {
        s: {
            "inside": count[s, "in_anomalous"] / count[s, "in"],
            "background": count[s, "out_anomalous"] / count[s, "out"],
            "carried": count[s, "carried"],
        }
        for s in {s for s, _ in count}
    }


def test_bursts_raise_the_labelled_share_five_fold_against_the_background(fraud_burst_three_cycles):
    _, events = fraud_burst_three_cycles
    measured = shares(events)
    for stream in MAIN_STREAMS:
        share = measured[stream]
        # seed 13 gives 9.0x (telco) to 28x (sessions), background without carried-over; the
        # requirement is 5x. Counting carried-over as background, sessions and telematics fall to
        # ~3x (the defect this guards against).
        assert share["inside"] >= 5 * share["background"], (stream, share)
    # the sessions, telematics and circles that outlive their window are there and labelled
    for stream in ("fintech.sessions", "telematics.driving-events", "fintech.circles"):
        assert measured[stream]["carried"] > 50, (stream, measured[stream])


def episode_of(event: Event, circle_of: dict[str, str]) -> tuple[Any, ...]:
    """The anomaly episode an event belongs to, by what identifies one on its stream.

    An account-takeover chain's (its truth.episode_id, on three topics); a circle's (its events, and its
    contributions and payouts on fintech.transactions, which share a circle event's correlation_id); a
    trip's pattern window; else the entity's episodes of a pattern.
    """
    truth, corr = event.value["truth"], event.value["correlation_id"]
    if truth.get("episode_id"):  # an account-takeover chain: its session, transactions and remittance
        return ("chain", truth["episode_id"])
    if event.stream == "fintech.circles":
        return ("circle", event.key)
    if event.stream == "fintech.transactions" and corr in circle_of:
        return ("circle", circle_of[corr])
    if event.stream.startswith("telematics."):
        return ("trip", corr, truth["pattern"])
    return (event.stream, event.key, truth["pattern"])


def test_carried_over_events_are_anomalous_and_their_episodes_began_in_a_burst(fraud_burst_three_cycles):
    source, events = fraud_burst_three_cycles
    circle_of = {e.value["correlation_id"]: e.key for e in events if e.stream == "fintech.circles"}
    began: dict[tuple[Any, ...], float] = {}  # an episode's first event: a circle's creation, else its first injected
    for e in events:
        episode = episode_of(e, circle_of)
        if episode[0] == "circle" or e.value["truth"]["injected"]:
            began.setdefault(episode, source.tau_of(e))
    carried = [e for e in events if e.value["truth"]["injected"] and e.value["truth"]["phase"] != "burst"]
    assert carried
    for e in carried:
        assert e.value["truth"]["is_anomaly"], e
        assert source.tau_of(e) % CYCLE_S < QUIET_S, e  # outside a burst by its own time
        assert began[episode_of(e, circle_of)] % CYCLE_S >= QUIET_S, e  # its episode began inside one
    assert all(e.value["truth"]["is_anomaly"] for e in events if e.value["truth"]["injected"])


def test_every_event_of_an_episode_keeps_its_injected_label(fraud_burst_three_cycles):
    """A login episode and its session (one correlation_id), a trip's window, a ghost line: one label each."""
    _, events = fraud_burst_three_cycles
    labels: defaultdict[tuple[Any, ...], set[bool]] = defaultdict(set)
    for e in events:
        truth = e.value["truth"]
        if not truth["is_anomaly"]:
            continue
        if e.stream == "fintech.sessions" or e.stream.startswith("telematics."):
            labels[e.stream, e.value["correlation_id"], truth["pattern"]].add(truth["injected"])
        elif e.stream == "telco.accounts" and truth["pattern"] == "ghost_line":
            labels["ghost_line", e.value["payload"]["line_id"]].add(truth["injected"])
    assert {stream for stream, *_ in labels} >= {"fintech.sessions", "telematics.driving-events", "ghost_line"}
    assert all(len(seen) == 1 for seen in labels.values()), [k for k, seen in labels.items() if len(seen) > 1][:5]
