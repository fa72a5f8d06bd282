"""Dense bit-packing of quantized weights, and the real size in bytes of a quantized model.

b-bit codes are written as one little-endian bit stream per tensor: int8 as is (one byte each), int4 two per
byte (first value in the low nibble), int2 four per byte, int3 eight values in three bytes; a tensor's stream
is padded to a whole byte. Symmetric codes are stored in b-bit two's complement, asymmetric ones unsigned, and
asymmetric zero points are packed the same way as the codes. Scales are stored as float16: 2 bytes each, and a
10-bit mantissa (relative error 2^-11) is far finer than even an int8 step (1/127 of the range), where bfloat16
(2^-8) would not be; float16's range (6e-5 normal minimum, 65504 maximum) covers weight scales. Packing runs
in numpy on the host: it is storage, not compute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scaling.compress.params import map_leaves
from scaling.compress.quantize import Quantized, leaf_axis, quantize
from scaling.compress.settings import WeightQuant


def pack_bits(codes: np.ndarray, bits: int) -> np.ndarray:
    """The low `bits` bits of each unsigned code, as one dense little-endian stream of ceil(n*bits/8) bytes."""
    flat = np.asarray(codes, dtype=np.uint8).reshape(-1)
    if bits == 8:
        return flat.copy()
    bits_NxB = np.unpackbits(flat[:, None], axis=1, bitorder="little")[:, :bits]
    return np.packbits(bits_NxB.reshape(-1), bitorder="little")


def unpack_bits(data: np.ndarray, bits: int, count: int) -> np.ndarray:
    """The first `count` unsigned `bits`-bit codes of a stream written by `pack_bits` (as uint8)."""
    if bits == 8:
        return np.asarray(data, dtype=np.uint8)[:count].copy()
    bits_NxB = np.unpackbits(np.asarray(data, dtype=np.uint8), bitorder="little")[: count * bits]
    return np.packbits(bits_NxB.reshape(count, bits), axis=1, bitorder="little").reshape(-1)


@dataclass(frozen=True)
class Packed:
    """One quantized tensor as stored: packed codes, float16 scales, packed zero points (asymmetric only)."""

    data: np.ndarray
    scale: np.ndarray
    zero: np.ndarray | None
    shape: tuple[int, ...]
    bits: int
    axis: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return self.data.nbytes + self.scale.nbytes + (self.zero.nbytes if self.zero is not None else 0)


def pack(quantized: Quantized, bits: int, *, axis: int | tuple[int, ...] = 0) -> Packed:
    """Store codes densely at `bits` bits and scales as float16 (int8 symmetric codes stay plain int8)."""
    q = np.asarray(quantized.q)
    if quantized.zero is None:
        data = q.astype(np.int8).reshape(-1) if bits == 8 else pack_bits(q.astype(np.int8).view(np.uint8), bits)
        zero = None
    else:
        data = pack_bits(q, bits)
        zero = pack_bits(np.asarray(quantized.zero), bits)
    scale = np.asarray(quantized.scale).astype(np.float16)
    return Packed(data, scale, zero, tuple(q.shape), bits, (axis,) if isinstance(axis, int) else tuple(axis))


def unpack(packed: Packed) -> Quantized:
    """The codes, scales and zero points `pack` stored, exactly (scales come back as float16)."""
    n, b = math.prod(packed.shape), packed.bits
    if packed.zero is None:
        if b == 8:
            q = packed.data.astype(np.int8)
        else:
            u = unpack_bits(packed.data, b, n).astype(np.int16)
            q = np.where(u >= 2 ** (b - 1), u - 2**b, u).astype(np.int8)  # sign-extend b-bit two's complement
        zero = None
    else:
        q = unpack_bits(packed.data, b, n)
        zero = jnp.asarray(unpack_bits(packed.zero, b, packed.scale.size).reshape(packed.scale.shape))
    return Quantized(jnp.asarray(q.reshape(packed.shape)), jnp.asarray(packed.scale), zero)


def pack_params(params: Any, quant: WeightQuant, *, logical_axes: Any = None) -> Any:
    """`params` with each quantizable matrix replaced by its `Packed` form (the rest left as they are)."""

    def one(leaf: Any) -> Any:
        if not leaf.is_matrix(quant.include_embedding):
            return leaf.value
        ax = leaf_axis(leaf)
        qt = quantize(leaf.value, quant.bits, axis=ax, group_size=quant.group_size, symmetric=quant.symmetric,
                      scale_dtype=jnp.float16)
        return pack(qt, quant.bits, axis=ax)

    return map_leaves(one, params, logical_axes)


def packed_size_bytes(params: Any, quant: WeightQuant, *, logical_axes: Any = None) -> int:
    """Bytes of the model as stored: packed codes, scales and zero points, and every other leaf at its dtype."""
    packed = pack_params(params, quant, logical_axes=logical_axes)
    return sum(int(x.nbytes) for x in jax.tree.leaves(packed))
