"""The data datagen ships: Avro schemas and bundled scenarios.

The top-level `schemas/` and `scenarios/` folders of the source tree are the source of truth. A
wheel carries copies of them as the package data `producer/_data/schemas` and
`producer/_data/scenarios` (pyproject.toml maps those packages onto the top-level folders); a source
checkout or an editable install reads the top-level folders themselves, so editing a schema needs no
reinstall.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

KINDS = ("schemas", "scenarios")


def bundled_dir(kind: str) -> Path:
    """The folder of one kind of shipped data: the installed package data, else the checkout's folder.

    Returns the package-data path even when it does not exist, so callers can glob it (finding
    nothing) or report where they looked.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind of bundled data {kind!r} (one of: {', '.join(KINDS)})")
    # pip unpacks wheels, so the package is a plain directory and its files() root is a real path
    packaged = Path(str(resources.files(__name__).joinpath(kind)))
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / kind
    return checkout if checkout.is_dir() else packaged
