"""Pruning masks: exact sparsity (with ties), N:M groups, whole heads/neurons, and masks held through AdamW."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from scaling.compress.params import leaves
from scaling.compress.prune import apply_masks, count_nonzero, make_masks, masked_update, n_to_prune


def _named(tree, axes=None):
    return {lf.name: lf.value for lf in leaves(tree, axes)}


def _tied(params, seed=0):
    """Weights with heavy ties: small integers, so many magnitudes are equal."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda w: jnp.asarray(rng.integers(-2, 3, w.shape), jnp.float32), params)


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.77, 1.0])
@pytest.mark.parametrize("tied", [False, True])
def test_layerwise_magnitude_hits_the_exact_sparsity_in_every_matrix(toy_state, sparsity, tied):
    params = _tied(toy_state) if tied else toy_state
    masks = _named(make_masks(params, "magnitude", sparsity))
    for name, w in _named(params).items():
        mask = masks[name]
        if name == "embed_VxD" or "norm" in name:
            assert mask is True
            continue
        assert (~np.asarray(mask)).sum() == n_to_prune(w.size, sparsity), name
        if 0 < sparsity < 1:  # magnitude order: nothing pruned is larger than anything kept
            assert np.abs(w)[~mask].max() <= np.abs(w)[mask].min()


@pytest.mark.parametrize("tied", [False, True])
def test_global_magnitude_prunes_exactly_the_target_count_under_one_threshold(toy_dict, tied, dims):
    N_LAYERS = dims.N_LAYERS
    params, axes = toy_dict
    params = _tied(params, seed=1) if tied else params
    masks = _named(make_masks(params, "magnitude", 0.6, scope="global", logical_axes=axes))
    w = _named(params, axes)
    prunable = [n for n in w if masks[n] is not True]
    assert "embed_VxD" not in prunable and len(prunable) == 7 * N_LAYERS
    total = sum(w[n].size for n in prunable)
    pruned = np.concatenate([np.abs(w[n])[~np.asarray(masks[n])] for n in prunable])
    kept = np.concatenate([np.abs(w[n])[np.asarray(masks[n])] for n in prunable])
    assert pruned.size == n_to_prune(total, 0.6)
    assert pruned.max() <= kept.min()
    per_layer = {n: 1 - np.asarray(masks[n]).mean() for n in prunable}
    assert len({round(s, 6) for s in per_layer.values()}) > 1 or tied  # one threshold, not equal per matrix


def test_ties_are_broken_by_position_deterministically():
    params = {"w_DxF": jnp.ones((4, 6))}
    mask = np.asarray(make_masks(params, "magnitude", 0.25)["w_DxF"])
    assert (~mask).sum() == 6 and not mask.ravel()[:6].any() and mask.ravel()[6:].all()
    again = np.asarray(make_masks(params, "magnitude", 0.25)["w_DxF"])
    np.testing.assert_array_equal(mask, again)


def test_include_embedding_prunes_it_too(toy_state, dims):
    D = dims.D
    masks = _named(make_masks(toy_state, "magnitude", 0.5, include_embedding=True))
    assert (~np.asarray(masks["embed_VxD"])).sum() == n_to_prune(32 * D, 0.5)
    assert masks["final_norm"] is True


def _input_groups(mask, roles, m):
    """Group the mask by m consecutive entries along the input axes, computed here independently."""
    in_axes, out_axes, _ = roles
    moved = np.transpose(mask, list(out_axes) + list(in_axes))
    n_out = int(np.prod([mask.shape[a] for a in out_axes]))
    return moved.reshape(n_out, -1, m)


@pytest.mark.parametrize(("n", "m"), [(2, 4), (4, 8), (1, 4)])
@pytest.mark.parametrize("tied", [False, True])
def test_n_of_m_keeps_the_n_largest_in_every_group_along_the_input(toy_state, n, m, tied):
    params = _tied(toy_state) if tied else toy_state
    masks = _named(make_masks(params, "nm", n=n, m=m))
    for lf in leaves(params):
        if not lf.is_matrix():
            assert masks[lf.name] is True
            continue
        mask_groups = _input_groups(np.asarray(masks[lf.name]), lf.roles(), m)
        w_groups = _input_groups(np.abs(np.asarray(lf.value)), lf.roles(), m)
        assert (mask_groups.sum(-1) == n).all(), lf.name
        kept_min = np.where(mask_groups, w_groups, np.inf).min(-1)
        pruned_max = np.where(mask_groups, -np.inf, w_groups).max(-1)
        assert (pruned_max <= kept_min).all(), lf.name


