"""fintech.sessions events as columns: a block's rows gathered by event type, then one Part per type.

The generator's steps (login chains, then session actions and ends, round by round) each add a
chunk of rows; every row is numbered in the order the steps emit it, which is the Parts' `seq`.
"""

from __future__ import annotations

from itertools import chain
from typing import Any, NamedTuple

import numpy as np

from producer.domains.common.base import BlockContext
from producer.domains.common.columns import Micros, Part
from producer.domains.common.geo import CITY_COUNTRY, CITY_NAME, CITY_STATE, DEVICE_TYPES
from producer.domains.fintech.sessions_tables import AUTH_METHODS, FAILURE_REASONS, NORMAL

PATTERNS = (None, "account_takeover", "impossible_travel", "impossible_travel")
RISK = (None, "high", "medium", "high")  # the first login of an impossible-travel pair is the user's own
PATTERN_BY_KIND, RISK_BY_KIND = np.array(PATTERNS, dtype=object), np.array(RISK, dtype=object)
DEVICE_NAMES, AUTH_NAMES = np.array(DEVICE_TYPES, dtype=object), np.array(AUTH_METHODS, dtype=object)
FAILURE_NAMES = np.array(FAILURE_REASONS, dtype=object)
Columns = dict[str, Any]


class Chains(NamedTuple):
    """A block's login attempts (one row per attempt, episode by episode) and the sessions they open."""

    src: np.ndarray  # the episode (login row) of each attempt
    pos: np.ndarray  # the attempt's place in its episode, from 0
    attempt_at: np.ndarray
    answer_at: np.ndarray
    won: np.ndarray  # the attempt succeeded (it is its episode's last)
    reason: np.ndarray  # index into FAILURE_REASONS, for a failed attempt
    opened: np.ndarray  # the episodes that open a session
    start_at: np.ndarray  # their session-started instants


def join(chunks: list[Any]) -> Any:
    """Chunks of one column (arrays, lists, Micros, records or a shared value) as one column."""
    first = chunks[0]
    if len(chunks) == 1:
        return first
    if isinstance(first, np.ndarray):
        return np.concatenate(chunks)
    if isinstance(first, list):
        return list(chain.from_iterable(chunks))
    if isinstance(first, Micros):
        return Micros(np.concatenate([c.values for c in chunks]))
    if isinstance(first, dict):
        return {name: join([c[name] for c in chunks]) for name in first}
    return first  # one value shared by every row of every chunk


def gather(columns: Columns, rows: np.ndarray) -> Columns:
    """The given rows of array columns (records as dicts of arrays)."""
    return {name: gather(c, rows) if isinstance(c, dict) else c[rows] for name, c in columns.items()}


class Emitted:
    """A block's events so far as column chunks by event type, each row numbered in emission order."""

    def __init__(self) -> None:
        self.count = 0
        self._chunks: dict[str, list[Columns]] = {}

    def reserve(self, n: int) -> int:
        """Number the next n events; returns the first number."""
        first = self.count
        self.count += n
        return first

    def add(
        self,
        event_type: str,
        time_us: np.ndarray,
        who: Columns,
        event_id: Any,
        payload: Columns,
        seq: np.ndarray | None = None,
    ) -> None:
        """Rows of one event type: `who` gives each row's key (uid), correlation id, kind and injected flag."""
        if not len(time_us):
            return
        if seq is None:
            seq = np.arange(self.reserve(len(time_us)), self.count, dtype=np.int64)
        chunk = {"time": time_us, "key": who["uid"], "event_id": event_id, "corr": who["corr"], "payload": payload}
        chunk.update(kind=who["kind"], injected=who["injected"], episode=who["episode"], seq=seq)
        self._chunks.setdefault(event_type, []).append(chunk)

    def parts(self, stream: str, service: str, ctx: BlockContext) -> list[Part]:
        """One Part per event type emitted, labelled from each row's kind and injected flag."""
        out = []
        for event_type, chunks in self._chunks.items():
            c = join(chunks)
            kind = c["kind"]
            truth = ctx.truth(
                is_anomaly=kind != NORMAL,
                pattern=PATTERN_BY_KIND[kind],
                risk_level=RISK_BY_KIND[kind],
                injected=c["injected"],
                episode_id=c["episode"],
            )
            ids = c["key"], c["event_id"], c["corr"]
            out.append(Part(stream, event_type, service, c["time"], *ids, c["payload"], truth, c["seq"]))
        return out


