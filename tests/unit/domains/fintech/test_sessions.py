"""fintech.sessions: episode shape, travel realism, injections, bounds, parameters (generic: test_conformance)."""

from __future__ import annotations

import dataclasses
import math
import re
import statistics
from collections import Counter, defaultdict
from functools import cached_property, partial
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.stats import ks_2samp

from producer.domains.common.base import Event, to_datetime
from producer.domains.fintech.sessions import (
    MAX_ACTIONS,
    NEVER,
    SECOND_US,
    SessionParams,
    SessionsGenerator,
    expected_events_per_arrival,
)
from producer.domains.fintech.sessions_tables import (
    SENSITIVE_ACTIONS,
    haversine_km,
    login_chain_expectation,
    lognormal_integer_mean,
)
from tests.unit.domains import helpers
from tests.unit.domains.helpers import drive, of_type, pattern_of

SPEC = SessionsGenerator.spec
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
BLOCK = 256
HOUR_US = 3_600_000_000
AIRLINER_KMH = 1000.0


class Run(helpers.Run[SessionsGenerator]):
    @cached_property
    def episodes(self) -> dict[str, list[Event]]:
        """Events per login episode (correlation id), in emission order."""
        groups: dict[str, list[Event]] = defaultdict(list)
        for e in self.events:
            groups[e.value["correlation_id"]].append(e)
        return groups


# drive generate() the way the scheduler does: blocks of 256 evenly spaced arrival instants (seed 7 unless given)
run = partial(drive, SessionsGenerator, blocks=40, block_size=BLOCK, spacing_us=50_000, start_us=START_US, into=Run)


@pytest.fixture(scope="module")
def default_run() -> Run:
    return run(blocks=20)  # 5,120 arrivals 50 ms apart (4.3 minutes), ~45k events, seed 7


@pytest.fixture(scope="module")
def long_run() -> Run:
    return run(seed=11, blocks=20, spacing_us=4_000_000)  # 5,120 arrivals 4 s apart: 5.7 hours, sessions complete


@pytest.fixture(scope="module")
def travel_run() -> Run:
    return run(seed=5, blocks=15, spacing_us=120_000_000)  # 3,840 arrivals 2 minutes apart: 5.3 days


@pytest.fixture(scope="module")
def sample(sample_of: Any) -> Run:
    """The shared conformance sample: every event type, both patterns boosted, for the per-episode rules."""
    shared = sample_of(SPEC.name).run
    return Run(shared.blocks, shared.times, shared.generator, shared.held)


def genuine(e: Event) -> bool:
    return not e.value["truth"]["is_anomaly"]


# --- shape of the stream -------------------------------------------------------------------------------


def test_key_and_event_instant(sample: Run) -> None:
    at = {
        "login-attempt": "attempted_at",
        "login-success": "succeeded_at",
        "login-failed": "failed_at",
        "session-started": "started_at",
        "user-action-performed": "performed_at",
        "session-ended": "ended_at",
    }
    for e in sample.events:
        v = e.value
        assert e.key == v["payload"]["user_id"]
        assert v["payload"][at[e.event_type]] == v["timestamp"] == to_datetime(e.time_us)


def test_login_episodes_have_the_seed_shape(sample: Run) -> None:
    lockout = SessionParams().lockout_threshold
    episodes = sample.episodes.values()
    assert sum(e.event_type == "session-ended" for es in episodes for e in es) > 20
    for events in episodes:
        ordered = sorted(events, key=lambda e: e.time_us)  # ties keep emission order (stable sort)
        assert len({e.key for e in ordered}) == 1 and len({pattern_of(e) for e in ordered}) == 1
        logins = [e for e in ordered if e.event_type.startswith("login-")]
        kinds = [e.event_type for e in logins]
        assert kinds[0::2] == ["login-attempt"] * len(kinds[0::2])
        answers = kinds[1::2]
        assert all(k == "login-failed" for k in answers[:-1])  # only the last answer may be a success
        for n, (attempt, answer) in enumerate(zip(logins[0::2], logins[1::2]), start=1):
            assert attempt.value["payload"]["attempt_id"] == answer.value["payload"]["attempt_id"]
            assert answer.time_us > attempt.time_us
            if answer.event_type == "login-failed":
                p = answer.value["payload"]
                assert p["consecutive_failures"] == n and p["account_locked"] == (n == lockout)
            else:
                assert answer.value["payload"]["attempt_number"] == n
        rest = ordered[len(logins) :]
        if answers and answers[-1] == "login-success":
            session_id = logins[-1].value["payload"]["session_id"]
            if rest:
                assert rest[0].event_type == "session-started"
                assert all(e.value["payload"]["session_id"] == session_id for e in rest)
                assert rest[0].value["payload"]["device_id"] == logins[0].value["payload"]["device_id"]
                _check_session(rest)
        else:
            assert not rest