def test_n_of_m_groups_run_along_the_input_axis_not_the_output():
    w_DxF = jnp.asarray(np.tile(np.array([[4.0], [3.0], [2.0], [1.0]]), (2, 3)))  # 8x3, decreasing down D
    mask = np.asarray(make_masks({"w_DxF": w_DxF}, "nm", n=2, m=4)["w_DxF"])
    np.testing.assert_array_equal(mask[:, 0], [1, 1, 0, 0, 1, 1, 0, 0])


def test_n_of_m_rejects_bad_arguments(toy_state):
    with pytest.raises(ValueError, match="multiple of m"):
        make_masks(toy_state, "nm", n=2, m=5)
    with pytest.raises(ValueError, match="contradicts"):
        make_masks(toy_state, "nm", 0.25, n=2, m=4)


def _scaled_units(params, axis_name, factors):
    """Multiply unit u of layer l (along `axis_name`) by factors[l][u], in every weight that has the axis."""

    def scale(lf):
        ax = lf.axis_of(axis_name)
        if ax is None:
            return lf.value
        shape = [1] * lf.ndim
        shape[ax] = lf.value.shape[ax]
        return lf.value * jnp.asarray(factors[int(lf.path[1])]).reshape(shape)

    from scaling.compress.params import map_leaves

    return map_leaves(scale, params)


def test_head_pruning_removes_whole_heads_consistently_across_q_k_v_o(toy_state, dims):
    D, H, K = dims.D, dims.H, dims.K
    factors = [[3.0, 0.1, 2.0, 0.2], [0.3, 4.0, 0.05, 5.0]]  # heads 1, 3 weakest in layer 0; 2, 0 in layer 1
    params = _scaled_units(toy_state, "heads", factors)
    masks = _named(make_masks(params, "heads", 0.5))
    for layer, dropped in enumerate([{1, 3}, {0, 2}]):
        pre = f"blocks/{layer}/attn/"
        keep_H = np.array([h not in dropped for h in range(H)])
        for name in ("w_q_DxHxK", "w_k_DxHxK", "w_v_DxHxK"):
            want_DxHxK = np.broadcast_to(keep_H[None, :, None], (D, H, K))
            np.testing.assert_array_equal(np.asarray(masks[pre + name]), want_DxHxK)
        want_HxKxD = np.broadcast_to(keep_H[:, None, None], (H, K, D))
        np.testing.assert_array_equal(np.asarray(masks[pre + "w_o_HxKxD"]), want_HxKxD)
        assert masks[f"blocks/{layer}/mlp/w_in_DxF"] is True


def test_global_head_pruning_takes_the_weakest_heads_anywhere(toy_state, dims):
    N_LAYERS = dims.N_LAYERS
    params = _scaled_units(toy_state, "heads", [[0.01, 0.02, 0.03, 5.0], [5.0, 5.0, 5.0, 0.04]])
    masks = _named(make_masks(params, "heads", 0.5, scope="global"))
    heads_kept = [np.asarray(masks[f"blocks/{i}/attn/w_o_HxKxD"])[:, 0, 0] for i in range(N_LAYERS)]
    np.testing.assert_array_equal(heads_kept[0], [0, 0, 0, 1])
    np.testing.assert_array_equal(heads_kept[1], [1, 1, 1, 0])


def test_neuron_pruning_masks_w_in_gate_and_w_out_together(toy_state, dims):
    D, F, N_LAYERS = dims.D, dims.F, dims.N_LAYERS
    rng = np.random.default_rng(0)
    factors = rng.uniform(0.1, 2.0, (N_LAYERS, F))
    params = _scaled_units(toy_state, "mlp", factors)
    masks = _named(make_masks(params, "neurons", 0.25))
    for layer in range(N_LAYERS):
        pre = f"blocks/{layer}/mlp/"
        keep_F = np.asarray(masks[pre + "w_out_FxD"])[:, 0]
        assert (~keep_F).sum() == n_to_prune(F, 0.25)
        w = _named(params)
        norms = np.sqrt(sum((np.asarray(w[pre + n]) ** 2).sum(0) for n in ("w_in_DxF", "w_gate_DxF"))
                        + (np.asarray(w[pre + "w_out_FxD"]) ** 2).sum(1))
        assert norms[~keep_F].max() <= norms[keep_F].min()
        for name in ("w_in_DxF", "w_gate_DxF"):
            np.testing.assert_array_equal(np.asarray(masks[pre + name]), np.broadcast_to(keep_F[None, :], (D, F)))
        np.testing.assert_array_equal(np.asarray(masks[pre + "w_out_FxD"]), np.broadcast_to(keep_F[:, None], (F, D)))
        assert masks[f"blocks/{layer}/attn/w_q_DxHxK"] is True


