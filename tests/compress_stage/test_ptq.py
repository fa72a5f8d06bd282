"""Post-training quantization of a trained tiny model: int8 costs almost nothing, int4 more; packed bytes shrink."""

from __future__ import annotations

from scaling.compress.pack import packed_size_bytes
from scaling.compress.quantize import fake_quantize_params
from scaling.compress.settings import WeightQuant
from scaling.compress.storage import dense_bytes


def test_int8_ptq_changes_the_loss_only_a_little(loaded_model):
    base = loaded_model.evaluate(loaded_model.params, 4)
    axes = loaded_model.logical_axes
    loss = {b: loaded_model.evaluate(fake_quantize_params(loaded_model.params, WeightQuant(b), logical_axes=axes), 4)
            for b in (8, 4, 2)}
    print(f"PTQ on the trained xs model: base {base:.4f}, int8 {loss[8] - base:+.5f}, int4 {loss[4] - base:+.5f}, "
          f"int2 {loss[2] - base:+.5f}")
    assert abs(loss[8] - base) < 0.005  # measured ~1e-5 nats
    assert abs(loss[8] - base) < abs(loss[4] - base) < loss[2] - base  # fewer bits, larger damage
    assert loss[2] - base > 4 * abs(loss[8] - base)

    host = loaded_model.host_params()
    dense = dense_bytes(host)
    sizes = {b: packed_size_bytes(host, WeightQuant(b), logical_axes=axes) for b in (8, 4, 2)}
    assert dense > sizes[8] > sizes[4] > sizes[2]
    # the embedding stays float32 (not quantized by default), so int8 saves under 4x of the whole model
    assert 2.0 < dense / sizes[8] < 4.0


def test_int8_activations_cost_little_and_fewer_bits_cost_more(loaded_model):
    """W8A8 and W8A4: every matmul input quantized per token as well as the weights; reported by how much."""
    base = loaded_model.evaluate(loaded_model.params, 4)
    w8 = fake_quantize_params(loaded_model.params, WeightQuant(8), logical_axes=loaded_model.logical_axes)
    weight_only = loaded_model.evaluate(w8, 4)
    a8 = loaded_model.evaluate(w8, 4, activation_bits=8)
    a4 = loaded_model.evaluate(w8, 4, activation_bits=4)
    print(f"trained xs model: base {base:.4f}, W8 {weight_only - base:+.5f}, W8A8 {a8 - base:+.5f}, "
          f"W8A4 {a4 - base:+.5f}")
    assert a8 != weight_only  # the activations really were quantized
    assert abs(a8 - base) < 0.01
    assert abs(a8 - base) < a4 - base
    assert loaded_model.evaluate(w8, 4) == weight_only  # the float evaluator is untouched by the quantized one


def test_a_quantize_act_job_reports_its_activation_bits_and_the_loss_they_cost(loaded_model, tmp_path):
    from scaling.compress.execute import run_job
    from scaling.compress.jobs import plan_jobs
    from scaling.compress.settings import CompressStageConfig

    stage = CompressStageConfig.model_validate({"methods": [{"quantize": [8]}, {"quantize_act": [8]}],
                                                "eval_batches": 4})
    source = type("Source", (), {"id": "t", "label": "xs", "axes": {}, "config": loaded_model.cfg.model_dump()})
    rows = {j.method: run_job(loaded_model, j, tmp_path) for j in plan_jobs([source], stage) if j.method != "dense"}
    w8, w8a8 = rows["quantize"], rows["quantize_act"]
    assert w8a8["status"] == "done" and w8a8["activation_bits"] == 8 and "activation_bits" not in w8
    assert w8a8["bytes"] == w8["bytes"]  # activations are not stored
    assert w8a8["val_loss"] != w8["val_loss"] and abs(w8a8["delta_loss"]) < 0.01