def _check_session(events: list[Event]) -> None:
    actions = [e for e in events if e.event_type == "user-action-performed"]
    assert [a.value["payload"]["sequence_number"] for a in actions] == list(range(1, len(actions) + 1))
    assert all(e.event_type != "session-started" for e in events[1:])
    ended = [e for e in events if e.event_type == "session-ended"]
    if ended:
        assert events[-1] is ended[0] and len(ended) == 1
        p = ended[0].value["payload"]
        assert p["action_count"] == len(actions) >= 1
        # no compression at this rate: the payload duration is the timestamps' difference
        assert abs((ended[0].time_us - events[0].time_us) / 1e6 - p["duration_seconds"]) < 0.01


def test_session_length_and_actions_follow_the_log_normals(long_run: Run) -> None:
    cutoff = START_US + 2 * HOUR_US  # sessions started in the first 2 h of 5.7 have (almost) all ended
    started = {
        e.value["payload"]["session_id"] for e in of_type(long_run.events, "session-started") if e.time_us < cutoff
    }
    ended = [
        e.value["payload"]
        for e in of_type(long_run.events, "session-ended")
        if e.value["payload"]["session_id"] in started
    ]
    assert len(ended) > 0.99 * len(started) > 1500
    logs = [math.log(p["duration_seconds"]) for p in ended]
    assert abs(statistics.fmean(logs) - 6.0) < 0.075  # mean log duration 6.0 ± 0.075 (3 se) on ~1.7k, seed 11
    assert abs(statistics.stdev(logs) - 1.0) < 0.05  # std 1.0 ± 0.05 (2.9 se)
    counts = [p["action_count"] for p in ended]
    expected = lognormal_integer_mean(2.0, 0.8, 1, MAX_ACTIONS)
    assert abs(statistics.fmean(counts) / expected - 1) < 0.05  # mean actions ≈ 10.2 ± 5%
    assert statistics.median(counts) == 7  # rint(e^2)
    assert Counter(p["end_reason"] for p in ended)["logout"] / len(ended) == pytest.approx(0.6, abs=0.03)


def test_action_mix_follows_weights(default_run: Run) -> None:
    actions = [
        e.value["payload"]["action_type"] for e in of_type(default_run.events, "user-action-performed") if genuine(e)
    ]
    counts = Counter(actions)
    for action, w in SessionParams().action_type_weights.items():
        assert abs(counts[action] / len(actions) - w) < 0.01, action  # e.g. 30% ± 1 pp (3.6 sd) on ~27k, seed 7


def test_login_failures_follow_the_rate(default_run: Run) -> None:
    answers = [e for e in default_run.events if e.event_type in ("login-failed", "login-success") and genuine(e)]
    failed = sum(e.event_type == "login-failed" for e in answers)
    assert abs(failed / len(answers) - 0.08) < 0.012  # 8% of genuine attempts ± 1.2 pp (3 sd) on ~5k, seed 7
    reasons = Counter(e.value["payload"]["failure_reason"] for e in of_type(default_run.events, "login-failed"))
    assert set(reasons) == {"invalid_password", "biometric_failed", "invalid_otp", "expired_otp"}