def episode_columns(rows: dict[str, np.ndarray], uid: np.ndarray, corr: np.ndarray, sid: np.ndarray) -> Columns:
    """Per login episode: who logs in, from where and how, and its correlation and session ids."""
    city = rows["city"]
    geo = {
        "latitude": np.round(rows["lat"], 4),
        "longitude": np.round(rows["lon"], 4),
        "country": CITY_COUNTRY[city],
        "city": CITY_NAME[city],
        "state": CITY_STATE[city],
    }
    return {
        "uid": uid,
        "corr": corr,
        "sid": sid,
        "kind": rows["kind"],
        "injected": rows["injected"],
        "episode": rows["episode"],
        "ip": rows["ip"],
        "device_id": rows["device_id"],
        "device_type": DEVICE_NAMES[rows["device_type"]],
        "ua": rows["ua"],
        "geo": geo,
        "method": AUTH_NAMES[rows["auth"]],
    }


def emit_logins(out: Emitted, episodes: Columns, c: Chains, ids: list[str], lockout: int) -> None:
    """login-attempt then its answer for each attempt in turn, then session-started for each session opened."""
    # ids as _logins draws them: attempt ids, the attempts' and answers' event ids in turn, correlation ids,
    # session ids, then the session-started event ids
    total, s = len(c.src), len(c.opened)
    first = out.reserve(2 * total + s)
    seq = first + 2 * np.arange(total, dtype=np.int64)
    attempt_ids, event_ids = np.array(ids[:total], dtype=object), np.array(ids[total : 3 * total], dtype=object)
    e = gather(episodes, c.src)
    attempt = {"user_id": e["uid"], "attempt_id": attempt_ids, "ip_address": e["ip"], "device_id": e["device_id"]}
    attempt.update(device_type=e["device_type"], user_agent=e["ua"], geo_location=e["geo"])
    attempt.update(attempted_at=Micros(c.attempt_at), auth_method=e["method"])
    out.add("login-attempt", c.attempt_at, e, event_ids[0::2], attempt, seq)
    w = np.flatnonzero(c.won)
    e = gather(episodes, c.src[w])
    success = {"user_id": e["uid"], "attempt_id": attempt_ids[w], "session_id": e["sid"], "device_id": e["device_id"]}
    success.update(auth_method=e["method"], attempt_number=c.pos[w] + 1, succeeded_at=Micros(c.answer_at[w]))
    out.add("login-success", c.answer_at[w], e, event_ids[2 * w + 1], success, seq[w] + 1)
    f = np.flatnonzero(~c.won)
    e, failures = gather(episodes, c.src[f]), c.pos[f] + 1
    failed = {"user_id": e["uid"], "attempt_id": attempt_ids[f], "device_id": e["device_id"], "ip_address": e["ip"]}
    failed.update(auth_method=e["method"], failure_reason=FAILURE_NAMES[c.reason[f]])
    failed.update(consecutive_failures=failures, account_locked=failures == lockout, failed_at=Micros(c.answer_at[f]))
    out.add("login-failed", c.answer_at[f], e, event_ids[2 * f + 1], failed, seq[f] + 1)
    e = gather(episodes, c.opened)
    started = {"session_id": e["sid"], "user_id": e["uid"], "device_id": e["device_id"]}
    started.update(device_type=e["device_type"], user_agent=e["ua"], ip_address=e["ip"], geo_location=e["geo"])
    started.update(auth_method=e["method"], started_at=Micros(c.start_at))
    n = len(episodes["uid"])
    out.add("session-started", c.start_at, e, ids[3 * total + n + s :], started, first + 2 * total + np.arange(s))
