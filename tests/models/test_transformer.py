"""The transformer family: output and gradients match a plain reference, causality, metadata, dtypes, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import transformer_reference as reference
from flax import nnx

from scaling.config import ModelConfig
from scaling.models import build_model, logical_axes

ALLOWED_AXES = {"vocab", "embed", "heads", "head_dim", "mlp", "norm"}


def split(cfg: ModelConfig, seed: int = 0):
    """(graphdef, params State), initialised under jit (eager init compiles op by op and is slow)."""
    graphdef = nnx.split(nnx.eval_shape(lambda: build_model(cfg, nnx.Rngs(seed))), nnx.Param)[0]
    params = jax.jit(lambda: nnx.split(build_model(cfg, nnx.Rngs(seed)), nnx.Param)[1])()
    return graphdef, params


def loss_and_grads(cfg: ModelConfig, tokens_BxL1: jax.Array, seed: int = 0, fused: bool = False):
    """(model loss, model grads, reference loss, reference grads) on the same parameters, as pure dicts.

    fused: the model's loss is `model.loss` (head + CE in chunks), else optax CE on `model(tokens)`.
    """
    graphdef, params = split(cfg, seed)
    pure = nnx.to_pure_dict(params)

    def model_loss(p):
        model = nnx.merge(graphdef, p)
        if fused:
            return model.loss(tokens_BxL1[:, :-1], tokens_BxL1[:, 1:])
        logits = model(tokens_BxL1[:, :-1])
        return optax.softmax_cross_entropy_with_integer_labels(logits, tokens_BxL1[:, 1:]).mean()

    def ref_loss(p):
        return reference.loss(reference.forward(cfg, p, tokens_BxL1[:, :-1]), tokens_BxL1[:, 1:])

    lm, gm = jax.jit(jax.value_and_grad(model_loss))(params)
    lr, gr = jax.jit(jax.value_and_grad(ref_loss))(pure)
    return lm, nnx.to_pure_dict(gm), lr, gr


CONFIGS = [
    # L=128: two query blocks; batch 3 x 8 heads = 24 problems run as two cache chunks of 12
    pytest.param(dict(d_model=64, n_layers=2, n_heads=8), 128, id="gelu-tied-L128-blocked-chunked"),
    pytest.param(dict(d_model=32, n_layers=2, n_heads=2, mlp="swiglu", tie_embeddings=False), 24, id="swiglu-untied"),
    pytest.param(dict(d_model=64, n_layers=1, n_heads=4, parameterization="mup", mup_base_width=32), 64, id="mup"),
    pytest.param(dict(d_model=48, n_layers=1, n_heads=4), 192, id="L192-three-blocks"),  # 12 problems, 2 chunks
]


def assert_matches_reference(cfg: ModelConfig, tokens: jax.Array, fused: bool = False) -> None:
    lm, gm, lr, gr = loss_and_grads(cfg, tokens, fused=fused)
    assert np.isfinite(float(lm))
    np.testing.assert_allclose(float(lm), float(lr), rtol=1e-5)
    flat_m = jax.tree_util.tree_leaves_with_path(gm)
    flat_r = dict(jax.tree_util.tree_leaves_with_path(gr))
    assert len(flat_m) == len(flat_r)
    for path, g in flat_m:
        want = flat_r[path]
        scale = float(jnp.abs(want).max()) + 1e-12
        err = float(jnp.abs(g - want).max()) / scale
        assert err < 1e-4, f"{jax.tree_util.keystr(path)}: relative gradient error {err:.2e}"


@pytest.mark.parametrize("overrides,seq_len", CONFIGS)
def test_loss_and_gradients_match_reference(overrides: dict, seq_len: int) -> None:
    cfg = ModelConfig(vocab_size=97, **overrides)
    assert_matches_reference(cfg, jax.random.randint(jax.random.key(3), (3, seq_len + 1), 0, 97))


@pytest.mark.parametrize("overrides", [dict(), dict(tie_embeddings=False, parameterization="mup", mup_base_width=16)],
                         ids=["tied", "untied-mup"])
def test_fused_head_loss_matches_reference(overrides: dict) -> None:
    # 4 x 128 tokens x vocab 4096: the CPU chunking splits the 512 tokens into two chunks of 256
    cfg = ModelConfig(d_model=32, n_layers=1, n_heads=4, vocab_size=4096, **overrides)
    assert_matches_reference(cfg, jax.random.randint(jax.random.key(4), (4, 129), 0, 4096), fused=True)


def test_fused_loss_forward_only_equals_plain_loss() -> None:
    cfg = ModelConfig(d_model=32, n_layers=1, n_heads=4, vocab_size=300)
    graphdef, params = split(cfg)
    tokens = jax.random.randint(jax.random.key(5), (2, 33), 0, 300)
    fused = jax.jit(lambda p: nnx.merge(graphdef, p).loss(tokens[:, :-1], tokens[:, 1:]))(params)
    logits = jax.jit(lambda p: nnx.merge(graphdef, p)(tokens[:, :-1]))(params)
    plain = optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:]).mean()
    np.testing.assert_allclose(float(fused), float(plain), rtol=1e-6)


def test_logits_are_float32_shape_and_causal() -> None:
    cfg = ModelConfig(d_model=32, n_layers=2, n_heads=4, vocab_size=61)
    model = build_model(cfg, nnx.Rngs(0))
    tokens = jax.random.randint(jax.random.key(0), (2, 128), 0, 61)
    logits = model(tokens)
    assert logits.shape == (2, 128, 61) and logits.dtype == jnp.float32
    changed = tokens.at[:, 100].set((tokens[:, 100] + 1) % 61)
    logits2 = model(changed)
    np.testing.assert_array_equal(np.asarray(logits[:, :100]), np.asarray(logits2[:, :100]))
    assert float(jnp.abs(logits[:, 100:] - logits2[:, 100:]).max()) > 0


def test_every_param_names_its_axes_with_the_shared_vocabulary() -> None:
    for cfg in (ModelConfig(size="xs", vocab_size=50), ModelConfig(size="xs", vocab_size=50, mlp="swiglu",
                                                                  tie_embeddings=False)):
        model = nnx.eval_shape(lambda cfg=cfg: build_model(cfg, nnx.Rngs(0)))  # metadata needs no values
        params = nnx.state(model, nnx.Param)
        axes = logical_axes(params)
        shapes = nnx.to_pure_dict(params)
        pairs = jax.tree.leaves(jax.tree.map(lambda a, s: (a, s.shape), axes, shapes,
                                             is_leaf=lambda x: isinstance(x, tuple)),
                                is_leaf=lambda x: isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], tuple))
        assert len(pairs) == len(jax.tree.leaves(shapes))
        for names, shape in pairs:
            assert len(names) == len(shape), (names, shape)
            assert set(names) <= ALLOWED_AXES, names
        assert axes["embed_VxD"] == ("vocab", "embed")
        assert axes["blocks"][0]["attn"]["w_qkv_DxHx3K"] == ("embed", "heads", "head_dim")
        assert axes["blocks"][0]["mlp"]["w_out_FxD"] == ("mlp", "embed")
        assert ("lm_head_DxV" in axes) == (not cfg.tie_embeddings)


def test_params_are_not_sharded_eagerly_without_a_mesh() -> None:
    _, params = split(ModelConfig(size="xs", vocab_size=50))
    for leaf in jax.tree.leaves(params):
        assert len(leaf.sharding.device_set) == 1


def test_depth_scaled_init_on_output_projections() -> None:
    cfg = ModelConfig(d_model=128, n_layers=8, n_heads=4, vocab_size=64)
    p = nnx.to_pure_dict(split(cfg)[1])["blocks"][0]
    std_in = float(jnp.std(p["mlp"]["w_in_DxF"]))
    std_out = float(jnp.std(p["mlp"]["w_out_FxD"]))
    np.testing.assert_allclose(std_in, cfg.init_std, rtol=0.05)
    np.testing.assert_allclose(std_out, cfg.init_std / np.sqrt(2 * cfg.n_layers), rtol=0.05)
    np.testing.assert_allclose(float(jnp.std(p["attn"]["w_out_HxKxD"])), cfg.init_std / 4, rtol=0.05)


def test_bfloat16_params_and_compute_still_give_float32_logits() -> None:
    cfg = ModelConfig(d_model=32, n_layers=1, n_heads=4, vocab_size=40)
    graphdef, params = jax.jit(
        lambda: nnx.split(build_model(cfg, nnx.Rngs(0), param_dtype=jnp.bfloat16, compute_dtype=jnp.bfloat16),
                          nnx.Param)
    )()
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(params))
    tokens = jnp.zeros((2, 16), jnp.int32)
    logits = jax.jit(lambda p: nnx.merge(graphdef, p)(tokens))(params)
    assert logits.dtype == jnp.float32 and bool(jnp.isfinite(logits).all())
    grads = jax.jit(jax.grad(lambda p: nnx.merge(graphdef, p)(tokens).mean()))(params)
    assert all(g.dtype == jnp.bfloat16 for g in jax.tree.leaves(grads))


def test_missing_vocab_size_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        build_model(ModelConfig(size="xs"), nnx.Rngs(0))


def test_activations_names_embed_each_block_and_logits() -> None:
    cfg = ModelConfig(d_model=32, n_layers=3, n_heads=4, vocab_size=40)
    graphdef, params = split(cfg)
    tokens = jnp.zeros((1, 8), jnp.int32)
    acts = jax.jit(lambda p: nnx.merge(graphdef, p).activations(tokens))(params)
    assert set(acts) == {"embed", "block_0", "block_1", "block_2", "logits"}
    logits = jax.jit(lambda p: nnx.merge(graphdef, p)(tokens))(params)
    np.testing.assert_allclose(np.asarray(acts["logits"]), np.asarray(logits), rtol=1e-6, atol=1e-6)


def test_loss_chunking_divides_tokens_and_never_degenerates() -> None:
    from scaling.models.loss import chunk_size

    assert chunk_size(4096, 4096, budget=1 << 20) == 256  # 4 MB of logits per chunk
    assert chunk_size(4096, 257, budget=1 << 20) == 2048  # largest divisor under 4080
    assert chunk_size(100, 4096, budget=1 << 20) == 100  # everything fits: one chunk
    assert chunk_size(4099, 4096, budget=1 << 20) == 4099  # prime: one chunk, not 4099 one-token steps


def test_accelerator_code_path_matches_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    # Off CPU the model uses jax.nn.dot_product_attention and one big loss chunk; run that path here.
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    cfg = ModelConfig(d_model=32, n_layers=2, n_heads=4, vocab_size=4096, tie_embeddings=False)
    assert_matches_reference(cfg, jax.random.randint(jax.random.key(6), (4, 129), 0, 4096), fused=True)
    assert_matches_reference(cfg, jax.random.randint(jax.random.key(7), (2, 65), 0, 4096), fused=False)


@pytest.mark.parametrize("bits", [8, 4])
def test_quantized_activations_match_the_reference_at_every_matmul_input(bits: int) -> None:
    """`with_input_transform(ActivationQuant(bits))` quantizes the input of every weight matmul (Q/K/V,
    attention output, MLP in and out, head) per token: the model's logits equal the reference doing the same,
    far closer than to float logits."""
    from scaling.compress.activation_quant import ActivationQuant
    from scaling.train.step import ModelState

    cfg = ModelConfig(d_model=32, n_layers=2, n_heads=4, mlp="swiglu", tie_embeddings=False, vocab_size=97)
    graphdef, params = split(cfg)
    pure = nnx.to_pure_dict(params)
    state = ModelState(graphdef, {}, None, None).with_input_transform(pure, ActivationQuant(bits))
    tokens_BxL = jax.random.randint(jax.random.key(6), (2, 40), 0, 97)
    model_q = jax.jit(lambda p: state.apply(p, tokens_BxL))(pure)
    ref_q = jax.jit(lambda p: reference.forward(cfg, p, tokens_BxL, act_bits=bits))(pure)
    ref_float = jax.jit(lambda p: reference.forward(cfg, p, tokens_BxL))(pure)
    effect = float(jnp.abs(ref_q - ref_float).max())
    assert effect > 1e-3  # quantizing really changed the logits ...
    assert float(jnp.abs(model_q - ref_q).max()) < 1e-3 * effect  # ... and the model changed them the same way
    fused_q = jax.jit(lambda p: nnx.merge(state.graphdef, p).loss(tokens_BxL[:, :-1], tokens_BxL[:, 1:]))(pure)
    ref_loss = reference.loss(reference.forward(cfg, pure, tokens_BxL[:, :-1], act_bits=bits), tokens_BxL[:, 1:])
    np.testing.assert_allclose(float(fused_q), float(ref_loss), rtol=1e-5)