def test_devices_user_agents_and_places_are_the_users_own(default_run: Run) -> None:
    attempts = [e.value["payload"] for e in of_type(default_run.events, "login-attempt") if genuine(e)]
    devices: dict[str, set[str]] = defaultdict(set)
    places: dict[str, set[tuple[float, float]]] = defaultdict(set)
    for p in attempts:
        devices[p["user_id"]].add(p["device_id"])
        places[p["user_id"]].add((p["geo_location"]["latitude"], p["geo_location"]["longitude"]))
        assert re.fullmatch(r"device_[0-9a-f]{16}", p["device_id"])
        assert all(0 <= int(o) <= 255 for o in p["ip_address"].split("."))
        os = {"ios": "iOS/", "android": "Android/", "web_mobile": "Mobile", "web_desktop": "Mozilla/5.0"}
        assert os[p["device_type"]] in p["user_agent"]
        assert p["auth_method"] != "biometric" or p["device_type"] in ("ios", "android")
        assert (p["geo_location"]["state"] is None) == (p["geo_location"]["country"] == "HT")
    assert max(len(d) for d in devices.values()) <= 2  # device_diversity
    assert max(len(d) for d in places.values()) <= 3  # location_diversity
    assert len(devices) <= 500
    types = Counter(p["device_type"] for p in attempts)
    assert types["android"] > types["ios"] > types["web_desktop"] > 0
    assert Counter(p["geo_location"]["country"] for p in attempts).keys() == {"US", "HT"}


def test_genuine_consecutive_logins_are_travel_plausible(travel_run: Run) -> None:
    per_user: dict[str, list[tuple[int, float, float, str]]] = defaultdict(list)
    for e in of_type(travel_run.events, "login-attempt"):
        if pattern_of(e) is None or e.value["truth"]["risk_level"] == "medium":  # the user's own logins
            g = e.value["payload"]["geo_location"]
            per_user[e.key].append((e.time_us, g["latitude"], g["longitude"], g["city"]))
    moves = pairs = 0
    for logins in per_user.values():
        logins.sort()
        for (t0, la0, lo0, c0), (t1, la1, lo1, c1) in pairwise(logins):
            km = float(haversine_km(la0, lo0, la1, lo1))
            if km > 0:
                pairs += 1
                assert km / max((t1 - t0) / HOUR_US, 1e-9) < 800, (km, t1 - t0)  # slower than a flight
                moves += c0 != c1 and km > 500
    assert pairs > 500 and moves > 10  # users do move between their places, and some fly to another city


# --- injections ----------------------------------------------------------------------------------------


def test_risk_levels_by_pattern(sample: Run) -> None:
    risk = {None: (None,), "account_takeover": ("high", "medium"), "impossible_travel": ("high", "medium")}
    for e in sample.events:
        assert e.value["truth"]["risk_level"] in risk[pattern_of(e)]


def first_attempts(r: Run, pattern: str | None) -> list[Event]:
    """The first login-attempt of every episode with the given label."""
    return [
        events[0]
        for events in r.episodes.values()
        if events[0].event_type == "login-attempt" and pattern_of(events[0]) == pattern
    ]


def test_account_takeover_shape(default_run: Run) -> None:
    takeovers = first_attempts(default_run, "account_takeover")
    assert abs(len(takeovers) / default_run.arrivals - 0.01) < 0.004  # 1% ± 0.4 pp (2.9 sd) of 5,120 arrivals, seed 7
    own = [e.value["payload"] for e in of_type(default_run.events, "login-attempt") if pattern_of(e) is None]
    devices, ips, homes = defaultdict(set), defaultdict(set), defaultdict(Counter)
    for p in own:
        devices[p["user_id"]].add(p["device_id"])
        ips[p["user_id"]].add(p["ip_address"])
        homes[p["user_id"]][p["geo_location"]["city"]] += 1
    for e in takeovers:
        p, user = e.value["payload"], e.key
        assert p["device_id"] not in devices[user] and p["ip_address"] not in ips[user]
        if homes[user]:
            assert p["geo_location"]["city"] != homes[user].most_common(1)[0][0]
        assert p["auth_method"] in ("password", "otp") and e.value["truth"]["risk_level"] == "high"
    ato_actions = [
        e.value["payload"]["action_type"]
        for e in of_type(default_run.events, "user-action-performed")
        if pattern_of(e) == "account_takeover"
    ]
    own_actions = [
        e.value["payload"]["action_type"]
        for e in of_type(default_run.events, "user-action-performed")
        if pattern_of(e) is None
    ]
    share = lambda actions: sum(a in SENSITIVE_ACTIONS for a in actions) / len(actions)  # noqa: E731
    assert len(ato_actions) > 100
    assert share(ato_actions) > 0.75 and share(own_actions) < 0.25  # ~83% vs 19% sensitive
    fails = [e for e in of_type(default_run.events, "login-failed") if pattern_of(e) == "account_takeover"]
    assert len(fails) / len(takeovers) > 0.4  # attackers fail more (40% per attempt) than users (8%)


