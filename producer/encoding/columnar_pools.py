"""Pools and assembly of the columnar Avro encoder: values gathered by kind, converted once, placed by cell.

Every value a block's rows hold lands in the pool of its kind (varints, text, uuids, doubles,
decimals, constants, ready-made bytes) with its cell: row * slots + slot, the slot being its
position in a record's byte layout. A pool is converted in a few array operations however many
fields and parts feed it; then each cell's byte count is known, one cumsum gives every cell's
offset in the block's buffer, each pool scatters its bytes there, and the buffer is cut into one
bytes object per row. Adapted from the dict-fed block encoder (branch columnar-encoder), fed here
straight from Part columns. The semantics are those of producer.encoding.compiled's per-value
functions; callers check types before they add, so a pool never sees a value it cannot take.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from producer.encoding.compiled import raw_bytes

U8 = np.uint8
I64 = np.int64
# a zig-zagged value needs k+1 varint bytes from 2^(7k) up
_VARINT_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)
_VARINT_SHIFTS = np.arange(0, 70, 7, dtype=np.uint64)
# a decimal's unscaled value needs k+1 bytes from 2^(8k-1) up (magnitude bits + a sign bit, as fastavro)
_DECIMAL_LIMITS = np.array([1 << (8 * k - 1) for k in range(1, 8)], dtype=I64)
DECIMAL_SAFE = 1 << 55  # beyond it (more than 16 digits) the bytes come from int.to_bytes
_ARANGE = [np.arange(1 << 16, dtype=I64)]  # one array, replaced by a longer one when a blob needs it


def _arange(size: int) -> np.ndarray:
    """np.arange(size), from a cache."""
    if size > len(_ARANGE[0]):
        _ARANGE[0] = np.arange(max(size, 2 * len(_ARANGE[0])), dtype=I64)
    return _ARANGE[0][:size]


class Block:
    """The rows being encoded: each pool a list of (values, their cells)."""

    def __init__(self, n: int, slots: int) -> None:
        self.n, self.slots = n, slots
        self.varints: list[tuple[np.ndarray, np.ndarray]] = []  # int64 values
        self.texts: list[tuple[list[str], np.ndarray]] = []  # str values: length at cell - 1, UTF-8 at cell
        self.uuids: list[tuple[list[str], np.ndarray]] = []  # as texts; kept apart as they are all 36 bytes
        self.doubles: list[tuple[np.ndarray, np.ndarray]] = []  # float64 values
        self.decimals: list[tuple[np.ndarray, np.ndarray]] = []  # int64 unscaled: width at cell - 1, body at cell
        self.blobs: list[tuple[list[bytes], np.ndarray]] = []  # ready-made bytes, one per cell
        self.consts: list[tuple[bytes, np.ndarray]] = []  # one bytes for every cell

    def cells(self, at: np.ndarray, slot: int) -> np.ndarray:
        """The cells of rows `at` in `slot`."""
        return at * self.slots + slot


@dataclass(frozen=True)
class _Write:
    """Bytes for some cells: rows of a matrix (`lens` bytes of each, all if None), or a blob cut by `lens`."""

    cells: np.ndarray
    data: np.ndarray
    lens: np.ndarray | None = None
    blob: bool = False

    def sizes(self) -> np.ndarray | int:
        return self.data.shape[1] if self.lens is None else self.lens

    def put(self, out: np.ndarray, starts: np.ndarray) -> None:
        at = starts[self.cells]
        if self.blob:
            assert self.lens is not None
            offsets = np.cumsum(self.lens) - self.lens
            where = np.repeat(at - offsets, self.lens)
            where += _arange(len(self.data))
            out[where] = self.data
            return
        width = self.data.shape[1]
        if width == 1:
            out[at] = self.data[:, 0]
            return
        where = at[:, None] + np.arange(width)
        if self.lens is None:
            out[where] = self.data
        else:
            used = np.arange(width) < self.lens[:, None]
            out[where[used]] = self.data[used]


def _cat(chunks: list[np.ndarray]) -> np.ndarray:
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def finish(block: Block) -> list[bytes]:
    """Convert every pool, place every cell, and cut the buffer into the rows' bytes."""
    writes: list[_Write] = []
    varints = list(block.varints)
    writes.extend(_strings(pool, varints) for pool in (block.texts, block.uuids) if pool)
    if block.decimals:
        writes.append(_decimals(block.decimals, varints, writes))
    if block.doubles:
        values = _cat([v for v, _ in block.doubles]).astype("<f8", copy=False)
        writes.append(_Write(_cat([c for _, c in block.doubles]), values.view(U8).reshape(-1, 8)))
    blobs = [(data, cells) for data, cells in block.blobs if len(cells)]
    blobs += [([value] * len(cells), cells) for value, cells in block.consts if len(cells)]
    if blobs:
        data = [item for chunk, _ in blobs for item in chunk]
        lens = np.fromiter(map(len, data), I64, len(data))
        writes.append(_Write(_cat([c for _, c in blobs]), np.frombuffer(b"".join(data), U8), lens, blob=True))
    if varints:
        writes.extend(_varints(_cat([v for v, _ in varints]), _cat([c for _, c in varints])))
    return _assemble(writes, block.n, block.slots)


