"""A minimal Avro object container file writer for already-encoded record bodies."""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any, BinaryIO

MAGIC = b"Obj\x01"


def _long(value: int) -> bytes:
    """Avro's zig-zag varint encoding of a long."""
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value & ~0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _bytes(data: bytes) -> bytes:
    return _long(len(data)) + data


class ContainerWriter:
    """Writes the container header once, then blocks of a fixed number of records.

    Block boundaries depend only on the record count, never on how writes were batched, so the
    same records always give the same file bytes.
    """

    def __init__(
        self, handle: BinaryIO, schema: dict[str, Any], codec: str = "deflate", block_records: int = 1000
    ) -> None:
        self.handle = handle
        self.codec = codec
        self.block_records = block_records
        self._buffer: list[bytes] = []
        schema_json = json.dumps(schema, separators=(",", ":")).encode()
        # a deterministic sync marker keeps same-seed runs byte-identical
        self.sync = hashlib.md5(schema_json).digest()
        meta = {b"avro.schema": schema_json, b"avro.codec": codec.encode()}
        header = MAGIC + _long(len(meta))
        for key, value in meta.items():
            header += _bytes(key) + _bytes(value)
        header += _long(0) + self.sync
        handle.write(header)

    @property
    def buffered(self) -> int:
        """Records appended but not yet written in a block."""
        return len(self._buffer)

    def write(self, bodies: list[bytes]) -> tuple[int, int]:
        """Append schemaless record bodies, writing every full block; returns (records, body bytes) written."""
        buffer = self._buffer
        buffer.extend(bodies)
        size = self.block_records
        written = nbytes = 0
        if len(buffer) >= size:
            full = len(buffer) - len(buffer) % size
            for start in range(0, full, size):
                nbytes += self._write_block(buffer[start : start + size])
            del buffer[:full]
            written = full
        return written, nbytes

    def flush(self) -> tuple[int, int]:
        """Write the last, partial block; returns (records, body bytes) written."""
        if not self._buffer:
            return 0, 0
        written, nbytes = len(self._buffer), self._write_block(self._buffer)
        self._buffer = []
        return written, nbytes

    def _write_block(self, bodies: list[bytes]) -> int:
        """Write one block; returns its uncompressed body bytes."""
        data = b"".join(bodies)
        size = len(data)
        if self.codec == "deflate":
            compressor = zlib.compressobj(1, zlib.DEFLATED, -15)  # fast: files are a sink, not an archive
            data = compressor.compress(data) + compressor.flush()
        self.handle.write(_long(len(bodies)) + _long(len(data)) + data + self.sync)
        return size