def impossible_travel_pairs(r: Run) -> list[tuple[Event, Event]]:
    """Each second login of an impossible-travel pair with the user's latest first login before it."""
    firsts: dict[str, list[Event]] = defaultdict(list)
    for e in first_attempts(r, "impossible_travel"):
        if e.value["truth"]["risk_level"] == "medium":
            firsts[e.key].append(e)
    pairs = []
    for e in first_attempts(r, "impossible_travel"):
        if e.value["truth"]["risk_level"] == "high":
            before = [f for f in firsts[e.key] if f.time_us < e.time_us]
            assert before, "a second login without its first"
            pairs.append((max(before, key=lambda f: f.time_us), e))
    return pairs


def implied_speed_kmh(a: Event, b: Event) -> float:
    ga, gb = a.value["payload"]["geo_location"], b.value["payload"]["geo_location"]
    km = float(haversine_km(ga["latitude"], ga["longitude"], gb["latitude"], gb["longitude"]))
    return km / ((b.time_us - a.time_us) / HOUR_US)


def test_impossible_travel_implies_a_speed_beyond_an_airliner(long_run: Run) -> None:
    pairs = impossible_travel_pairs(long_run)
    firsts = [e for e in first_attempts(long_run, "impossible_travel") if e.value["truth"]["risk_level"] == "medium"]
    # 30% of the 3% anomaly rate: 0.9% ± 0.4 pp (3 sd) of 5,120 arrivals, seed 11
    assert abs(len(firsts) / long_run.arrivals - 0.009) < 0.004
    early = [e for e in firsts if e.time_us < long_run.last_us - 3 * HOUR_US]
    assert len(pairs) >= len(early) > 10  # second logins come within 3 hours; later ones are still waiting
    for first, second in pairs:
        assert implied_speed_kmh(first, second) > AIRLINER_KMH
        assert first.value["payload"]["geo_location"]["city"] != second.value["payload"]["geo_location"]["city"]
    assert all(
        pattern_of(e) == "impossible_travel" for _, s in pairs for e in long_run.episodes[s.value["correlation_id"]]
    )


def test_injection_boost_multiplies_rates() -> None:
    r = run(blocks=10, injection={"account_takeover": 5.0, "impossible_travel": 0.0})
    takeovers = first_attempts(r, "account_takeover")
    assert abs(len(takeovers) / r.arrivals - 0.05) < 0.01  # 5% ± 1 pp on 2,560 arrivals, seed 7
    assert not first_attempts(r, "impossible_travel")


def test_zero_rates_give_clean_traffic() -> None:
    r = run(SessionParams(anomaly_injection_rate=0, account_takeover_injection_rate=0), blocks=5)
    assert not any(e.value["truth"]["is_anomaly"] for e in r.events)
    assert len(first_attempts(r, None)) == r.arrivals


# --- rates, bounds, determinism, parameters ------------------------------------------------------------


def test_events_per_arrival_is_honest(default_run: Run) -> None:
    g = default_run.generator
    p = SessionParams()
    attempts, success = login_chain_expectation(0.08, 0.85, 5)
    episode = 2 * attempts + success * (2 + lognormal_integer_mean(2.0, 0.8, 1, MAX_ACTIONS))
    produced = len(default_run.events) + g.pending_count + g.scheduled_events + g.waiting_second_logins * episode
    assert SessionsGenerator.events_per_arrival == pytest.approx(expected_events_per_arrival(p))
    assert produced / default_run.arrivals == pytest.approx(SessionsGenerator.events_per_arrival, rel=0.03)


