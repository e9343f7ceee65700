"""Vectorised sampling helpers shared by domain generators (pure: numpy in, plain values out)."""

from __future__ import annotations

import numpy as np

def hex_tokens(rng: np.random.Generator, n: int, nbytes: int, prefix: str) -> list[str]:
    """n random hex tokens with a prefix, e.g. device_3f9a…"""
    h = rng.integers(0, 256, size=n * nbytes, dtype=np.uint8).tobytes().hex()
    w = 2 * nbytes
    return [prefix + h[i:i + w] for i in range(0, n * w, w)]


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
