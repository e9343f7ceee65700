"""Tables for fintech.sessions: action types, user agents, auth methods, failure reasons, travel speeds."""

from __future__ import annotations

import math

import numpy as np

from producer.domains.geo import CITY_LAT, CITY_LON, DEVICE_TYPES

ACTIONS = (
    "page_view", "button_click", "form_submit", "circle_browse", "circle_join_request",
    "contribution_initiate", "remittance_initiate", "settings_change", "support_contact",
)
ACTION_NAMES = np.array(ACTIONS, dtype=object)
DEFAULT_ACTION_WEIGHTS = {
    "page_view": 0.30, "button_click": 0.20, "form_submit": 0.08, "circle_browse": 0.12,
    "circle_join_request": 0.04, "contribution_initiate": 0.10, "remittance_initiate": 0.08,
    "settings_change": 0.03, "support_contact": 0.05,
}
SENSITIVE_ACTIONS = ("remittance_initiate", "settings_change", "form_submit")
# multiplied into the current action weights for a takeover session: the attacker goes for money and settings
ATO_ACTION_AFFINITY = np.array([0.5, 0.5, 8.0, 0.1, 0.1, 0.1, 8.0, 8.0, 0.1])

# the Lakay app ("Trebanx/<app> <os>/<version>") on phones, real browser strings on the web
USER_AGENTS = {
    "ios": ("Trebanx/1.0 iOS/17.4", "Trebanx/1.0 iOS/17.2", "Trebanx/1.1 iOS/17.5", "Trebanx/1.1 iOS/18.0",
            "Trebanx/1.0 iOS/16.7"),
    "android": ("Trebanx/1.0 Android/14", "Trebanx/1.0 Android/13", "Trebanx/1.1 Android/14",
                "Trebanx/1.1 Android/15", "Trebanx/1.0 Android/12"),
    "web_desktop": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        "Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36 Edg/124.0.0.0",
    ),
    "web_mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-A546U) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; moto g play) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 "
        "Mobile Safari/537.36",
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
PASSWORD, BIOMETRIC, OTP = range(3)
AUTH_CDF = np.cumsum(np.array([  # per device type, over AUTH_METHODS
    [0.30, 0.60, 0.10], [0.40, 0.50, 0.10], [0.80, 0.00, 0.20], [0.75, 0.00, 0.25],
]), axis=1)
ATO_AUTH_CDF = np.cumsum(np.array([0.75, 0.0, 0.25]))  # an attacker has the password (or a swapped SIM)

FAILURE_REASONS = ("invalid_password", "biometric_failed", "invalid_otp", "expired_otp")
EXPIRED_OTP_SHARE = 0.3  # of failed one-time-password attempts

ATO_FAILURE_RATE = 0.4  # per attempt: stuffed or phished credentials, tried until they work or the lock
END_REASONS = ("logout", "timeout")
LOGOUT_SHARE = 0.6

# travel a genuine user can do between two logins: by road below FLIGHT_KM, else a flight with airport time
ROAD_KMH, FLIGHT_KM, FLIGHT_OVERHEAD_H, CRUISE_KMH = 60.0, 300.0, 3.0, 800.0
IT_MIN_KM = 1000.0  # impossible-travel second logins come from a city at least this far away
IT_SPEED_KMH = 1300.0  # ... and at most distance / this many hours later, so implied speed > an airliner's
EARTH_KM = 6371.0088


def haversine_km(lat1: np.ndarray | float, lon1: np.ndarray | float, lat2: np.ndarray | float,
                 lon2: np.ndarray | float) -> np.ndarray:
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