def _open_state(g: SessionsGenerator, now_us: int) -> dict[str, np.ndarray]:
    """What is in flight at now_us: open sessions' ages, natural lengths, actions done and to come; waits."""
    open_ = np.flatnonzero(g._next != NEVER)
    waiting = g._second_logins["time"] if g._second_logins is not None else np.empty(0)
    return {
        "age": (now_us - g._start[open_]) / 1e6,
        "duration": g._duration_s[open_],
        "done": g._done[open_].astype(float),
        "left": g._left[open_].astype(float),
        "wait": (waiting - now_us) / 1e6,
    }


WARM_PARAMS = SessionParams(anomaly_injection_rate=0.3, max_active_sessions=8_000)  # no compression: ~600 needed
# one arrival per 1.2 s: the long run's state is half the size it would be at 0.6 s, for half the cost
WARM_SPACING_US = 1_200_000


@pytest.fixture(scope="module")
def long_run_state() -> dict[str, np.ndarray]:
    """In flight after 2.5 hours run cold at 1 arrival per 1.2 s (impossible travel at 9%, so enough waits)."""
    r = helpers.Driver(SessionsGenerator, WARM_PARAMS, block_size=BLOCK, seed=1).run(START_US, 30, WARM_SPACING_US)
    return _open_state(r.generator, r.last_us)


@pytest.mark.parametrize("primed", [True, pytest.param(False, marks=pytest.mark.xfail(strict=True))])
def test_prime_opens_the_sessions_of_a_long_run(long_run_state: dict[str, np.ndarray], primed: bool) -> None:
    # The long run holds ~600 open sessions and ~250 waiting second logins, aged up to hours (a
    # session older than its 2.5 h is ~0.4% of them). A generator primed at its rate and run for one
    # block of burn-in (here 307 s) must hold the same: counts within 25% (each side's Poisson noise
    # is ~4% and ~6%, so ~2.8 sd of the difference), and every distribution with KS p >= 1e-3 (seeds
    # 1, 2, 3). Unprimed, the burn-in's sessions are at most 307 s old: that must fail.
    driver = helpers.Driver(SessionsGenerator, WARM_PARAMS, block_size=BLOCK, seed=2)
    if primed:
        rate = SECOND_US / WARM_SPACING_US * expected_events_per_arrival(WARM_PARAMS)  # events/s the pacing asks
        ctx = dataclasses.replace(driver.ctx, time_us=START_US, event_rate=rate)
        driver.generator.prime(np.random.default_rng(3), ctx)
    burn_in = driver.run(START_US, 1, WARM_SPACING_US)
    state = _open_state(driver.generator, burn_in.last_us)
    for name in ("age", "wait"):
        assert len(state[name]) == pytest.approx(len(long_run_state[name]), rel=0.25), name
    for name, values in state.items():
        assert ks_2samp(values, long_run_state[name]).pvalue >= 1e-3, name


def test_in_flight_state_stays_bounded(default_run: Run) -> None:
    g = default_run.generator
    assert g.active_sessions < 12_000 < SessionParams().max_active_sessions  # ~20 sessions/s x ~10 min
    assert g.pending_count < 2_000  # only login answers and session starts seconds ahead


def test_small_pool_compresses_timelines_and_never_overflows() -> None:
    params = SessionParams(max_active_sessions=400)
    r = run(params, blocks=15, spacing_us=50_000)  # 20 sessions/s x 5.5 min would need ~6k slots
    assert r.generator.active_sessions <= 400
    ended = of_type(r.events, "session-ended")
    started = {e.value["payload"]["session_id"]: e.time_us for e in of_type(r.events, "session-started")}
    wall = [
        (e.time_us - started[e.value["payload"]["session_id"]]) / 1e6
        for e in ended
        if e.value["payload"]["session_id"] in started
    ]
    natural = [e.value["payload"]["duration_seconds"] for e in ended]
    assert len(ended) > 2000
    assert statistics.median(wall) < 0.1 * statistics.median(natural)  # compressed event times
    assert abs(math.log(statistics.median(natural)) - 6.0) < 0.15  # natural lengths in the payload
    counts = Counter(e.event_type for e in r.events)
    assert counts["session-ended"] > 0.9 * counts["session-started"]


