"""Vectorised sampling helpers shared by domain generators (pure: numpy in, plain values out)."""

from __future__ import annotations

import numpy as np

from producer.domains.common.base import uuids
from producer.domains.common.geo import (
    CITY_LAT,
    CITY_LON,
    FOREIGN_CITIES,
    HOME_CITIES,
    HOME_P,
    HT_BLOCKS,
    IS_HAITI,
    US_BLOCKS,
)


def hex_tokens(rng: np.random.Generator, n: int, nbytes: int, prefix: str) -> list[str]:
    """n random hex tokens with a prefix, e.g. device_3f9a…"""
    h = rng.integers(0, 256, size=n * nbytes, dtype=np.uint8).tobytes().hex()
    w = 2 * nbytes
    return [prefix + h[i : i + w] for i in range(0, n * w, w)]


def dotted_ips(first: np.ndarray, rest: np.ndarray) -> list[str]:
    """Dotted IPv4 strings from a first-octet array and an (n, 3) array of the other octets."""
    return [f"{a}.{b}.{c}.{d}" for a, (b, c, d) in zip(first.tolist(), rest.tolist())]


def element(values: np.ndarray, u: np.ndarray) -> np.ndarray:
    """values[i] chosen uniformly by uniforms u."""
    return values[(u * len(values)).astype(np.int64)]


def pick(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices drawn from unnormalised weights by uniforms u; zero-weight entries are never picked."""
    cum = np.cumsum(weights)
    idx = np.searchsorted(cum, u * cum[-1], side="right")
    return np.minimum(idx, np.flatnonzero(weights)[-1])


# fintech users: drawn once per virtual partition by producer/domains/fintech/population.py, which every
# fintech stream reads


def home_users(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """n fintech users: ids, home city (by HOME_P) and a home position within its metro."""
    ids = np.array(uuids(rng, n), dtype=object)
    home = rng.choice(len(HOME_CITIES), size=n, p=HOME_P)
    lat = CITY_LAT[home] + rng.normal(0.0, 0.03, n)  # neighbourhood within the metro
    lon = CITY_LON[home] + rng.normal(0.0, 0.03, n)
    return ids, home, lat, lon


def usual_ips(rng: np.random.Generator, home: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each user's usual IP, in a carrier block of their home country: first octet, second octet, address."""
    n = len(home)
    first = np.where(IS_HAITI[home], rng.choice(HT_BLOCKS, n), rng.choice(US_BLOCKS, n))
    second = rng.integers(0, 256, n)
    rest = np.column_stack([second, rng.integers(0, 256, n), rng.integers(1, 255, n)])
    return first, second, np.array(dotted_ips(first, rest), dtype=object)


def whereabouts(
    rng: np.random.Generator,
    home: np.ndarray,
    home_lat: np.ndarray,
    home_lon: np.ndarray,
    away: np.ndarray,
    foreign: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """City and position of each transaction: near home, else another home city (away) or a foreign one."""
    m, nh = len(home), len(HOME_CITIES)
    city = np.where(
        foreign,
        nh + rng.integers(0, len(FOREIGN_CITIES), m),
        np.where(away, (home + rng.integers(1, nh, m)) % nh, home),
    )
    lat = np.where(away, CITY_LAT[city], home_lat) + rng.normal(0.0, 0.02, m)
    lon = np.where(away, CITY_LON[city], home_lon) + rng.normal(0.0, 0.02, m)
    return city, lat, lon


def fresh_ips(
    rng: np.random.Generator, first: np.ndarray, mobile: np.ndarray, usual: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """The usual IP where first is 0, else a new address in block `first` (second octet `second` where mobile)."""
    rest = rng.integers(0, 256, (len(first), 3))
    rest[:, 0] = np.where(mobile, second, rest[:, 0])
    rest[:, 2] = rest[:, 2] % 254 + 1
    ips = usual.copy()
    other = first > 0
    ips[other] = dotted_ips(first[other], rest[other])
    return ips
