"""The Quix Streams example's own virtualenv: created once in the cache, with its pinned requirements.

quixstreams 3.28.1 pins confluent-kafka<2.13 while datagen needs 2.16, so the example
(examples/quix_windows) cannot share datagen's environment. CI runs `python scripts/quix_env.py`;
the tests look for the venv where `venv_python()` says and skip (or fail under
DATAGEN_REAL_KAFKA=require) when it is missing.

    python scripts/quix_env.py          # create it if missing, print its python
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "examples" / "quix_windows" / "requirements.txt"


def venv_dir() -> Path:
    """Where the venv lives: $DATAGEN_QUIX_VENV, else ~/.cache/datagen/quix-venv."""
    default = Path.home() / ".cache" / "datagen" / "quix-venv"
    return Path(os.environ.get("DATAGEN_QUIX_VENV") or default)


def venv_python() -> Path:
    """The venv's interpreter (it may not exist yet)."""
    return venv_dir() / "bin" / "python"


def is_ready() -> bool:
    """Whether the venv exists and imports the pinned quixstreams."""
    python = venv_python()
    if not python.exists():
        return False
    probe = [str(python), "-c", "import quixstreams, sys; sys.exit(quixstreams.__version__ != '3.28.1')"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def ensure() -> Path:
    """Create the venv and install the pinned requirements unless it is ready; return its python."""
    if is_ready():
        return venv_python()
    # a half-made venv (an interrupted install) is rebuilt from scratch
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir())
    pip = [str(venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    if not is_ready():
        raise RuntimeError(f"{venv_dir()}: quixstreams==3.28.1 does not import after the install")
    return venv_python()


def main() -> int:
    """Create the venv if missing; print its python, or the reason it failed (exit 1)."""
    try:
        print(ensure())
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"could not create the Quix Streams venv in {venv_dir()}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
