"""Sou-sou circle lifecycle behind fintech.circles: per-circle state and the plan of its next steps.

Pure bookkeeping, no events and no clock: a `Circle` holds its members' standing and a queue of
planned steps; the generator pops one step per arrival and turns it into events. The creation and
the joins are planned when a circle opens; each contribution cycle is planned when the previous
one is done, from the (drift-aware) parameters of that moment. Calendar dates are day numbers
(days since 1970-01-01) following the circle's frequency. The compressed mode emits a whole
lifecycle within minutes of event time, so its calendar is history: it is moved back to end by the
creation day (`_backdate`), and no date of something that happened lies after its event.

Natural calendar (replay mode, `open_circle(..., natural=True)` then `natural_lifecycle`): the
same draws and rules, with the calendar made sequential so that the steps, timed at their dates,
keep their order: joins spread over the days up to three before the start, a cycle's drops fall on
or before three days ahead of its due date (contributions start two days ahead), missed
contributions are recorded at the end of the grace week among the received ones by date, and when
a cycle ends (payout, a colluder's drop) later than three days before the next due date, that due
date and all later ones slip by the difference: a late weekly circle runs behind its grid.

A cycle is planned in this order: completion check (nobody active is still owed a payout), forced
removals decided last cycle (two missed payments, a third late payment, a stolen identity caught),
voluntary drops (member_drop_rate per eligible member), one contribution per active member (missed
at miss_payment_rate, else late at late_payment_rate, per payment), then the payout to the next
member in the rotation, or the circle's failure. Injected episodes:

- collusion (per circle): the organizer, and in circles of six or more sometimes one accomplice,
  take the first rotation places, pay on time, and drop right after receiving their payout.
- fraud (per joining member other than the organizer): a stolen or synthetic identity that joins
  mostly unverified, pays with stolen cards, collects a payout if its turn comes first, and is
  removed by the organizer after 1-3 contributions once chargebacks arrive.

circle_failure_rate is decided per circle at creation: 30% of failing circles never fill
(insufficient_members, fewer members than member_range allows); the others collapse in a planned
cycle where most remaining members default (excessive_defaults). Circles that shrink by drops
carry on with a shorter rotation.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # fintech.circles imports this module at run time
    from producer.domains.fintech.circles import CircleParams

CREATED, JOINED, RECEIVED, MISSED, PAYOUT, DROPPED, FAILED, COMPLETED = range(8)
EVENT_TYPES = (
    "circle-created",
    "circle-member-joined",
    "circle-contribution-received",
    "circle-contribution-missed",
    "circle-payout-executed",
    "circle-member-dropped",
    "circle-failed",
    "circle-completed",
)
NORMAL, FRAUD, COLLUSION = range(3)
PATTERNS = (None, "fraud", "collusion")
FREQUENCIES = ("weekly", "biweekly", "monthly")
WEEKLY, BIWEEKLY, MONTHLY = range(3)
VOLUNTARY, MISSED_PAYMENTS, REMOVED = range(3)
DROP_REASONS = ("voluntary", "missed_payments", "removed")
INSUFFICIENT_MEMBERS, EXCESSIVE_DEFAULTS = range(2)
FAILURE_REASONS = ("insufficient_members", "excessive_defaults")
VERIFICATION = ("verified", "pending", "unverified")
# cumulative shares of verified, verified + pending (the rest unverified), per pattern
VERIFICATION_CDF = {NORMAL: (0.85, 0.97), FRAUD: (0.05, 0.45), COLLUSION: (1.0, 1.0)}

JOIN_FAILURE_SHARE = 0.3  # failing circles that never fill; the rest collapse mid-rotation
RANDOM_ROTATION_SHARE = 0.3  # the rest pay out in join order ("sequential")
MISSES_BEFORE_DROP = 2
LATES_BEFORE_REVIEW, LATE_REMOVAL_P = 3, 0.5  # a third late payment gets a member removed half the time
DEFAULT_WAVE_P = 0.6  # share of members who default in a failing circle's last cycle
MISS_GRACE_DAYS = 7  # a contribution not in within a week of its due date is recorded missed
FRAUD_CONTRIBUTIONS = (1, 3)  # a stolen identity is removed after this many contributions
SECOND_COLLUDER_P, SECOND_COLLUDER_MIN_SIZE = 0.4, 6
EPOCH_DATE = date(1970, 1, 1)
DAY_US = 86_400_000_000
LATE_Z_MAX = 5.0  # a backdated calendar leaves room for late payments up to mean + 5 std days
NO_HORIZON = 1 << 40  # natural calendars: no last day


@lru_cache(maxsize=8192)
def iso_day(day: int) -> str:
    """A day number (days since 1970-01-01) as an ISO-8601 calendar date."""
    return (EPOCH_DATE + timedelta(days=day)).isoformat()


def add_months(day: int, months: int) -> int:
    """The day number `months` calendar months after `day` (callers use the 1st or 15th, never clamped)."""
    d = EPOCH_DATE + timedelta(days=day)
    y, m = divmod(d.month - 1 + months, 12)
    return (date(d.year + y, m + 1, d.day) - EPOCH_DATE).days


class Draws:
    """Uniforms and standard normals from one block's generator, handed out one at a time."""

    __slots__ = ("_rng", "_u", "_z")

    def __init__(self, rng: np.random.Generator, n: int = 1024) -> None:
        self._rng = rng
        self._u: list[float] = rng.random(n).tolist()
        self._z: list[float] = rng.standard_normal(max(16, n // 16)).tolist()

    def u(self) -> float:
        """One uniform on [0, 1)."""
        if not self._u:
            self._u = self._rng.random(1024).tolist()
        return self._u.pop()

    def z(self) -> float:
        """One standard normal."""
        if not self._z:
            self._z = self._rng.standard_normal(256).tolist()
        return self._z.pop()


class Circle:
    """One sou-sou circle: its terms, its members' standing and its queue of planned steps."""

    # Annotated without defaults so that they sit alongside __slots__ (a class-level default would
    # clash with the slot); the slots keep circles in flight (up to max_active_circles) small.
    circle_id: str
    pool_id: str
    name: str
    members: list[int]  # user index per slot
    size: int
    frequency: int  # index into FREQUENCIES
    cents: int  # contribution per member and cycle
    created_day: int
    start_day: int
    random_rotation: bool
    rotation: list[int]  # slots in payout order
    fail_cycle: int  # 0: never fails, -1: never fills, else the cycle it collapses in
    colluders: int
    pattern: list[int]  # NORMAL, FRAUD or COLLUSION per slot
    injected: tuple[bool, ...]  # per pattern: drawn while an injection window boosted it (set by the generator)
    fraud_quota: list[int]
    horizon: int  # compressed mode: the last day any date may take (the creation day)
    steps: deque[tuple[Any, ...]]
    cycle: int
    active: list[bool]
    paid: list[bool]
    misses: list[int]
    lates: list[int]
    contributed: list[int]
    remove_next: list[tuple[int, int]]  # (slot, reason) removals that take effect next cycle
    paid_out: int
    dropped: int
    cycles_paid: int
    last_day: int
    done: bool
    natural: bool
    slip: int

    __slots__ = (
        "active",
        "cents",
        "circle_id",
        "colluders",
        "contributed",
        "created_day",
        "cycle",
        "cycles_paid",
        "done",
        "dropped",
        "fail_cycle",
        "fraud_quota",
        "frequency",
        "horizon",
        "injected",
        "last_day",
        "lates",
        "members",
        "misses",
        "name",
        "natural",
        "paid",
        "paid_out",
        "pattern",
        "pool_id",
        "random_rotation",
        "remove_next",
        "rotation",
        "size",
        "slip",
        "start_day",
        "steps",
    )

    def __init__(self) -> None:
        self.circle_id = self.pool_id = self.name = ""  # filled in by the generator
        self.steps = deque()
        self.cycle = self.paid_out = self.dropped = self.cycles_paid = 0
        self.remove_next = []
        self.done = self.natural = False
        self.injected = (False,) * len(PATTERNS)
        self.slip = 0  # days a natural calendar runs behind its frequency grid
        self.horizon = NO_HORIZON

    def due_day(self, cycle: int) -> int:
        """Due date (day number) of a cycle's contributions, from the start date and the frequency."""
        if self.frequency == MONTHLY:
            return add_months(self.start_day, cycle - 1) + self.slip
        return self.start_day + (7 if self.frequency == WEEKLY else 14) * (cycle - 1) + self.slip

    def remaining(self) -> int:
        """Members still in the circle."""
        return sum(self.active)


def _pick(weights: dict[str, float], u: float) -> int:
    """Index into FREQUENCIES drawn by one uniform from a weight table."""
    total, acc = sum(weights.get(f, 0.0) for f in FREQUENCIES), 0.0
    for i, f in enumerate(FREQUENCIES):
        acc += weights.get(f, 0.0)
        if u * total < acc:
            return i
    return max(i for i, f in enumerate(FREQUENCIES) if weights.get(f, 0.0) > 0)


def contribution_cents(low: float, high: float, u: float) -> int:
    """A log-uniform amount in [low, high], rounded to $5 like real circles when that stays inside."""
    x = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    lo_c, hi_c = math.ceil(low * 100 - 1e-6), math.floor(high * 100 + 1e-6)
    c = round(x / 5.0) * 500
    return c if lo_c <= c <= hi_c else min(max(round(x * 100), lo_c), hi_c)


def distinct_users(draws: Draws, num_users: int, n: int) -> list[int]:
    """n distinct user indices from the pool."""
    chosen: list[int] = []
    while len(chosen) < n:
        user = int(draws.u() * num_users)
        if user not in chosen:
            chosen.append(user)
    return chosen


def open_circle(
    circle: Circle,
    day: int,
    p: CircleParams,
    boost: Callable[[str], float],
    draws: Draws,
    num_users: int,
    natural: bool = False,
) -> Circle:
    """Draw a new circle's terms and members; queue circle-created and the joins (and a failure to fill).

    natural: keep the calendar sequential (see the module docstring); the draws are the same.
    """
    joins = _draw_terms(circle, p, boost, draws)
    circle.created_day = day
    circle.start_day = circle.last_day = _start_day(circle.frequency, day, draws)
    if not natural:
        _backdate(circle, day, joins, p)
    circle.random_rotation = not circle.colluders and draws.u() < RANDOM_ROTATION_SHARE
    circle.members = distinct_users(draws, num_users, joins)
    circle.pattern, circle.fraud_quota = _draw_patterns(joins, circle.colluders, p, boost, draws)
    circle.rotation = _rotation(joins, circle.random_rotation, draws)
    circle.active, circle.paid = [True] * joins, [False] * joins
    circle.misses, circle.lates, circle.contributed = [0] * joins, [0] * joins, [0] * joins
    circle.natural = natural
    _queue_joins(circle, circle.created_day, joins, draws)
    if circle.fail_cycle == -1:
        _end(circle, (FAILED, NORMAL, INSUFFICIENT_MEMBERS, 0, circle.start_day, joins, 0, 0))
    return circle


def _draw_terms(circle: Circle, p: CircleParams, boost: Callable[[str], float], draws: Draws) -> int:
    """Size, frequency, contribution, colluders and planned failure of a new circle; returns how many join."""
    lo, hi = p.member_range
    size = lo + int(draws.u() * (hi - lo + 1))
    circle.size, circle.frequency = size, _pick(p.frequency_weights, draws.u())
    low, high = p.contribution_range
    circle.cents = contribution_cents(low, high, draws.u())
    colluders = 0
    if draws.u() < p.collusion_rate * boost("collusion"):
        colluders = 2 if size >= SECOND_COLLUDER_MIN_SIZE and draws.u() < SECOND_COLLUDER_P else 1
    joins, circle.fail_cycle = size, 0
    if draws.u() < p.circle_failure_rate:
        if not colluders and draws.u() < JOIN_FAILURE_SHARE:
            joins, circle.fail_cycle = 1 + int(draws.u() * (lo - 1)), -1
        else:  # collapse in a cycle after any colluders have been paid
            first, last = colluders + 1, max(colluders + 1, size - 1)
            circle.fail_cycle = first + int(draws.u() * (last - first + 1))
    circle.colluders = colluders
    return joins


def _start_day(frequency: int, day: int, draws: Draws) -> int:
    """Start date of a circle created on `day`: monthly ones on the 1st or the 15th, at least a week out."""
    if frequency != MONTHLY:
        return day + 7 + int(draws.u() * 8)
    d = EPOCH_DATE + timedelta(days=day + 7)
    if 1 < d.day <= 15:
        start = d.replace(day=15)
    elif d.day == 1:
        start = d
    else:
        start = (d.replace(day=1) + timedelta(days=32)).replace(day=1)
    return (start - EPOCH_DATE).days


def _backdate(circle: Circle, day: int, joins: int, p: CircleParams) -> None:
    """Compressed mode: move the calendar back, on its grid, so that every date of the lifecycle is by `day`.

    A lifecycle has at most `joins` cycles (each pays a member or ends the circle); the last one ends
    by its due date plus a tail: the grace week or a late payment (up to mean + LATE_Z_MAX std days at
    creation; later payments are capped, see _contributions), then the payout and a colluder's drop.
    Monthly calendars move by whole months to keep the 1st or 15th; the lead from creation stays.
    """
    late = math.ceil(p.late_payment_days_mean + LATE_Z_MAX * p.late_payment_days_std)
    tail = 2 + max(MISS_GRACE_DAYS, late)
    lead, start = circle.start_day - circle.created_day, circle.start_day
    if circle.frequency == MONTHLY:
        months = 0
        while add_months(start, joins - 1 - months) + tail > day:
            months += 1
        start = add_months(start, -months)
    else:
        start -= max(0, circle.due_day(joins) + tail - day)
    circle.start_day = circle.last_day = start
    circle.created_day, circle.horizon = start - lead, day


def _draw_patterns(
    joins: int, colluders: int, p: CircleParams, boost: Callable[[str], float], draws: Draws
) -> tuple[list[int], list[int]]:
    """Pattern of each joining slot (colluders first, the organizer never a fraud) and each fraud's quota."""
    fraud_p = p.fraud_injection_rate * boost("fraud")
    pattern, quota = [], []
    for slot in range(joins):
        if slot < colluders:
            pattern.append(COLLUSION)
        elif slot > 0 and draws.u() < fraud_p:
            pattern.append(FRAUD)
        else:
            pattern.append(NORMAL)
        quota.append(
            FRAUD_CONTRIBUTIONS[0] + int(draws.u() * (FRAUD_CONTRIBUTIONS[1] - FRAUD_CONTRIBUTIONS[0] + 1))
            if pattern[-1] == FRAUD
            else 0
        )
    return pattern, quota


def _rotation(joins: int, random_rotation: bool, draws: Draws) -> list[int]:
    """Slots in payout order: join order, or a Fisher-Yates shuffle of it."""
    rotation = list(range(joins))
    if random_rotation:
        for i in range(joins - 1, 0, -1):
            j = int(draws.u() * (i + 1))
            rotation[i], rotation[j] = rotation[j], rotation[i]
    return rotation


def _queue_joins(circle: Circle, day: int, joins: int, draws: Draws) -> None:
    """Queue circle-created and one join per member, spread over the days before the start."""
    steps, lead = circle.steps, circle.start_day - day - (2 if circle.natural else 0)  # natural: joins end 3 days ahead
    steps.append((CREATED, COLLUSION if circle.colluders else NORMAL))
    for slot in range(joins):
        cdf = VERIFICATION_CDF[circle.pattern[slot]]
        u = draws.u()
        status = 0 if u < cdf[0] else 1 if u < cdf[1] else 2
        steps.append((JOINED, circle.pattern[slot], slot, status, day + lead * slot // (circle.size + 1)))
    if circle.natural:
        circle.last_day = steps[-1][4]


def _end(circle: Circle, step: tuple[Any, ...]) -> None:
    circle.steps.append(step)
    circle.done = True


def _drop(circle: Circle, slot: int, reason: int, pattern: int, cycle: int, day: int) -> None:
    circle.active[slot] = False
    circle.dropped += 1
    if circle.natural:
        circle.last_day = max(circle.last_day, day)
    circle.steps.append(
        (DROPPED, pattern, slot, cycle, reason, day, circle.paid[slot], circle.contributed[slot], circle.remaining())
    )


def _unpaid(circle: Circle) -> list[int]:
    return [s for s in circle.rotation if circle.active[s] and not circle.paid[s]]


def _closes(circle: Circle, cycle: int, day: int) -> bool:
    """Queue the circle's end if nobody active is owed a payout (completed) or too few are left (failed)."""
    if not _unpaid(circle):
        _end(
            circle,
            (
                COMPLETED,
                NORMAL,
                circle.cycles_paid,
                circle.last_day,
                circle.remaining(),
                circle.dropped,
                circle.paid_out,
            ),
        )
        return True
    if circle.remaining() < 2:
        _end(
            circle,
            (FAILED, NORMAL, INSUFFICIENT_MEMBERS, cycle, day, circle.remaining(), circle.cycles_paid, circle.paid_out),
        )
        return True
    return False


def plan_cycle(circle: Circle, p: CircleParams, draws: Draws) -> None:
    """Queue the next cycle: removals and drops, contributions by paid date, then the payout or the failure."""
    cycle = circle.cycle + 1
    due = circle.due_day(cycle)
    if circle.natural and due - 3 < circle.last_day:  # the last cycle overran: the grid slips
        circle.slip += circle.last_day + 3 - due
        due = circle.last_day + 3
    if _closes(circle, cycle, due - 1):
        return
    circle.cycle = cycle
    pattern, active = circle.pattern, circle.active
    for slot, reason in circle.remove_next:
        if active[slot]:
            _drop(circle, slot, reason, pattern[slot], cycle, max(circle.last_day, due - 3))
    circle.remove_next = []
    if _closes(circle, cycle, due - 1):
        return
    for slot in range(len(active)):
        if active[slot] and pattern[slot] == NORMAL and draws.u() < p.member_drop_rate:
            ahead = (3 if circle.natural else 1) + int(draws.u() * 5)
            _drop(circle, slot, VOLUNTARY, NORMAL, cycle, max(circle.last_day, due - ahead))
    if _closes(circle, cycle, due - 1):
        return
    failing = circle.fail_cycle > 0 and (cycle >= circle.fail_cycle or len(_unpaid(circle)) == 1)
    received, missed, last = _contributions(circle, cycle, due, failing, p, draws)
    if circle.natural:
        circle.steps.extend(sorted(received + missed, key=lambda step: natural_day(circle, step)))
    else:
        circle.steps.extend(received)
        circle.steps.extend(missed)
    circle.last_day = last + 1
    if failing or not received:
        _end(
            circle,
            (
                FAILED,
                NORMAL,
                EXCESSIVE_DEFAULTS,
                cycle,
                last + 1,
                circle.remaining(),
                circle.cycles_paid,
                circle.paid_out,
            ),
        )
        return
    recipient = _unpaid(circle)[0]
    cents = len(received) * circle.cents
    circle.paid[recipient] = True
    circle.paid_out += cents
    circle.cycles_paid += 1
    circle.steps.append(
        (
            PAYOUT,
            pattern[recipient],
            recipient,
            cycle,
            cents,
            last + 1,
            circle.rotation.index(recipient) + 1,
            len(received),
            len(missed),
        )
    )
    if pattern[recipient] == COLLUSION:  # the colluder takes the pot and leaves
        _drop(circle, recipient, VOLUNTARY, COLLUSION, cycle, last + 2)


def _contributions(
    circle: Circle, cycle: int, due: int, failing: bool, p: CircleParams, draws: Draws
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """Each active member's contribution (received steps by paid date, missed steps) and the last day of the cycle.

    Misses and lates are per due payment; injected members always pay on time. In a failing cycle
    most genuine members default instead. Removals they earn take effect at the next cycle.
    """
    pattern, active = circle.pattern, circle.active
    miss, late = p.miss_payment_rate, p.late_payment_rate
    received, missed, last = [], [], due
    defaulters: list[int] = []
    if failing:
        genuine = [s for s in range(len(active)) if active[s] and pattern[s] == NORMAL]
        defaulters = [s for s in genuine if draws.u() < DEFAULT_WAVE_P] or genuine[:1]
    for slot in range(len(active)):
        if not active[slot]:
            continue
        u = draws.u()
        if pattern[slot] == NORMAL and (slot in defaulters if failing else u < miss):
            circle.misses[slot] += 1
            missed.append((MISSED, NORMAL, slot, cycle, due, circle.misses[slot]))
            if circle.misses[slot] == MISSES_BEFORE_DROP:
                circle.remove_next.append((slot, MISSED_PAYMENTS))
            last = max(last, due + MISS_GRACE_DAYS)
            continue
        days_late = 0
        if pattern[slot] == NORMAL and miss <= u < miss + late:
            days_late = max(1, round(p.late_payment_days_mean + p.late_payment_days_std * draws.z()))
            # a backdated calendar ends by its horizon: the payout and a colluder's drop follow the last payment
            days_late = min(days_late, circle.horizon - 2 - due)
            circle.lates[slot] += 1
            if circle.lates[slot] == LATES_BEFORE_REVIEW and draws.u() < LATE_REMOVAL_P:
                circle.remove_next.append((slot, REMOVED))
        paid_day = due + days_late if days_late else due - int(draws.u() * 3)
        last = max(last, paid_day)
        circle.contributed[slot] += 1
        received.append((RECEIVED, pattern[slot], slot, cycle, due, paid_day, days_late))
        if pattern[slot] == FRAUD and circle.contributed[slot] == circle.fraud_quota[slot]:
            circle.remove_next.append((slot, REMOVED))
    received.sort(key=lambda step: step[5])
    return received, missed, last


def lifecycle_steps(p: CircleParams, circles: int, seed: int = 0, num_users: int = 5000) -> tuple[int, int]:
    """Steps, and money steps (contributions received, payouts), of `circles` whole lifecycles under `p`.

    By renewal-reward, money steps / steps is the long-run share of arrivals that also emit a
    transaction pair, whatever the pool size: every step of every circle is one arrival.
    """
    draws = Draws(np.random.default_rng(seed), 4096)
    steps = money = 0
    for _ in range(circles):
        circle = open_circle(Circle(), 0, p, lambda _: 1.0, draws, num_users)
        while True:
            if not circle.steps:
                plan_cycle(circle, p, draws)
            kind = circle.steps.popleft()[0]
            steps += 1
            money += kind in (RECEIVED, PAYOUT)
            if circle.done and not circle.steps:
                break
    return steps, money


# day of each kind of step in its tuple (CREATED: the circle's creation day; MISSED: due date + grace)
_DAY_AT = {JOINED: 4, RECEIVED: 5, PAYOUT: 5, DROPPED: 5, FAILED: 4, COMPLETED: 3}


def natural_day(circle: Circle, step: tuple[Any, ...]) -> int:
    """The calendar day (day number) a step happens on: the date in its payload, or when it is recorded."""
    kind = step[0]
    if kind == CREATED:
        return circle.created_day
    if kind == MISSED:
        return step[4] + MISS_GRACE_DAYS
    return step[_DAY_AT[kind]]


def natural_lifecycle(circle: Circle, p: CircleParams, draws: Draws) -> list[tuple[int, tuple[Any, ...]]]:
    """Every step of a circle opened with natural=True, planned to its end under `p`, with its day.

    Days never decrease along the list: the steps keep their lifecycle order when timed at their dates.
    """
    out: list[tuple[int, tuple[Any, ...]]] = []
    steps = circle.steps
    while True:
        if not steps:
            plan_cycle(circle, p, draws)
        step = steps.popleft()
        out.append((natural_day(circle, step), step))
        if circle.done and not steps:
            return out
