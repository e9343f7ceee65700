"""Tables for fintech.sessions: action types, user agents, auth methods, failure reasons, travel speeds."""

from __future__ import annotations

import math

import numpy as np

from producer.domains.common.geo import (
    CITY_COUNTRY,
    CITY_LAT,
    CITY_LON,
    DEVICE_P,
    DEVICE_TYPES,
    FOREIGN_BLOCKS,
    FOREIGN_CITIES,
    FRAUD_DEVICE_P,
    HOME_CITIES,
    HOSTING_BLOCKS,
    HT_BLOCKS,
    US_BLOCKS,
)
from producer.domains.common.sampling import dotted_ips, element, hex_tokens, pick
from producer.domains.fintech.population import Users, geometric_counts

NORMAL, ATO, IT_FIRST, IT_SECOND = range(4)  # kinds of login: genuine, takeover, impossible-travel pair
HOUR_US, DAY_US = 3_600_000_000, 86_400_000_000
IS_HT_CITY = CITY_COUNTRY == "HT"
IS_US_CITY = CITY_COUNTRY == "US"
PLACE_WEIGHT = np.array([1.0, 0.3, 0.04])  # home, another spot in the metro, another city
# injected: the episode was drawn inside an injection window (an impossible-travel pair's second
# login keeps its first's)
# episode: the account-takeover chain a login belongs to (its truth.episode_id), None for any other
ROW_KEYS: tuple[str, ...] = ("time", "user", "kind", "injected", "device_id", "device_type", "ua", "ip", "city")
ROW_KEYS += ("lat", "lon", "auth", "episode")

ACTIONS = (
    "page_view",
    "button_click",
    "form_submit",
    "circle_browse",
    "circle_join_request",
    "contribution_initiate",
    "remittance_initiate",
    "settings_change",
    "support_contact",
)
ACTION_NAMES = np.array(ACTIONS, dtype=object)
DEFAULT_ACTION_WEIGHTS = {
    "page_view": 0.30,
    "button_click": 0.20,
    "form_submit": 0.08,
    "circle_browse": 0.12,
    "circle_join_request": 0.04,
    "contribution_initiate": 0.10,
    "remittance_initiate": 0.08,
    "settings_change": 0.03,
    "support_contact": 0.05,
}
SENSITIVE_ACTIONS = ("remittance_initiate", "settings_change", "form_submit")
# multiplied into the current action weights for a takeover session: the attacker goes for money and settings
ATO_ACTION_AFFINITY = np.array([0.5, 0.5, 8.0, 0.1, 0.1, 0.1, 8.0, 8.0, 0.1])

# the Lakay app ("Trebanx/<app> <os>/<version>") on phones, real browser strings on the web
USER_AGENTS = {
    "ios": (
        "Trebanx/1.0 iOS/17.4",
        "Trebanx/1.0 iOS/17.2",
        "Trebanx/1.1 iOS/17.5",
        "Trebanx/1.1 iOS/18.0",
        "Trebanx/1.0 iOS/16.7",
    ),
    "android": (
        "Trebanx/1.0 Android/14",
        "Trebanx/1.0 Android/13",
        "Trebanx/1.1 Android/14",
        "Trebanx/1.1 Android/15",
        "Trebanx/1.0 Android/12",
    ),
    "web_desktop": (
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
            "Safari/537.36"
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
            "Safari/605.1.15"
        ),
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
            "Safari/537.36 Edg/124.0.0.0"
        ),
    ),
    "web_mobile": (
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4 Mobile/15E148 Safari/604.1"
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-A546U) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
            "Mobile Safari/537.36"
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; moto g play) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 "
            "Mobile Safari/537.36"
        ),
    ),
}
UA_FLAT = np.array([ua for t in DEVICE_TYPES for ua in USER_AGENTS[t]], dtype=object)
UA_COUNT = np.array([len(USER_AGENTS[t]) for t in DEVICE_TYPES])
UA_START = np.cumsum(UA_COUNT) - UA_COUNT
IS_APP = np.array([t in ("ios", "android") for t in DEVICE_TYPES])  # phones on a carrier network


