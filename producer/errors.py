"""One root exception for datagen, with subclasses that map to exit codes."""

from __future__ import annotations


class DatagenError(Exception):
    """Root of every error datagen raises on purpose."""

    exit_code: int = 1


class ConfigError(DatagenError):
    """A scenario file or a flag is invalid: one precise message, exit code 2."""

    exit_code = 2

    def __init__(self, source: str, path: str, expected: str, found: object) -> None:
        self.source = source
        self.path = path
        self.expected = expected
        self.found = found
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: expected {expected}, found {found!r}")


class UsageError(DatagenError):
    """A command-line usage problem that is not about a single field."""

    exit_code = 2


class BrokerUnavailable(DatagenError):
    """The broker or schema registry could not be reached in the allowed time."""

    exit_code = 3


class DeliveryError(DatagenError):
    """Events failed delivery; the first failure is kept as the cause."""

    exit_code = 4
