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
    """Writes the container header once, then one deflate block per write_block() call."""

    def __init__(self, handle: BinaryIO, schema: dict[str, Any], codec: str = "deflate") -> None:
        self.handle = handle
        self.codec = codec
        schema_json = json.dumps(schema, separators=(",", ":")).encode()
        # a deterministic sync marker keeps same-seed runs byte-identical
        self.sync = hashlib.md5(schema_json).digest()
        meta = {b"avro.schema": schema_json, b"avro.codec": codec.encode()}
        header = MAGIC + _long(len(meta))
        for key, value in meta.items():
            header += _bytes(key) + _bytes(value)
        header += _long(0) + self.sync
        handle.write(header)

    def write_block(self, bodies: list[bytes]) -> None:
        """One block holding the given schemaless record bodies."""
        if not bodies:
            return
        data = b"".join(bodies)
        if self.codec == "deflate":
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = compressor.compress(data) + compressor.flush()
        self.handle.write(_long(len(bodies)) + _long(len(data)) + data + self.sync)