def test_drifted_failure_rate_comes_from_ctx_params() -> None:
    drifted = SessionParams(login_failure_rate=0.3)
    r = run(blocks=8, ctx_params=drifted)
    answers = [e for e in r.events if e.event_type in ("login-failed", "login-success") and genuine(e)]
    assert abs(sum(e.event_type == "login-failed" for e in answers) / len(answers) - 0.3) < 0.03


def test_action_weights_override_gives_only_page_views() -> None:
    r = run(SessionParams(action_type_weights={"page_view": 1.0}, account_takeover_injection_rate=0.2), blocks=4)
    actions = of_type(r.events, "user-action-performed")
    assert actions and {e.value["payload"]["action_type"] for e in actions} == {"page_view"}


def test_defaults_match_the_seed() -> None:
    p = SessionParams()
    assert (p.num_users, p.time_span_days, p.device_diversity, p.location_diversity) == (500, 90, 2, 3)
    assert (p.session_duration_distribution.log_normal_mean, p.session_duration_distribution.log_normal_std) == (6, 1)
    assert (p.actions_per_session_distribution.log_normal_mean, p.actions_per_session_distribution.log_normal_std) == (
        2.0,
        0.8,
    )
    assert (p.anomaly_injection_rate, p.account_takeover_injection_rate) == (0.03, 0.01)
    assert set(p.action_type_weights) == {
        "page_view",
        "button_click",
        "form_submit",
        "circle_browse",
        "circle_join_request",
        "contribution_initiate",
        "remittance_initiate",
        "settings_change",
        "support_contact",
    }


# unknown keys, wrong types and numeric bounds are test_conformance's; these are the stream's own rules
@pytest.mark.parametrize(
    "bad",
    [
        {"action_type_weights": {"logout": 1.0}},
        {"action_type_weights": {"page_view": -1.0, "button_click": 2.0}},
        {"action_type_weights": {"page_view": 0.0}},
    ],
)
def test_invalid_action_weights_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        SessionParams(**bad)
    assert caught.value.errors()[0]["loc"][0] == "action_type_weights"


def test_small_pools_and_partial_overrides() -> None:
    params = SessionParams(
        num_users=3, device_diversity=1, location_diversity=1, session_duration_distribution={"log_normal_mean": 4.0}
    )
    assert params.session_duration_distribution.log_normal_std == 1.0
    r = run(params, blocks=3)
    assert len({e.key for e in r.events}) <= 3
    own = [e.value["payload"] for e in of_type(r.events, "login-attempt") if pattern_of(e) is None]
    assert len({p["device_id"] for p in own}) <= 3


def test_a_block_opening_more_sessions_than_the_pool_holds_ends_the_soonest_early() -> None:
    """A burst beyond the whole pool (300 starts, 64 slots) in one block: each start gets a slot, none is lost.

    It raised ValueError (a shape mismatch, or argpartition's kth out of bounds) before: eviction can free
    at most the whole pool, so the starts are opened in pool-sized chunks, each evicting the soonest-ending.
    Reached by `datagen run` with max_active_sessions: 64 at a high rate.
    """
    params = SessionParams(max_active_sessions=64, num_users=1_000)
    gen = SessionsGenerator(params, np.random.default_rng(1))
    rng, ctx = np.random.default_rng(2), helpers.context(params)
    events: list[Event] = []
    for times in helpers.arrival_blocks(1_767_225_600_000_000, 3, 1_000, 1_000):  # 1,000 arrivals in 1 s each
        events += gen.generate(rng, times, ctx)
        assert gen.active_sessions <= 64
    started = Counter(e.value["correlation_id"] for e in of_type(events, "session-started"))
    ended = Counter(e.value["correlation_id"] for e in of_type(events, "session-ended"))
    assert len(started) > 64 and max(started.values()) == 1 == max(ended.values())
    assert set(ended) <= set(started)  # each session ends once, after it started
