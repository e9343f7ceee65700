"""The one fintech population of a virtual partition: the users who log in, transact, remit and join circles.

User i of partition p is the same person in every fintech stream: the same id, home city and
position within its metro, usual IP (and its carrier block), account age share, activity level and
devices. Users are drawn in chunks of CHUNK from `World.rng("fintech.population", chunk)`, so user
i's attributes depend on the seed, the partition and i only: a stream with a smaller pool uses a
prefix of the same population (fintech.remittances' 300 senders are the first 300 of the 500
fintech.transactions users), and every process or shard that builds partition p builds the same users.

What is shared is drawn here; how a stream reads it is its own: each turns the shared uniforms into
its own device count and device types (so a user's first devices are the same ids everywhere, with
the types each stream's weights give), and scales the account-age share by its own time span.
Behaviour (when a user acts, amounts, places away from home) stays drawn from each stream's own rng.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from producer.domains.common.base import World
from producer.domains.common.sampling import hex_tokens, home_users, usual_ips

CHUNK = 4096  # users drawn per seeded chunk
MAX_DEVICES = 8  # device ids per user; streams use a prefix (fintech.sessions' device_diversity is at most 8)
ACTIVITY_SIGMA = 1.1  # log-normal activity: the top tenth of users make ~40% of the activity


@dataclass(frozen=True, slots=True)
class Users:
    """The first n users of a partition's population, as parallel columns."""

    ids: np.ndarray  # object (uuid str)
    home: np.ndarray  # index into HOME_CITIES
    home_lat: np.ndarray
    home_lon: np.ndarray
    ip_first: np.ndarray  # the usual IP's first and second octets: its carrier block
    ip_second: np.ndarray
    usual_ip: np.ndarray  # object (dotted str)
    activity: np.ndarray  # relative activity (log-normal, ACTIVITY_SIGMA)
    age_share: np.ndarray  # account age at the run's start, as a share of a stream's time span
    device_ids: np.ndarray  # (n, MAX_DEVICES) object: a user's devices, most used first
    device_u: np.ndarray  # (n, MAX_DEVICES) uniforms a stream turns into device types by its weights
    device_count_u: np.ndarray  # the uniform a stream turns into the user's device count by its law

    def __len__(self) -> int:
        return len(self.ids)

    def activity_cdf(self) -> np.ndarray:
        """The cumulative activity shares, for drawing users by activity with searchsorted."""
        return np.cumsum(self.activity) / self.activity.sum()


def _chunk(world: World, index: int) -> Users:
    """Users index*CHUNK .. (index+1)*CHUNK - 1 of the world's partition."""
    rng = world.rng("fintech.population", index)
    ids, home, lat, lon = home_users(rng, CHUNK)
    first, second, usual = usual_ips(rng, home)
    activity = rng.lognormal(0.0, ACTIVITY_SIGMA, CHUNK)
    age_share = rng.random(CHUNK)
    devices = np.array(hex_tokens(rng, CHUNK * MAX_DEVICES, 8, "device_"), dtype=object).reshape(CHUNK, MAX_DEVICES)
    return Users(
        ids,
        home,
        lat,
        lon,
        first,
        second,
        usual,
        activity,
        age_share,
        devices,
        rng.random((CHUNK, MAX_DEVICES)),
        rng.random(CHUNK),
    )


def population(world: World, n: int) -> Users:
    """The first n users of the world's partition (every stream of the partition sees the same ones)."""
    chunks = [_chunk(world, index) for index in range(max(1, math.ceil(n / CHUNK)))]
    columns = {f.name: np.concatenate([getattr(c, f.name) for c in chunks])[:n] for f in fields(Users)}
    return Users(**columns)


def device_counts(u: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Device counts 1, 2, ... drawn by probabilities p (summing to 1) from the shared uniforms u."""
    return 1 + np.minimum(np.searchsorted(np.cumsum(p), u, side="right"), len(p) - 1)


def geometric_counts(u: np.ndarray, p: float, most: int) -> np.ndarray:
    """Geometric(p) device counts (at least 1), capped at `most`, from the shared uniforms u (inverse CDF)."""
    k = np.ceil(np.log1p(-np.minimum(u, 1 - 1e-12)) / math.log1p(-p)).astype(np.int64)
    return np.clip(k, 1, most)