def _assemble(writes: list[_Write], n: int, slots: int) -> list[bytes]:
    if not n:
        return []
    sizes = np.zeros(n * slots, I64)
    for write in writes:
        sizes[write.cells] = write.sizes()
    ends = np.cumsum(sizes)
    starts = ends - sizes
    total = int(ends[-1])
    out = np.empty(total, U8)
    for write in writes:
        if len(write.cells):
            write.put(out, starts)
    data = out.tobytes()
    bounds = starts[::slots].tolist()
    bounds.append(total)
    return [data[start:end] for start, end in pairwise(bounds)]


def zigzag(values: np.ndarray) -> np.ndarray:
    """Avro's zig-zag of int64 values, as uint64."""
    return (values.view(np.uint64) << np.uint64(1)) ^ (values >> 63).view(np.uint64)


def _varints(values: np.ndarray, cells: np.ndarray) -> list[_Write]:
    """Zig-zag varints (1-10 bytes) of int64 values: the one-byte ones (most) apart from the others."""
    encoded = zigzag(values.astype(I64, copy=False))
    small = encoded < 128
    if small.all():
        return [_Write(cells, encoded.astype(U8).reshape(-1, 1))]
    large = ~small
    writes = [_Write(cells[small], encoded[small].astype(U8).reshape(-1, 1))]
    encoded, cells = encoded[large], cells[large]
    lens = np.searchsorted(_VARINT_LIMITS, encoded, side="right") + 1
    width = int(lens.max())
    mat = ((encoded[:, None] >> _VARINT_SHIFTS[:width]) & np.uint64(0x7F)).astype(U8)
    mat |= (np.arange(width) < (lens - 1)[:, None]).view(U8) << 7  # the continuation bit on all but the last
    writes.append(_Write(cells, mat, lens))
    return writes


def _strings(pool: list[tuple[list[str], np.ndarray]], varints: list[tuple[np.ndarray, np.ndarray]]) -> _Write:
    """UTF-8 bodies at the pool's cells; their byte lengths go to the varints at the cell before."""
    values = [item for chunk, _ in pool for item in chunk]
    cells = _cat([c for _, c in pool])
    joined = "".join(values)
    data = joined.encode()  # raises for a lone surrogate, as str_bytes does
    lens = np.fromiter(map(len, values), I64, len(values))
    body = np.frombuffer(data, U8)
    if len(data) != len(joined):  # not all ASCII: byte lengths from where each string's characters start
        char_starts = np.append(np.flatnonzero((body & 0xC0) != 0x80), len(data))
        lens = np.diff(char_starts[np.cumsum(lens)], prepend=0)
    varints.append((lens, cells - 1))
    width = int(lens.max()) if len(lens) else 0
    if width and int(lens.min()) == width:  # all one length (uuids): a matrix, no per-byte offsets
        return _Write(cells, body.reshape(-1, width))
    return _Write(cells, body, lens, blob=True)


def _decimals(
    pool: list[tuple[np.ndarray, np.ndarray]], varints: list[tuple[np.ndarray, np.ndarray]], writes: list[_Write]
) -> _Write:
    """Decimal bodies (two's complement, fastavro's width) at the cells, widths as varints at the cell before."""
    array = _cat([v for v, _ in pool]).astype(I64, copy=False)
    cells = _cat([c for _, c in pool])
    wide = (array <= -DECIMAL_SAFE) | (array >= DECIMAL_SAFE)
    if wide.any():  # more than 16 digits: int.to_bytes, length prefix included, at the cell before
        data = [_decimal_bytes(value) for value in array[wide].tolist()]
        lens = np.fromiter(map(len, data), I64, len(data))
        writes.append(_Write(cells[wide] - 1, np.frombuffer(b"".join(data), U8), lens, blob=True))
        array, cells = array[~wide], cells[~wide]
    widths = np.searchsorted(_DECIMAL_LIMITS, np.abs(array), side="right") + 1
    varints.append((widths, cells - 1))
    # big-endian, shifted left so that the value's `width` low bytes come first
    aligned = array.view(np.uint64) << ((8 - widths) * 8).astype(np.uint64)
    return _Write(cells, aligned.astype(">u8").view(U8).reshape(-1, 8), widths)


def _decimal_bytes(unscaled: int) -> bytes:
    size = (abs(unscaled).bit_length() + 8) // 8
    return raw_bytes(unscaled.to_bytes(size, "big", signed=True))
