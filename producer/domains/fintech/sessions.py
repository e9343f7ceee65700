"""fintech.sessions: Lakay user-service logins and sessions, with account takeover and impossible travel.

Each arrival is one login episode of a user drawn by (heavy-tailed) activity: login-attempt followed
by login-failed (retried seconds later, up to the lockout threshold) or login-success, then
session-started, user-action-performed events spread over the session and session-ended. Genuine
users log in from their own devices and places and never move faster than they could travel (road
locally, a flight with airport time otherwise). Injected episodes, labelled on every event:
account_takeover (a new device, IP and place, credential failures, sensitive actions) and
impossible_travel (a genuine login, then a second one from a city so far away so soon that the
implied speed exceeds an airliner's; 30% of anomaly_injection_rate, as the seed says).

Timing is natural: events carry their real instants. A session's actions are not materialised up
front: an active session is one slot of a fixed-size pool (max_active_sessions) holding its next
action time, and each block emits what has fallen due, so memory is O(active sessions), bounded by
the parameter and independent of run length. Should the arrival rate need more slots than 75% of
the pool, session and travel timelines are compressed by the factor that fits (payload durations
stay natural); a burst beyond the pool ends the soonest-ending sessions early (end_reason timeout).

Warm start (`prime`, before the scheduler's burn-in, at the partition's paced rate): the pool is
filled with the sessions a long-running process has open, as many as arrival rate x success x mean
length; being open, their lengths are length-biased, their ages uniform over them, and each has
performed the actions (sequence numbers) that fell in its elapsed part (sessions_warm). The
impossible-travel second logins still to come are queued by replaying the last IT_MAX_DELAY_H of
first logins. Both are what scheduled_before counts, so pacing sees them like any other session.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar

import numpy as np
from pydantic import Field, field_validator

from producer.domains.common.base import (
    BlockContext,
    DomainParams,
    Part,
    StreamGenerator,
    StreamSpec,
    World,
    check_weights,
    uuids,
)
from producer.domains.common.columns import Micros
from producer.domains.common.sampling import pick
from producer.domains.fintech.population import population
from producer.domains.fintech.sessions_parts import PATTERNS, Chains, Emitted, emit_logins, episode_columns
from producer.domains.fintech.sessions_tables import (
    ACTION_NAMES,
    ACTIONS,
    ATO,
    ATO_ACTION_AFFINITY,
    ATO_FAILURE_RATE,
    DEFAULT_ACTION_WEIGHTS,
    END_REASONS,
    EXPIRED_OTP_SHARE,
    HOUR_US,
    IT_FIRST,
    IT_MAX_DELAY_H,
    LOGOUT_SHARE,
    NORMAL,
    ROW_KEYS,
    UserPool,
    login_chain_expectation,
    lognormal_integer_mean,
    simulate_logins,
    user_agents,
)
from producer.domains.fintech.sessions_warm import clipped_lognormal_parts, open_sessions
from producer.domains.fintech.takeover import LOGIN, TakeoverPlan, in_chain

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
SECOND_US = 1_000_000
NEVER = np.iinfo(np.int64).max
MAX_ACTIONS, DURATION_CLIP_S = 300, (5.0, 8 * 3600.0)
END_REASON_NAMES = np.array(END_REASONS, dtype=object)
IT_SHARE = 0.3  # of anomaly_injection_rate, per the seed
POOL_FILL = 0.75  # share of max_active_sessions the rate may use before timelines are compressed


class SessionDuration(DomainParams):
    """Log-normal session length in seconds (median e^6 ≈ 7 minutes)."""

    log_normal_mean: float = Field(6.0, ge=0.0, le=10.0)
    log_normal_std: float = Field(1.0, gt=0.0, le=3.0)


class ActionsPerSession(DomainParams):
    """Log-normal number of actions in a session, rounded, at least 1 (median e^2 ≈ 7)."""

    log_normal_mean: float = Field(2.0, ge=-1.0, le=5.5)
    log_normal_std: float = Field(0.8, gt=0.0, le=3.0)


class SessionParams(DomainParams):
    """Parameters of fintech.sessions (seed table plus login and pool extras).

    Injection rates are per-arrival probabilities: account_takeover_injection_rate for a takeover
    episode, 0.3 * anomaly_injection_rate for an impossible-travel pair.
    """

    num_users: int = Field(500, ge=1, le=5_000_000, description="size of the bounded user pool")
    time_span_days: int = Field(
        90,
        ge=1,
        le=3650,
        description=(
            "window before the run over which users' previous logins are spread (their starting place is home)"
        ),
    )
    session_duration_distribution: SessionDuration = Field(default_factory=SessionDuration)
    actions_per_session_distribution: ActionsPerSession = Field(default_factory=ActionsPerSession)
    anomaly_injection_rate: Rate = 0.03
    account_takeover_injection_rate: Rate = 0.01
    account_takeover_chain_rate: float = Field(
        0.002,
        ge=0.0,
        le=1.0,
        description=(
            "account-takeover chains per user per event-hour (a takeover session, then fraudulent transactions "
            "and a remittance, one truth.episode_id), over the users sessions, transactions and remittances share"
        ),
    )
    device_diversity: int = Field(2, ge=1, le=8, description="most devices a user logs in from")
    location_diversity: int = Field(3, ge=1, le=8, description="most places a user logs in from")
    action_type_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_ACTION_WEIGHTS))
    login_failure_rate: Rate = Field(0.08, description="share of genuine login attempts that fail")
    retry_probability: Rate = Field(0.85, description="chance a user tries again after a failed attempt")
    lockout_threshold: int = Field(5, ge=1, le=20, description="consecutive failures that lock the account")
    max_active_sessions: int = Field(200_000, ge=64, le=5_000_000, description="bound on in-flight sessions")

    @field_validator("action_type_weights")
    @classmethod
    def _known_nonnegative_actions(cls, v: dict[str, float]) -> dict[str, float]:
        return check_weights(v, ACTIONS, "action types")


def _injection_rates(p: SessionParams, ctx: BlockContext | None = None) -> tuple[float, float]:
    """Per-arrival probabilities of an impossible-travel pair and a takeover, scaled down if over 1."""
    boost = ctx.boost if ctx is not None else (lambda _: 1.0)
    pi = IT_SHARE * p.anomaly_injection_rate * boost("impossible_travel")
    pa = p.account_takeover_injection_rate * boost("account_takeover")
    scale = 1.0 / max(1.0, pi + pa)
    return pi * scale, pa * scale


def expected_events_per_arrival(p: SessionParams, ctx: BlockContext | None = None) -> float:
    """Mean events one arrival yields under `p` (and ctx's boosts): attempts and outcomes, plus a session on success."""
    d = p.actions_per_session_distribution
    session = 2 + lognormal_integer_mean(d.log_normal_mean, d.log_normal_std, 1, MAX_ACTIONS)

    def episode(fail: float, retry: float) -> float:
        attempts, success = login_chain_expectation(fail, retry, p.lockout_threshold)
        return 2 * attempts + success * session

    pi, pa = _injection_rates(p, ctx)
    genuine = episode(p.login_failure_rate, p.retry_probability)
    return (1 - pi - pa) * genuine + pa * episode(ATO_FAILURE_RATE, 1.0) + pi * 2 * genuine


class SessionsGenerator(StreamGenerator[SessionParams]):
    """Login episodes and sessions of a bounded user pool; sessions live in a bounded slot pool."""

    spec = StreamSpec(
        name="fintech.sessions",
        key_field="user_id",
        event_types={
            "login-attempt": "datagen.fintech.sessions.LoginAttempt",
            "login-success": "datagen.fintech.sessions.LoginSuccess",
            "login-failed": "datagen.fintech.sessions.LoginFailed",
            "session-started": "datagen.fintech.sessions.SessionStarted",
            "user-action-performed": "datagen.fintech.sessions.UserActionPerformed",
            "session-ended": "datagen.fintech.sessions.SessionEnded",
        },
        source_service="user-service",
        schema="fintech/sessions.avsc",
        description="Login attempts, successes and failures, sessions and in-session actions of Lakay users; "
        "account takeover and impossible travel labelled.",
    )
    Params = SessionParams
    driftable = (
        "session_duration_distribution",
        "actions_per_session_distribution",
        "anomaly_injection_rate",
        "account_takeover_injection_rate",
        "account_takeover_chain_rate",
        "action_type_weights",
        "login_failure_rate",
        "retry_probability",
    )
    patterns = ("account_takeover", "impossible_travel")
    pool_fields = ("num_users", "max_active_sessions")
    pacing_span_s = 10.0  # a session's actions come over minutes: re-plan within every 10 s window
    events_per_arrival: ClassVar[float] = expected_events_per_arrival(SessionParams())

    uses_world = True

    def __init__(self, params: SessionParams, rng: np.random.Generator, world: World | None = None) -> None:
        super().__init__(params, rng)
        world = world if world is not None else World.of(rng)
        users = population(world, params.num_users)
        self._users = UserPool(rng, users, params.device_diversity, params.location_diversity, params.time_span_days)
        self._chains = TakeoverPlan(world, LOGIN)  # the takeover logins of chains (see takeover.py)
        self._user_ids = self._users.user_ids
        # the session pool, one slot per active session (NEVER marks a free slot)
        cap = params.max_active_sessions
        self._next = np.full(cap, NEVER, np.int64)
        self._start, self._end = np.zeros(cap, np.int64), np.zeros(cap, np.int64)
        self._left, self._done = np.zeros(cap, np.int32), np.zeros(cap, np.int32)
        self._slot_user, self._slot_kind = np.zeros(cap, np.int64), np.zeros(cap, np.int8)
        self._slot_injected = np.zeros(cap, bool)  # the session's episode was drawn inside an injection window
        self._slot_episode = np.full(cap, None, dtype=object)  # the account-takeover chain of the session
        self._duration_s = np.zeros(cap)
        self._sid, self._corr = np.empty(cap, dtype=object), np.empty(cap, dtype=object)
        self._second_logins: dict[str, np.ndarray] | None = None  # impossible-travel second logins not yet due
        self._horizon: int | None = None

    @property
    def active_sessions(self) -> int:
        """Sessions started and not yet ended (at most max_active_sessions)."""
        return int(np.count_nonzero(self._next != NEVER))

    @property
    def scheduled_events(self) -> int:
        """Events the active sessions will still emit (remaining actions and their session-ended)."""
        active = self._next != NEVER
        return int(self._left[active].sum()) + int(active.sum())

    @property
    def waiting_second_logins(self) -> int:
        """Impossible-travel second logins scheduled but not yet due."""
        return 0 if self._second_logins is None else len(self._second_logins["time"])

    def scheduled_before(self, mark_us: int) -> float:
        """Expected actions and ends of active sessions before `mark_us`, and events of waiting second logins.

        A session's next action is at `_next`, its other `_left - 1` uniform over (`_next`, `_end`),
        and its session-ended at `_end`; a second login brings its login chain (attempts and answers,
        session-started) at least.
        """
        due = np.flatnonzero(self._next < mark_us)
        expected = 0.0
        if len(due):
            nxt, end, left = self._next[due], self._end[due], self._left[due]
            inside = np.clip((mark_us - nxt) / np.maximum(end - nxt, 1), 0.0, 1.0)
            expected = float(np.sum(np.where(left > 0, 1.0 + (left - 1) * inside + (end < mark_us), 1.0)))
        if self._second_logins is not None and len(self._second_logins["time"]):
            expected += 3.0 * int(np.count_nonzero(self._second_logins["time"] < mark_us))
        return expected

    def arrivals(self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[SessionParams]) -> list[Part]:
        """Login episodes at the arrivals, then every session action and end that has fallen due."""
        times = np.asarray(times_us, dtype=np.int64)
        n = len(times)
        if n == 0:
            return []
        p = ctx.params
        scale = self._time_scale(times, p)
        users = self._users.draw(rng, n)
        pi, pa = _injection_rates(p, ctx)
        u = rng.random(n)
        kind = np.where(u < pi, IT_FIRST, np.where(u < pi + pa, ATO, NORMAL)).astype(np.int8)
        if self.waiting_second_logins >= self.params.max_active_sessions // 8:
            kind[kind == IT_FIRST] = NORMAL  # keep the waiting second logins bounded too
        injected = np.array([ctx.injects(pattern) for pattern in PATTERNS])[kind]
        rows = self._with_chain_logins(rng, self._users.access(rng, times, users, kind, injected), times)
        horizon = int(times[-1])
        rows = self._with_due_second_logins(rows, self._users.second_logins(rng, rows, scale), horizon)
        out = Emitted()
        opened = self._logins(rng, ctx, rows, out)
        self._open(rng, p, opened, scale, int(times[0]), out)
        self._advance(rng, ctx, horizon, out)
        self._horizon = horizon
        return out.parts(self.spec.name, self.spec.source_service, ctx)

    def _with_chain_logins(
        self, rng: np.random.Generator, rows: dict[str, np.ndarray], times: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The block's login rows plus the takeover logins of chains due in its span (after its arrivals)."""
        steps = self._chains.due(int(times[0]), int(times[-1]))
        if not len(steps):
            return rows
        kind = np.full(len(steps), ATO, np.int8)
        chain = self._users.access(rng, steps.time_us, steps.user, kind, steps.injected)
        chain["episode"] = steps.episode_id
        chain["device_id"], chain["device_type"] = steps.device_id, steps.device_type  # the attacker's, every step
        chain["ua"] = user_agents(steps.device_type, rng.random(len(steps)))
        return {k: np.concatenate([rows[k], chain[k]]) for k in ROW_KEYS}

    def _time_scale(self, times: np.ndarray, p: SessionParams) -> float:
        """1.0, or the compression that keeps expected active sessions, plus a block's new ones, in the pool."""
        prev = self._horizon
        span = int(times[-1]) - (prev if prev is not None else int(times[0]))
        count = len(times) if prev is not None else len(times) - 1
        if count <= 0 or span <= 0:
            return 1.0
        return self._compression(p, count / span * SECOND_US, len(times))  # a block's sessions open at once

    def _compression(self, p: SessionParams, arrivals_per_s: float, block: int) -> float:
        """1.0, or the compression that keeps expected active sessions, plus `block` new ones, in 75% of the pool."""
        d = p.session_duration_distribution
        needed = arrivals_per_s * math.exp(d.log_normal_mean + d.log_normal_std**2 / 2)
        room = POOL_FILL * self.params.max_active_sessions - block
        return min(1.0, max(room, 0.0) / needed) if needed > 0 else 1.0

    def prime(self, rng: np.random.Generator, ctx: BlockContext[SessionParams]) -> None:
        """Open the sessions, and queue the impossible-travel second logins, a long-running process has in flight.

        Their numbers are arrival rate x success x mean length (Little's law) at ctx's rate; the sessions
        are drawn stationary (see sessions_warm), the second logins by replaying the last
        IT_MAX_DELAY_H of first logins (users move as they did) and keeping those still to come.
        Emits nothing; the slots and the queue are what scheduled_before counts for pacing.
        """
        if not ctx.event_rate > 0:
            return
        p = ctx.params
        arrivals_per_s = ctx.event_rate / expected_events_per_arrival(p, ctx)
        scale = self._compression(p, arrivals_per_s, 0)
        self._prime_sessions(rng, ctx, arrivals_per_s, scale)
        self._prime_second_logins(rng, ctx, arrivals_per_s, scale)

    def _prime_sessions(
        self, rng: np.random.Generator, ctx: BlockContext[SessionParams], arrivals_per_s: float, scale: float
    ) -> None:
        """Fill free slots with the sessions open at ctx's instant, by kind as logins open them."""
        p = ctx.params
        d, a = p.session_duration_distribution, p.actions_per_session_distribution
        pi, pa = _injection_rates(p, ctx)
        genuine = login_chain_expectation(p.login_failure_rate, p.retry_probability, p.lockout_threshold)[1]
        takeover = login_chain_expectation(ATO_FAILURE_RATE, 1.0, p.lockout_threshold)[1]
        opened = np.array([(1 - pi - pa) * genuine, pa * takeover, pi * genuine, pi * genuine])  # by kind, per arrival
        mean_s = sum(clipped_lognormal_parts(d.log_normal_mean, d.log_normal_std, *DURATION_CLIP_S)) * scale
        free, room = np.flatnonzero(self._next == NEVER), POOL_FILL * len(self._next)
        n = min(int(rng.poisson(min(arrivals_per_s * opened.sum() * mean_s, room))), int(room), len(free))
        if not n:
            return
        s = open_sessions(
            rng,
            n,
            ctx.time_us,
            scale,
            (d.log_normal_mean, d.log_normal_std, DURATION_CLIP_S),
            (a.log_normal_mean, a.log_normal_std, MAX_ACTIONS),
        )
        slots, kind = free[:n], pick(opened, rng.random(n)).astype(np.int8)
        self._next[slots], self._start[slots], self._end[slots] = s.next_at, s.start, s.end
        self._left[slots], self._done[slots], self._duration_s[slots] = s.left, s.done, s.duration_s
        self._slot_user[slots], self._slot_kind[slots] = self._users.draw(rng, n), kind
        self._slot_injected[slots] = np.array([ctx.injects(pattern) for pattern in PATTERNS])[kind]
        self._slot_episode[slots] = None  # primed sessions belong to no chain
        ids = uuids(rng, 2 * n)
        self._sid[slots], self._corr[slots] = ids[:n], ids[n:]

    def _prime_second_logins(
        self, rng: np.random.Generator, ctx: BlockContext[SessionParams], arrivals_per_s: float, scale: float
    ) -> None:
        """Queue the second logins of impossible-travel pairs whose first came before ctx's instant."""
        pi = _injection_rates(ctx.params, ctx)[0]
        window_us = IT_MAX_DELAY_H * HOUR_US * scale  # no second login comes later than this after its first
        cap = self.params.max_active_sessions
        m = int(rng.poisson(min(arrivals_per_s * pi * window_us / SECOND_US, cap // 2)))
        if not m:
            return
        times = np.sort(ctx.time_us - (rng.random(m) * window_us).astype(np.int64))
        users = self._users.draw(rng, m)
        injected = np.full(m, ctx.injects("impossible_travel"))
        first = self._users.access(rng, times, users, np.full(m, IT_FIRST, np.int8), injected)
        second = self._users.second_logins(rng, first, scale)
        waiting = np.flatnonzero(second["time"] > ctx.time_us)[: cap // 8]  # arrivals() keeps them under this
        self._second_logins = {k: v[waiting] for k, v in second.items()}

    def _with_due_second_logins(
        self, rows: dict[str, np.ndarray], new: dict[str, np.ndarray], horizon: int
    ) -> dict[str, np.ndarray]:
        """The block's login rows plus the waiting second logins that fall due by the horizon."""
        waiting = (
            new
            if self._second_logins is None
            else {k: np.concatenate([self._second_logins[k], new[k]]) for k in ROW_KEYS}
        )
        due = waiting["time"] <= horizon
        self._second_logins = {k: v[~due] for k, v in waiting.items()}
        return {k: np.concatenate([rows[k], waiting[k][due]]) for k in ROW_KEYS}

    def _logins(
        self, rng: np.random.Generator, ctx: BlockContext[SessionParams], rows: dict[str, np.ndarray], out: Emitted
    ) -> tuple[np.ndarray, ...]:
        """Each episode's attempts and answers, and session-started on success; returns the new sessions."""
        p, kind, auth = ctx.params, rows["kind"], rows["auth"]
        ato, n = kind == ATO, len(kind)
        n_att, success = simulate_logins(
            rng,
            np.where(ato, ATO_FAILURE_RATE, p.login_failure_rate),
            np.where(ato, 1.0, p.retry_probability),
            p.lockout_threshold,
        )
        success |= in_chain(rows["episode"])  # a chain's attacker gets in (at the last try)
        total = int(n_att.sum())
        src = np.repeat(np.arange(n), n_att)
        first = np.cumsum(n_att) - n_att
        pos = np.arange(total) - first[src]
        latency = (np.clip(rng.lognormal(math.log(0.25), 0.5, total), 0.04, 5.0) * SECOND_US).astype(np.int64)
        retry_gap = (np.clip(rng.lognormal(math.log(8.0), 0.6, total), 1.5, 120.0) * SECOND_US).astype(np.int64)
        offset = np.cumsum(latency + retry_gap) - (latency + retry_gap)
        attempt_at = rows["time"][src] + offset - offset[first[src]]
        answer_at = attempt_at + latency
        won = (pos == n_att[src] - 1) & success[src]
        opened = np.flatnonzero(success)
        s = len(opened)
        start_at = answer_at[won] + (np.clip(rng.lognormal(math.log(0.08), 0.5, s), 0.01, 1.0) * SECOND_US).astype(
            np.int64
        )
        reason = np.choose(auth[src], [0, 1, np.where(rng.random(total) < EXPIRED_OTP_SHARE, 3, 2)])
        ids = uuids(rng, 3 * total + n + 2 * s)
        corr = np.array(ids[3 * total : 3 * total + n], dtype=object)
        sid = np.empty(n, dtype=object)
        sid[opened] = ids[3 * total + n : 3 * total + n + s]
        episodes = episode_columns(rows, self._user_ids[rows["user"]], corr, sid)
        chains = Chains(src, pos, attempt_at, answer_at, won, reason, opened, start_at)
        emit_logins(out, episodes, chains, ids, p.lockout_threshold)
        return (
            rows["user"][opened],
            kind[opened],
            start_at,
            sid[opened],
            corr[opened],
            rows["injected"][opened],
            rows["episode"][opened],
        )

    def _open(
        self,
        rng: np.random.Generator,
        p: SessionParams,
        opened: tuple[np.ndarray, ...],
        scale: float,
        now: int,
        out: Emitted,
    ) -> None:
        """Give each new session a pool slot with its length, action count and first action time."""
        users, kinds, start, sids, corrs, injected, episodes = opened
        k = len(start)
        if not k:
            return
        cap = len(self._next)
        if k > cap:  # a burst beyond the whole pool: eviction frees at most the pool, so open it a pool at a time
            for at in range(0, k, cap):
                self._open(rng, p, tuple(column[at : at + cap] for column in opened), scale, now, out)
            return
        d, a = p.session_duration_distribution, p.actions_per_session_distribution
        duration = np.clip(rng.lognormal(d.log_normal_mean, d.log_normal_std, k), *DURATION_CLIP_S)
        actions = np.clip(np.rint(rng.lognormal(a.log_normal_mean, a.log_normal_std, k)), 1, MAX_ACTIONS)
        free = np.flatnonzero(self._next == NEVER)
        if len(free) < k:
            self._evict(rng, k - len(free), now, out)
            free = np.flatnonzero(self._next == NEVER)
        slots = free[:k]
        end = start + np.maximum((duration * scale * SECOND_US).astype(np.int64), 1)
        # actions are k uniform instants over the session, drawn in order: the next is the minimum of the rest
        self._next[slots] = start + ((end - start) * (1.0 - rng.random(k) ** (1.0 / actions))).astype(np.int64)
        self._start[slots], self._end[slots], self._duration_s[slots] = start, end, duration
        self._left[slots], self._done[slots] = actions, 0
        self._slot_user[slots], self._slot_kind[slots], self._sid[slots], self._corr[slots] = users, kinds, sids, corrs
        self._slot_injected[slots] = injected
        self._slot_episode[slots] = episodes

    def _evict(self, rng: np.random.Generator, need: int, now: int, out: Emitted) -> None:
        """Pool full: end the sessions that would end soonest, now (a burst beyond max_active_sessions)."""
        active = np.flatnonzero(self._next != NEVER)
        victims = active[np.argpartition(self._end[active], need - 1)[:need]]
        self._end_sessions(rng, victims, np.maximum(now, self._start[victims] + 1), out, early=True)

    def _advance(self, rng: np.random.Generator, ctx: BlockContext[SessionParams], horizon: int, out: Emitted) -> None:
        """Emit every action and session end due by the horizon, one per session per round."""
        p = ctx.params
        weights = np.array([p.action_type_weights.get(a, 0.0) for a in ACTIONS])
        ato_weights = weights * ATO_ACTION_AFFINITY if (weights * ATO_ACTION_AFFINITY).sum() > 0 else weights
        # only a session that acted in a round can be due in the next: scan the pool once, then them
        due = np.flatnonzero(self._next <= horizon)
        while len(due):
            acting = self._left[due] > 0
            self._end_sessions(rng, due[~acting], self._end[due[~acting]], out, early=False)
            slots = due[acting]
            m = len(slots)
            if not m:
                break
            t, end, left = self._next[slots], self._end[slots], self._left[slots] - 1
            ato = self._slot_kind[slots] == ATO
            u, action = rng.random(m), np.empty(m, np.int64)
            action[~ato], action[ato] = pick(weights, u[~ato]), pick(ato_weights, u[ato])
            frac = 1.0 - rng.random(m) ** (1.0 / np.maximum(left, 1))
            self._next[slots] = np.where(left > 0, t + ((end - t) * frac).astype(np.int64), end)
            self._left[slots] = left
            self._done[slots] += 1
            ids = uuids(rng, 2 * m)
            who = self._sessions(slots)
            performed = {"session_id": who["sid"], "user_id": who["uid"], "action_id": ids[:m]}
            performed.update(action_type=ACTION_NAMES[action], sequence_number=self._done[slots].astype(np.int64))
            performed.update(performed_at=Micros(t))
            out.add("user-action-performed", t, who, ids[m:], performed)
            due = slots[self._next[slots] <= horizon]

    def _sessions(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """Who the sessions in `slots` are: user id, session and correlation ids, kind and injected flag."""
        return {
            "uid": self._user_ids[self._slot_user[slots]],
            "sid": self._sid[slots],
            "corr": self._corr[slots],
            "kind": self._slot_kind[slots],
            "injected": self._slot_injected[slots],
            "episode": self._slot_episode[slots],
        }

    def _end_sessions(
        self, rng: np.random.Generator, slots: np.ndarray, at: np.ndarray, out: Emitted, *, early: bool
    ) -> None:
        """session-ended for the given slots at the given instants, freeing the slots."""
        m = len(slots)
        if not m:
            return
        start, end = self._start[slots], self._end[slots]
        seconds = self._duration_s[slots] * (np.minimum((at - start) / (end - start), 1.0) if early else 1.0)
        reason = np.where(~early & (rng.random(m) < LOGOUT_SHARE), 0, 1)  # pushed out of the pool: timeout
        who = self._sessions(slots)
        ended = {"session_id": who["sid"], "user_id": who["uid"], "duration_seconds": np.round(seconds, 3)}
        ended.update(action_count=self._done[slots].astype(np.int64), end_reason=END_REASON_NAMES[reason])
        ended.update(ended_at=Micros(at))
        out.add("session-ended", at, who, uuids(rng, m), ended)
        self._next[slots] = NEVER
        self._sid[slots] = self._corr[slots] = self._slot_episode[slots] = None
