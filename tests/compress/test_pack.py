"""Bit-packing: exact byte layouts, exact round trips, and the real size of a packed model counted by hand."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from scaling.compress.pack import pack, pack_bits, pack_params, packed_size_bytes, unpack, unpack_bits
from scaling.compress.quantize import dequantize, quantize
from scaling.compress.settings import WeightQuant


def test_int4_packs_two_per_byte_low_nibble_first():
    np.testing.assert_array_equal(pack_bits(np.array([1, 2, 15, 0, 7]), 4), [0x21, 0x0F, 0x07])


def test_int2_packs_four_per_byte_and_int3_eight_values_in_three_bytes():
    np.testing.assert_array_equal(pack_bits(np.array([1, 2, 3, 0]), 2), [0b00111001])
    codes = np.arange(8)
    packed = pack_bits(codes, 3)
    assert packed.size == 3
    stream = int.from_bytes(packed.tobytes(), "little")
    assert [(stream >> (3 * i)) & 7 for i in range(8)] == list(range(8))


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("count", [1, 7, 8, 13, 1000])
def test_pack_bits_round_trips_at_ceil_n_bits_over_8_bytes(bits, count):
    codes = np.random.default_rng(count).integers(0, 2**bits, count).astype(np.uint8)
    packed = pack_bits(codes, bits)
    assert packed.dtype == np.uint8 and packed.size == math.ceil(count * bits / 8)
    np.testing.assert_array_equal(unpack_bits(packed, bits, count), codes)


@pytest.mark.parametrize(("bits", "group_size"), [(2, None), (3, 8), (4, None), (4, 8), (8, 8)])
@pytest.mark.parametrize("symmetric", [True, False])
def test_pack_unpack_is_exact(bits, symmetric, group_size):
    w_HxKxD = jnp.asarray(np.random.default_rng(bits).normal(size=(4, 6, 10)).astype(np.float32))
    qt = quantize(w_HxKxD, bits, axis=(0, 1), group_size=group_size, symmetric=symmetric)
    packed = pack(qt, bits, axis=(0, 1))
    back = unpack(packed)
    np.testing.assert_array_equal(back.q, qt.q)
    np.testing.assert_array_equal(back.scale, qt.scale)
    assert back.scale.dtype == jnp.float16
    if symmetric:
        assert back.zero is None
    else:
        np.testing.assert_array_equal(back.zero, qt.zero)
    np.testing.assert_array_equal(dequantize(*back, axis=(0, 1)), dequantize(*qt, axis=(0, 1)))
    n_scales = (1 if group_size is None else 24 // group_size) * 10
    zero_bytes = 0 if symmetric else math.ceil(n_scales * bits / 8)
    assert packed.nbytes == math.ceil(240 * bits / 8) + 2 * n_scales + zero_bytes


def test_int8_symmetric_codes_are_stored_as_plain_int8():
    qt = quantize(jnp.linspace(-1, 1, 12).reshape(4, 3), 8)
    packed = pack(qt, 8)
    assert packed.data.dtype == np.int8
    np.testing.assert_array_equal(packed.data, np.asarray(qt.q).ravel())


def test_packed_int4_model_size_counted_by_hand(toy_state, dims):
    assert (dims.V, dims.D, dims.H, dims.K, dims.F, dims.N_LAYERS) == (32, 16, 4, 8, 24, 2)
    # Per layer, int4 codes: q, k, v, o hold 16*4*8 = 512 weights each, w_in, w_gate, w_out 16*24 = 384 each:
    #   4*512 + 3*384 = 3200 weights -> 1600 bytes.
    # Per-channel float16 scales: q, k, v one per (head, head_dim) = 32 each; o one per embed = 16;
    #   w_in, w_gate one per mlp = 24 each; w_out one per embed = 16: 96 + 16 + 48 + 16 = 176 -> 352 bytes.
    # Two layers: 2 * (1600 + 352) = 3904. Norms stay float32: 5 * 16 * 4 = 320. The embedding is not quantized
    # by default: 32 * 16 * 4 = 2048. Total 3904 + 320 + 2048 = 6272.
    assert packed_size_bytes(toy_state, WeightQuant(4)) == 6272
    # Group-wise, g = 8 along the input: q, k, v 16/8 * 32 = 64 scales each, o 32/8 * 16 = 64,
    #   w_in, w_gate 16/8 * 24 = 48 each, w_out 24/8 * 16 = 48: 400 scales -> 800 bytes per layer.
    #   2 * (1600 + 800) + 320 + 2048 = 7168.
    assert packed_size_bytes(toy_state, WeightQuant(4, "group", 8)) == 7168
    # Embedding quantized as well: 512 weights -> 256 bytes, 32 row scales -> 64 bytes, instead of 2048.
    assert packed_size_bytes(toy_state, WeightQuant(4, include_embedding=True)) == 6272 - 2048 + 256 + 64
    # Asymmetric adds the zero points, packed at 4 bits: 176 per layer -> 88 bytes.
    assert packed_size_bytes(toy_state, WeightQuant(4, symmetric=False)) == 6272 + 2 * 88


def test_pack_params_keeps_unquantized_leaves_and_packs_matrices(toy_dict):
    params, axes = toy_dict
    packed = pack_params(params, WeightQuant(3), logical_axes=axes)
    assert packed["final_norm"] is params["final_norm"]
    w = packed["blocks"][0]["mlp"]["w_out_FxD"]
    assert w.shape == params["blocks"][0]["mlp"]["w_out_FxD"].shape and w.bits == 3
    assert w.data.size == 24 * 16 * 3 // 8 and w.scale.size == 16 and w.zero is None