def test_head_pruning_handles_fused_qkv_and_stacked_layers(dims):
    D, H, K = dims.D, dims.H, dims.K
    rng = np.random.default_rng(0)
    L = 3
    params = nnx.State({"attn": {
        "w_qkv_DxHx3K": nnx.Param(jnp.asarray(rng.normal(size=(L, D, H, 3 * K))),
                                  logical_axes=("layers", "embed", "heads", "head_dim")),
        "w_out_HxKxD": nnx.Param(jnp.asarray(rng.normal(size=(L, H, K, D))),
                                 logical_axes=("layers", "heads", "head_dim", "embed")),
    }})
    masks = make_masks(params, "heads", 0.25)
    qkv, out = np.asarray(masks["attn"]["w_qkv_DxHx3K"][...]), np.asarray(masks["attn"]["w_out_HxKxD"][...])
    for layer in range(L):
        keep_H = out[layer, :, 0, 0]
        assert (~keep_H).sum() == 1
        np.testing.assert_array_equal(qkv[layer], np.broadcast_to(keep_H[None, :, None], (D, H, 3 * K)))
        np.testing.assert_array_equal(out[layer], np.broadcast_to(keep_H[:, None, None], (H, K, D)))


def test_structured_pruning_without_units_is_an_error():
    with pytest.raises(ValueError, match="no 'heads' units"):
        make_masks({"w_DxF": jnp.ones((4, 4)), "w_FxD": jnp.ones((4, 4))}, "heads", 0.5)


def test_apply_masks_and_count_nonzero(toy_state, dims):
    D, H, K, F, N_LAYERS = dims.D, dims.H, dims.K, dims.F, dims.N_LAYERS
    masks = make_masks(toy_state, "magnitude", 0.5)
    pruned = apply_masks(toy_state, masks)
    counts = count_nonzero(pruned)
    matrices = 7 * N_LAYERS
    prunable = N_LAYERS * (4 * D * H * K + 3 * D * F)
    assert counts["prunable"] == prunable
    n_pruned = N_LAYERS * (4 * n_to_prune(D * H * K, 0.5) + 3 * n_to_prune(D * F, 0.5))
    assert counts["prunable_nonzero"] == prunable - n_pruned
    assert counts["sparsity"] == pytest.approx(0.5)
    assert counts["total"] == prunable + 32 * D + (2 * N_LAYERS + 1) * D
    assert counts["nonzero"] == counts["total"] - (prunable - counts["prunable_nonzero"])
    assert matrices == sum(m is not True for m in jax.tree.leaves(masks))
    assert pruned["final_norm"][...] is toy_state["final_norm"][...]  # untouched leaves are passed through


@pytest.mark.parametrize("as_state", [True, False])
def test_masks_hold_through_adamw_recovery_with_weight_decay(toy_state, toy_dict, as_state):
    params, axes = (toy_state, None) if as_state else toy_dict
    masks = make_masks(params, "magnitude", 0.7, logical_axes=axes)
    params = apply_masks(params, masks)
    rng = np.random.default_rng(7)
    targets = jax.tree.map(lambda w: jnp.asarray(rng.normal(size=w.shape).astype(np.float32)), params)
    tx = masked_update(optax.adamw(1e-2, weight_decay=0.1), masks)

    @jax.jit
    def loss(p):
        pairs = zip(jax.tree.leaves(p), jax.tree.leaves(targets), strict=True)
        return sum(jnp.sum(jnp.square(a - t)) for a, t in pairs)

    @jax.jit
    def step(p, s):
        updates, s = tx.update(jax.grad(loss)(p), s, p)
        return optax.apply_updates(p, updates), s

    p, state = params, tx.init(params)
    for _ in range(20):
        p, state = step(p, state)
    assert loss(p) < loss(params)
    for (name, before), after, mask in zip(_named(params, axes).items(), _named(p, axes).values(),
                                           _named(masks, axes).values(), strict=True):
        before, after = np.asarray(before), np.asarray(after)
        if mask is True:
            assert (after != before).all(), name
            continue
        mask = np.asarray(mask)
        assert (after[~mask] == 0).all(), name  # exactly zero, not small
        assert (after[mask] != before[mask]).all(), name


def test_masks_made_on_a_state_apply_to_the_trainers_plain_dicts(toy_state, toy_dict):
    params, _ = toy_dict
    masks = make_masks(toy_state, "neurons", 0.5)
    from_dict = apply_masks(params, masks)
    from_state = nnx.to_pure_dict(apply_masks(toy_state, masks))
    for a, b in zip(jax.tree.leaves(from_dict), jax.tree.leaves(from_state), strict=True):
        np.testing.assert_array_equal(a, b)
    assert count_nonzero(from_dict)["nonzero"] < count_nonzero(params)["nonzero"]
