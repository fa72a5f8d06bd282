"""muP: per-parameter lr multipliers, width-scaled init, and a coordinate check across widths 64..512."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from scaling.config import ModelConfig
from scaling.models import build_model, param_lr_scales
from scaling.models.mup import scales

WIDTHS = (64, 128, 256, 512)


def mup_cfg(width: int, parameterization: str = "mup", **kw) -> ModelConfig:
    return ModelConfig(d_model=width, n_layers=2, n_heads=4, vocab_size=64, parameterization=parameterization,
                       mup_base_width=64, **kw)


def test_lr_scales_hidden_matrices_only() -> None:
    cfg = mup_cfg(256, tie_embeddings=False)
    params = nnx.split(build_model(cfg, nnx.Rngs(0)), nnx.Param)[1]
    pure = nnx.to_pure_dict(params)
    scales_ = param_lr_scales(cfg, pure)
    assert scales_["embed_VxD"] == 1.0 and scales_["lm_head_DxV"] == 1.0
    assert scales_["final_norm"]["scale_D"] == 1.0
    block = scales_["blocks"][1]
    assert block["attn_norm"]["scale_D"] == 1.0 and block["mlp_norm"]["scale_D"] == 1.0
    for leaf in (block["attn"]["w_qkv_DxHx3K"], block["attn"]["w_out_HxKxD"], block["mlp"]["w_in_DxF"],
                 block["mlp"]["w_out_FxD"]):
        assert leaf == 64 / 256
    hidden = [v for v in jax.tree.leaves(scales_) if v != 1.0]
    assert len(hidden) == 2 * 4  # four hidden matrices per layer
    # same answer from the nnx.State and from abstract shapes; all ones under the standard parameterization
    assert nnx.to_pure_dict(param_lr_scales(cfg, params)) == scales_
    assert param_lr_scales(cfg, jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), pure)) == scales_
    assert set(jax.tree.leaves(param_lr_scales(mup_cfg(256, "standard"), pure))) == {1.0}


def test_swiglu_gate_is_a_hidden_matrix() -> None:
    cfg = mup_cfg(128, mlp="swiglu")
    pure = nnx.to_pure_dict(nnx.split(build_model(cfg, nnx.Rngs(0)), nnx.Param)[1])
    assert param_lr_scales(cfg, pure)["blocks"][0]["mlp"]["w_gate_DxF"] == 0.5


def test_init_and_scales_follow_width() -> None:
    base, wide = scales(mup_cfg(64)), scales(mup_cfg(256))
    std = scales(mup_cfg(256, "standard"))
    assert wide.hidden_std == pytest.approx(base.hidden_std / 2)  # 1/sqrt(fan_in): 4x wider, std / 2
    assert wide.embed_std == base.embed_std == std.embed_std
    assert wide.logits == pytest.approx(64 / 256) and std.logits == 1.0
    assert wide.attention == pytest.approx(1 / 64) and std.attention == pytest.approx(1 / 8)  # head dim 64
    # at the base width muP is the standard parameterization, except attention's 1/head_dim
    at_base, sp_base = scales(mup_cfg(64)), scales(mup_cfg(64, "standard"))
    assert (at_base.hidden_std, at_base.out_std, at_base.logits) == (sp_base.hidden_std, sp_base.out_std, 1.0)
    p = nnx.to_pure_dict(nnx.split(build_model(mup_cfg(512), nnx.Rngs(0)), nnx.Param)[1])
    np.testing.assert_allclose(float(jnp.std(p["blocks"][0]["mlp"]["w_in_DxF"])), 0.02 / np.sqrt(8), rtol=0.05)


def activation_rms_after_training(cfg: ModelConfig, steps: int = 4, lr: float = 1e-2) -> dict[str, float]:
    """Train `steps` Adam steps (muP multipliers applied to the updates), then the RMS of each named activation."""
    graphdef = nnx.split(nnx.eval_shape(lambda: build_model(cfg, nnx.Rngs(0))), nnx.Param)[0]
    params = jax.jit(lambda: nnx.split(build_model(cfg, nnx.Rngs(0)), nnx.Param)[1])()
    multipliers = param_lr_scales(cfg, params)
    tx = optax.adam(lr)
    opt_state = tx.init(params)
    tokens = jax.random.randint(jax.random.key(1), (4, 17), 0, cfg.vocab_size)

    @jax.jit
    def step(params, opt_state):
        def loss_fn(p):
            logits = nnx.merge(graphdef, p)(tokens[:, :-1])
            return optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:]).mean()

        grads = jax.grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state)
        updates = jax.tree.map(lambda u, m: u * m, updates, multipliers)
        return optax.apply_updates(params, updates), opt_state

    for _ in range(steps):
        params, opt_state = step(params, opt_state)
    acts = jax.jit(lambda p: nnx.merge(graphdef, p).activations(tokens[:, :-1]))(params)
    return {name: float(jnp.sqrt(jnp.mean(jnp.square(a)))) for name, a in acts.items()}


def test_coordinate_check_flat_under_mup_growing_under_standard() -> None:
    rms = {p: [activation_rms_after_training(mup_cfg(w, p)) for w in WIDTHS] for p in ("mup", "standard")}
    for name in rms["mup"][0]:
        values = [r[name] for r in rms["mup"]]
        assert max(values) / min(values) < 2.0, f"muP {name} RMS varies with width: {values}"
    for name, growth in (("block_0", 10.0), ("block_1", 10.0), ("logits", 2.5)):  # measured ~70x, ~60x, ~3.5x
        values = [r[name] for r in rms["standard"]]
        assert values[-1] / values[0] > growth, f"standard {name} RMS should grow with width: {values}"
        assert values == sorted(values), f"standard {name} RMS should grow monotonically: {values}"