def user_agents(device_types: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A user agent for each device type, chosen by uniforms u."""
    return UA_FLAT[UA_START[device_types] + (u * UA_COUNT[device_types]).astype(np.int64)]


AUTH_METHODS = ("password", "biometric", "otp")
AUTH_CDF = np.cumsum(
    np.array(
        [  # per device type, over AUTH_METHODS
            [0.30, 0.60, 0.10],
            [0.40, 0.50, 0.10],
            [0.80, 0.00, 0.20],
            [0.75, 0.00, 0.25],
        ]
    ),
    axis=1,
)
ATO_AUTH_CDF = np.cumsum(np.array([0.75, 0.0, 0.25]))  # an attacker has the password (or a swapped SIM)

FAILURE_REASONS = ("invalid_password", "biometric_failed", "invalid_otp", "expired_otp")  # by AUTH_METHODS order
EXPIRED_OTP_SHARE = 0.3  # of failed one-time-password attempts

ATO_FAILURE_RATE = 0.4  # per attempt: stuffed or phished credentials, tried until they work or the lock
END_REASONS = ("logout", "timeout")
LOGOUT_SHARE = 0.6

# travel a genuine user can do between two logins: by road below FLIGHT_KM, else a flight with airport time
ROAD_KMH, FLIGHT_KM, FLIGHT_OVERHEAD_H, CRUISE_KMH = 60.0, 300.0, 3.0, 800.0
IT_MIN_KM = 1000.0  # impossible-travel second logins come from a city at least this far away
IT_SPEED_KMH = 1300.0  # ... and at most distance / this many hours later, so implied speed > an airliner's
IT_MAX_DELAY_H = 3.0  # ... and within 3 hours of the first
EARTH_KM = 6371.0088


def haversine_km(
    lat1: np.ndarray | float, lon1: np.ndarray | float, lat2: np.ndarray | float, lon2: np.ndarray | float
) -> np.ndarray:
    """Great-circle distance in km (vectorised)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def travel_hours(km: float) -> float:
    """Least time a genuine user needs to move km between two logins."""
    return km / ROAD_KMH if km < FLIGHT_KM else FLIGHT_OVERHEAD_H + km / CRUISE_KMH


CITY_KM = haversine_km(CITY_LAT[:, None], CITY_LON[:, None], CITY_LAT[None, :], CITY_LON[None, :])
# for each city, the cities far enough away for the second login of an impossible-travel pair
FAR_CITIES = tuple(np.flatnonzero(row >= IT_MIN_KM + 50.0) for row in CITY_KM)


def lognormal_integer_mean(mu: float, sigma: float, low: int, high: int) -> float:
    """E[clip(rint(X), low, high)] for X ~ LogNormal(mu, sigma), in closed form over the integers."""

    def cdf(x: float) -> float:
        return 0.0 if x <= 0 else 0.5 * (1 + math.erf((math.log(x) - mu) / (sigma * math.sqrt(2))))

    total = low * cdf(low + 0.5) + high * (1 - cdf(high - 0.5))
    total += sum(k * (cdf(k + 0.5) - cdf(k - 0.5)) for k in range(low + 1, high))
    return total


def login_chain_expectation(fail: float, retry: float, lockout: int) -> tuple[float, float]:
    """Expected attempts and success probability of one login episode (see simulate_logins)."""
    reach, attempts, success = 1.0, 0.0, 0.0
    for k in range(lockout):
        attempts += reach
        success += reach * (1 - fail)
        reach *= fail * (retry if k + 1 < lockout else 0.0)
    return attempts, success


def simulate_logins(
    rng: np.random.Generator, fail: np.ndarray, retry: np.ndarray, lockout: int
) -> tuple[np.ndarray, np.ndarray]:
    """Attempts and success per episode: each attempt fails with `fail`; after a failure the user
    retries with `retry`, unless that was the lockout-th consecutive failure (the account locks)."""
    n = len(fail)
    fails = rng.random((n, lockout)) < fail[:, None]
    retries = rng.random((n, lockout)) < retry[:, None]
    attempts, success, alive = np.zeros(n, np.int64), np.zeros(n, bool), np.ones(n, bool)
    for k in range(lockout):
        attempts += alive
        success |= alive & ~fails[:, k]
        alive &= fails[:, k] & retries[:, k] & (k + 1 < lockout)
    return attempts, success


class UserPool:
    """The bounded user population: devices, places with their networks, and where each user last was.

    Genuine logins come from the user's own devices and places and never imply a move faster than
    travel_hours allows; takeover logins and impossible-travel second logins come from elsewhere.
    Logins are handled as "rows": a dict of equal-length arrays keyed by ROW_KEYS.
    """

    def __init__(self, rng: np.random.Generator, users: Users, devices: int, places: int, prior_days: int) -> None:
        # who they are, where home is, their usual network and devices: the fintech population's (population.py)
        n = len(users)
        self.user_ids = users.ids
        self._activity_cum = users.activity_cdf()  # heavy-tailed: a tenth of the users log in ~40% of the time
        self._home = home = users.home
        self._n_devices = geometric_counts(users.device_count_u, 0.55, devices)
        self.device_ids = users.device_ids[:, :devices]
        self.device_types = pick(DEVICE_P, users.device_u[:, :devices])
        self.uas = user_agents(self.device_types, rng.random((n, devices)))
        # places: home, other spots in the metro (70%) or another city (30%), each with its network's IP
        self._n_places = rng.integers(1, places + 1, n)
        column = np.arange(places)
        far = (rng.random((n, places)) < 0.3) & (column > 0)
        other_city = (home[:, None] + rng.integers(1, len(HOME_CITIES), (n, places))) % len(HOME_CITIES)
        self._city = np.where(far, other_city, home[:, None])
        spread = np.where(far | (column == 0), 0.03, 0.08)
        self._lat = CITY_LAT[self._city] + rng.normal(0.0, 1.0, (n, places)) * spread
        self._lon = CITY_LON[self._city] + rng.normal(0.0, 1.0, (n, places)) * spread
        self._lat[:, 0], self._lon[:, 0] = users.home_lat, users.home_lon  # home is the population's
        w = np.where(column < self._n_places[:, None], PLACE_WEIGHT[np.where(far, 2, np.minimum(column, 1))], 0.0)
        self._place_cum = np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)
        ht = IS_HT_CITY[self._city].ravel()
        first = np.where(ht, rng.choice(HT_BLOCKS, n * places), rng.choice(US_BLOCKS, n * places))
        rest = np.column_stack([rng.integers(0, 256, (n * places, 2)), rng.integers(1, 255, n * places)])
        self._ip = np.array(dotted_ips(first, rest), dtype=object).reshape(n, places)
        self._ip[:, 0] = users.usual_ip  # at home, the usual IP every fintech stream knows
        self._carrier = np.column_stack([users.ip_first, users.ip_second])  # the usual IP's carrier block
        self._prior_age_us = (rng.uniform(0.0, prior_days, n) * DAY_US).astype(np.int64)
        self._last_place = np.zeros(n, np.int64)
        self._last_login: np.ndarray | None = None  # genuine last login per user, set at the first block

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n users drawn by activity."""
        return np.minimum(np.searchsorted(self._activity_cum, rng.random(n), side="right"), len(self.user_ids) - 1)

    def access(
        self, rng: np.random.Generator, times: np.ndarray, users: np.ndarray, kind: np.ndarray, injected: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Login rows: device, IP, place and auth method, the user's own or an attacker's for takeovers."""
        if self._last_login is None:  # before the run, users last logged in at home, up to prior_days ago
            self._last_login = times[0] - self._prior_age_us
        n = len(users)
        nd = self._n_devices[users]
        r = rng.random(n)
        slot = np.where(r < 0.7, 0, np.minimum(1 + ((r - 0.7) / 0.3 * (nd - 1)).astype(np.int64), nd - 1))
        dtype = self.device_types[users, slot]
        rows = {
            "time": times,
            "user": users,
            "kind": kind,
            "injected": injected,
            "episode": np.full(n, None, dtype=object),
            "device_id": self.device_ids[users, slot],
            "device_type": dtype,
            "ua": self.uas[users, slot],
            "auth": np.minimum((rng.random(n)[:, None] >= AUTH_CDF[dtype]).sum(axis=1), 2),
        }
        place = self._places(rng, times, users, kind != ATO)
        rows["city"], rows["lat"], rows["lon"] = (a[users, place] for a in (self._city, self._lat, self._lon))
        ip = self._ip[users, place]
        cell = np.flatnonzero((kind != ATO) & IS_APP[dtype] & (rng.random(n) < 0.15))  # on the phone network
        rest = np.column_stack([self._carrier[users[cell], 1], rng.integers(0, 256, (len(cell), 2))])
        ip[cell] = dotted_ips(self._carrier[users[cell], 0], rest)
        rows["ip"] = ip
        ato = np.flatnonzero(kind == ATO)
        k = len(ato)
        if k:  # a new device, often a desktop browser, from another country or another US/Haiti city
            rows["device_id"][ato] = hex_tokens(rng, k, 8, "device_")
            rows["device_type"][ato] = t = pick(FRAUD_DEVICE_P, rng.random(k))
            rows["ua"][ato] = user_agents(t, rng.random(k))
            rows["auth"][ato] = np.searchsorted(ATO_AUTH_CDF, rng.random(k), side="right")
            nh, foreign = len(HOME_CITIES), rng.random(k) < 0.6
            city = np.where(
                foreign,
                nh + rng.integers(0, len(FOREIGN_CITIES), k),
                (self._home[users[ato]] + rng.integers(1, nh, k)) % nh,
            )
            put_city(rng, rows, ato, city, vpn_share=0.4)
        return rows

    def _places(
        self, rng: np.random.Generator, times: np.ndarray, users: np.ndarray, genuine: np.ndarray
    ) -> np.ndarray:
        """Each genuine login's place: a draw from the user's places, unless they could not be there yet."""
        cand = (rng.random(len(users))[:, None] > self._place_cum[users]).sum(axis=1)
        cand = np.minimum(cand, self._n_places[users] - 1)
        place = np.zeros(len(users), np.int64)
        last_place, last_login, lat, lon = self._last_place, self._last_login, self._lat, self._lon
        assert last_login is not None  # access() sets it before its first call here
        us, cs, ts = users.tolist(), cand.tolist(), times.tolist()
        for i in np.flatnonzero(genuine).tolist():  # sequential: each login moves the user
            u, c, t = us[i], cs[i], ts[i]
            prev = int(last_place[u])
            if c != prev:
                km = float(haversine_km(lat[u, prev], lon[u, prev], lat[u, c], lon[u, c]))
                if t - last_login[u] < travel_hours(km) * HOUR_US:
                    c = prev
            place[i], last_place[u], last_login[u] = c, c, t
        return place

    def second_logins(
        self, rng: np.random.Generator, rows: dict[str, np.ndarray], scale: float
    ) -> dict[str, np.ndarray]:
        """For each impossible-travel first login, a second one from a far city sooner than a flight allows."""
        idx = np.flatnonzero(rows["kind"] == IT_FIRST)
        k = len(idx)
        origin, users = rows["city"][idx], rows["user"][idx]
        far = np.array(
            [FAR_CITIES[c][int(v * len(FAR_CITIES[c]))] for c, v in zip(origin.tolist(), rng.random(k).tolist())],
            dtype=np.int64,
        )
        second = {key: np.empty(k, dtype=rows[key].dtype) for key in ROW_KEYS}
        put_city(rng, second, np.arange(k), far, vpn_share=0.15)
        km = haversine_km(rows["lat"][idx], rows["lon"][idx], second["lat"], second["lon"])
        # at most distance / IT_SPEED_KMH later (times the timeline compression), so faster than any airliner
        hours = np.minimum(km / IT_SPEED_KMH, IT_MAX_DELAY_H) * rng.uniform(0.1, 1.0, k)
        delay = (hours * HOUR_US * scale).astype(np.int64)
        own = rng.random(k) < 0.5  # the user's own phone (a stolen session behind a VPN) or another device
        dtype = np.where(own, self.device_types[users, 0], pick(FRAUD_DEVICE_P, rng.random(k)))
        second["device_id"] = np.where(
            own, self.device_ids[users, 0], np.array(hex_tokens(rng, k, 8, "device_"), dtype=object)
        )
        second["ua"] = np.where(own, self.uas[users, 0], user_agents(dtype, rng.random(k)))
        second["auth"] = np.where(own, np.minimum((rng.random(k)[:, None] >= AUTH_CDF[dtype]).sum(axis=1), 2), 0)
        second.update(
            time=rows["time"][idx] + delay,
            user=users,
            device_type=dtype,
            kind=np.full(k, IT_SECOND, dtype=rows["kind"].dtype),
            injected=rows["injected"][idx],
        )
        return second


def put_city(
    rng: np.random.Generator, rows: dict[str, np.ndarray], idx: np.ndarray, city: np.ndarray, vpn_share: float
) -> None:
    """Place logins idx in the given cities, with an IP of that country or, at vpn_share, of a hosting provider."""
    k = len(idx)
    rows["city"][idx] = city
    rows["lat"][idx] = CITY_LAT[city] + rng.normal(0.0, 0.02, k)
    rows["lon"][idx] = CITY_LON[city] + rng.normal(0.0, 0.02, k)
    u = rng.random(k)
    first = np.where(
        rng.random(k) < vpn_share,
        element(HOSTING_BLOCKS, u),
        np.where(
            IS_US_CITY[city],
            element(US_BLOCKS, u),
            np.where(IS_HT_CITY[city], element(HT_BLOCKS, u), element(FOREIGN_BLOCKS, u)),
        ),
    )
    rest = rng.integers(0, 256, (k, 3))
    rest[:, 2] = rest[:, 2] % 254 + 1
    rows["ip"][idx] = dotted_ips(first, rest)
