"""Pruning masks (unstructured magnitude, N:M, whole heads and MLP neurons), applying them, and keeping them fixed
through recovery fine-tuning.

Masks are written by hand: `jaxpruner` is not on PyPI and breaks on current JAX, and what we need is small.
Masks are computed on the host in numpy (a one-off, deterministic step); ties are broken by position (a stable
sort over leaves in pytree order, then row-major within a leaf), so the pruned count is always exact.
A mask pytree has the structure of the parameters: bool arrays for touched leaves, `True` for untouched ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from scaling.compress.params import KNOWN_AXES, Leaf, leaves, rebuild, to_rows

Method = Literal["magnitude", "nm", "heads", "neurons"]


def n_to_prune(count: int, sparsity: float) -> int:
    """How many of `count` items a target sparsity removes: round half up, so e.g. 0.5 of 7 prunes 4."""
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    return min(count, math.floor(sparsity * count + 0.5))


def _prune_lowest(scores: np.ndarray, k: int) -> np.ndarray:
    """Keep-mask (same shape) dropping the `k` lowest scores; ties go to the earlier position."""
    keep = np.ones(scores.size, dtype=bool)
    keep[np.argsort(scores.ravel(), kind="stable")[:k]] = False
    return keep.reshape(scores.shape)


def _magnitude(targets: list[Leaf], sparsity: float, scope: str) -> dict[int, np.ndarray]:
    mags = [np.abs(np.asarray(leaf.value, dtype=np.float32)) for leaf in targets]
    if scope == "layer":
        return {i: _prune_lowest(m, n_to_prune(m.size, sparsity)) for i, m in enumerate(mags)}
    flat = np.concatenate([m.ravel() for m in mags]) if mags else np.zeros(0, np.float32)
    keep = _prune_lowest(flat, n_to_prune(flat.size, sparsity))
    bounds = np.cumsum([0] + [m.size for m in mags])
    return {i: keep[bounds[i] : bounds[i + 1]].reshape(m.shape) for i, m in enumerate(mags)}


def _n_of_m(targets: list[Leaf], n: int, m: int) -> dict[int, np.ndarray]:
    """In every group of m consecutive weights along the input axis keep the n largest (earlier wins ties)."""
    out = {}
    for i, leaf in enumerate(targets):
        in_axes, _, _ = leaf.roles()
        w_RxI, back = to_rows(np.abs(np.asarray(leaf.value, dtype=np.float32)), in_axes)
        if w_RxI.shape[1] % m:
            raise ValueError(f"{leaf.name}: input size {w_RxI.shape[1]} is not a multiple of m={m} for {n}:{m}")
        w_RxGxM = w_RxI.reshape(w_RxI.shape[0], -1, m)
        rank_RxGxM = np.argsort(np.argsort(-w_RxGxM, axis=-1, kind="stable"), axis=-1, kind="stable")
        out[i] = back((rank_RxGxM < n).reshape(w_RxI.shape))
    return out


def _common_depth(a: Sequence[str], b: Sequence[str]) -> int:
    d = 0
    while d < min(len(a), len(b)) and a[d] == b[d]:
        d += 1
    return d


def _unit_groups(all_leaves: list[Leaf], axis: str) -> list[tuple[list[int], int]]:
    """Leaves sharing one set of heads (or neurons): (leaf indices, unit count) per attention block (or MLP).

    A block is the deepest subtree holding both a weight that reads the residual stream (`embed` first, e.g.
    q/k/v, w_in, gate) and one that writes it (`embed` last, e.g. o, w_out); all `axis` leaves under it with the
    writer's unit count are masked together. (With grouped-query attention the shared k/v heads have another
    count and are left whole.)
    """
    has = [i for i, lf in enumerate(all_leaves) if lf.axis_of(axis) is not None]
    known = {i: [a for a in all_leaves[i].axes if a in KNOWN_AXES] for i in has}  # stacking axes aside
    readers = [i for i in has if len(known[i]) >= 2 and known[i][0] == "embed"]
    writers = [i for i in has if len(known[i]) >= 2 and known[i][-1] == "embed"]
    prefixes: dict[tuple[str, ...], int] = {}
    for w in writers:
        depth = max((_common_depth(all_leaves[w].path, all_leaves[r].path) for r in readers), default=-1)
        if depth >= 0:
            lf = all_leaves[w]
            prefixes[lf.path[:depth]] = lf.value.shape[lf.axis_of(axis)]
    members: dict[tuple[str, ...], list[int]] = {p: [] for p in prefixes}
    for i in has:
        lf = all_leaves[i]
        under = [p for p in prefixes if lf.path[: len(p)] == p]
        if under:
            p = max(under, key=len)
            if lf.value.shape[lf.axis_of(axis)] == prefixes[p]:
                members[p].append(i)
    return [(members[p], prefixes[p]) for p in prefixes]


def _unit_layout(leaf: Leaf, axis: str) -> tuple[list[int], int, list[int]]:
    """(batch axes, unit axis, the other axes) of a leaf for per-unit scores."""
    _, _, batch = leaf.roles()
    unit = leaf.axis_of(axis)
    other = [i for i in range(leaf.ndim) if i not in batch and i != unit]
    return list(batch), unit, other


def _structured(all_leaves: list[Leaf], axis: str, sparsity: float, scope: str) -> dict[int, np.ndarray]:
    """Masks removing whole units along `axis`, lowest L2 norm (over every weight of the unit) first."""
    groups = _unit_groups(all_leaves, axis)
    if not groups:
        raise ValueError(
            f"no {axis!r} units found to prune: need weights with a {axis!r} axis that read (embed first) "
            f"and write (embed last) the residual stream under a common module"
        )
    scores = []  # per group: (batch..., units)
    for idx, _units in groups:
        total = 0.0
        for i in idx:
            lf = all_leaves[i]
            if lf.ndim < 2:
                continue  # biases are masked with their unit but do not decide its score
            batch, unit, other = _unit_layout(lf, axis)
            w = np.asarray(lf.value, dtype=np.float32).transpose(batch + other + [unit])
            total = total + np.square(w).reshape(w.shape[: len(batch)] + (-1, w.shape[-1])).sum(-2)
        scores.append(np.sqrt(total))
    if scope == "layer":
        keeps = [_prune_lowest_rows(s, n_to_prune(s.shape[-1], sparsity)) for s in scores]
    else:
        flat = np.concatenate([s.ravel() for s in scores])
        keep = _prune_lowest(flat, n_to_prune(flat.size, sparsity))
        bounds = np.cumsum([0] + [s.size for s in scores])
        keeps = [keep[bounds[g] : bounds[g + 1]].reshape(s.shape) for g, s in enumerate(scores)]
    out = {}
    for (idx, _units), keep_BxU in zip(groups, keeps, strict=True):
        for i in idx:
            lf = all_leaves[i]
            batch, unit, other = _unit_layout(lf, axis)
            shape = [1] * lf.ndim
            for b in batch:
                shape[b] = lf.value.shape[b]
            shape[unit] = lf.value.shape[unit]
            k = keep_BxU.transpose(np.argsort(batch + [unit]))  # keep_BxU's axes put in the leaf's order
            out[i] = np.broadcast_to(k.reshape(shape), lf.value.shape)
    return out


def _prune_lowest_rows(scores_BxU: np.ndarray, k: int) -> np.ndarray:
    """Per leading index, drop the k lowest of the last axis (layer-wise structured pruning)."""
    flat = scores_BxU.reshape(-1, scores_BxU.shape[-1])
    return np.stack([_prune_lowest(row, k) for row in flat]).reshape(scores_BxU.shape)


def make_masks(
    params: Any,
    method: Method,
    sparsity: float | None = None,
    *,
    n: int | None = None,
    m: int | None = None,
    scope: Literal["layer", "global"] = "layer",
    include_embedding: bool = False,
    logical_axes: Any = None,
) -> Any:
    """Keep-masks for `params` (bool arrays; `True` for leaves left whole), same pytree structure.

    magnitude: smallest |w| per matrix (scope="layer") or under one threshold over all matrices ("global").
    nm: n kept of every m consecutive weights along the input axis (sparsity, if given, must be 1 - n/m).
    heads / neurons: whole attention heads / MLP neurons by the L2 norm of all their weights, the fraction
    `sparsity` of units per block ("layer") or over the whole model ("global").
    """
    if scope not in ("layer", "global"):
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
    all_leaves = leaves(params, logical_axes)
    if method == "nm":
        if n is None or m is None or not 0 < n <= m:
            raise ValueError(f"N:M pruning needs 0 < n <= m, got n={n}, m={m}")
        if sparsity is not None and not math.isclose(sparsity, 1 - n / m):
            raise ValueError(f"sparsity {sparsity} contradicts {n}:{m} (which is {1 - n / m})")
    elif sparsity is None:
        raise ValueError(f"method {method!r} needs a sparsity")
    if method in ("magnitude", "nm"):
        idx = [i for i, lf in enumerate(all_leaves) if lf.is_matrix(include_embedding)]
        targets = [all_leaves[i] for i in idx]
        found = _magnitude(targets, sparsity, scope) if method == "magnitude" else _n_of_m(targets, n, m)
        by_leaf = {idx[j]: mask for j, mask in found.items()}
    elif method == "heads":
        by_leaf = _structured(all_leaves, "heads", sparsity, scope)
    elif method == "neurons":
        by_leaf = _structured(all_leaves, "mlp", sparsity, scope)
    else:
        raise ValueError(f"unknown pruning method {method!r}; valid: magnitude, nm, heads, neurons")
    return rebuild(params, [jnp.asarray(by_leaf[i]) if i in by_leaf else True for i in range(len(all_leaves))])


def _like(masks: Any, tree: Any) -> Any:
    """`masks` in the structure of `tree` (a mask State used on the plain dicts a trainer holds, or the reverse)."""
    if jax.tree.structure(masks) == jax.tree.structure(tree):
        return masks
    return jax.tree.unflatten(jax.tree.structure(tree), jax.tree.leaves(masks))


def _where(mask: Any, x: Any) -> Any:
    return x if mask is True else jnp.where(mask, x, jnp.zeros_like(x))


def apply_masks(params: Any, masks: Any) -> Any:
    """Zero the pruned weights."""
    return jax.tree.map(_where, _like(masks, params), params)


def masked_update(inner: optax.GradientTransformation, masks: Any) -> optax.GradientTransformation:
    """`inner` with pruned weights frozen at zero: their gradients and final updates (weight decay included) zeroed.

    Masking the incoming gradients keeps the optimizer's moments clean; masking the outgoing updates is what
    guarantees a pruned weight never moves, whatever `inner` adds (decay, momentum, schedules).
    """

    def init(params: Any) -> Any:
        return inner.init(params)

    def update(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        mk = _like(masks, updates)
        updates, state = inner.update(jax.tree.map(_where, mk, updates), state, params)
        return jax.tree.map(_where, mk, updates), state

    return optax.GradientTransformation(init, update)


def count_nonzero(params: Any, *, include_embedding: bool = False, logical_axes: Any = None) -> dict[str, Any]:
    """Parameter counts: all leaves and the prunable matrices, with how many are non-zero and the sparsity."""
    total = nonzero = prunable = prunable_nonzero = 0
    for lf in leaves(params, logical_axes):
        size, nz = int(np.size(lf.value)), int(np.count_nonzero(np.asarray(lf.value)))
        total, nonzero = total + size, nonzero + nz
        if lf.is_matrix(include_embedding):
            prunable, prunable_nonzero = prunable + size, prunable_nonzero + nz
    sparsity = 1.0 - prunable_nonzero / prunable if prunable else 0.0
    return {
        "total": total,
        "nonzero": nonzero,
        "prunable": prunable,
        "prunable_nonzero": prunable_nonzero,
        "sparsity": sparsity,
    }
