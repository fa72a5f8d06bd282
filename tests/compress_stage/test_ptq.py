"""Post-training quantization of a trained tiny model: int8 costs almost nothing, int4 more; packed bytes shrink."""

from __future__ import annotations

from scaling.compress.pack import packed_size_bytes
from scaling.compress.quantize import fake_quantize_params
from scaling.compress.storage import dense_bytes


def test_int8_ptq_changes_the_loss_only_a_little(loaded_model):
    base = loaded_model.evaluate(loaded_model.params, 4)
    axes = loaded_model.logical_axes
    loss = {b: loaded_model.evaluate(fake_quantize_params(loaded_model.params, b, logical_axes=axes), 4)
            for b in (8, 4, 2)}
    print(f"PTQ on the trained xs model: base {base:.4f}, int8 {loss[8] - base:+.5f}, int4 {loss[4] - base:+.5f}, "
          f"int2 {loss[2] - base:+.5f}")
    assert abs(loss[8] - base) < 0.005  # measured ~1e-5 nats
    assert abs(loss[8] - base) < abs(loss[4] - base) < loss[2] - base  # fewer bits, larger damage
    assert loss[2] - base > 4 * abs(loss[8] - base)

    host = loaded_model.host_params()
    dense = dense_bytes(host)
    sizes = {b: packed_size_bytes(host, b, logical_axes=axes) for b in (8, 4, 2)}
    assert dense > sizes[8] > sizes[4] > sizes[2]
    # the embedding stays float32 (not quantized by default), so int8 saves under 4x of the whole model
    assert 2.0 < dense / sizes[8] < 4.0
