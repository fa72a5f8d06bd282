"""A toy transformer's parameters (not the real model: compression must work on any pytree with logical axes)."""

from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

V, D, H, K, F, N_LAYERS = 32, 16, 4, 8, 24, 2


def _p(rng: np.random.Generator, shape: tuple[int, ...], axes: tuple[str, ...]) -> nnx.Param:
    """Normal weights drawn in numpy (no per-shape JAX compiles while building fixtures)."""
    return nnx.Param(jnp.asarray(rng.normal(size=shape).astype(np.float32)), logical_axes=axes)


class Attn(nnx.Module):
    def __init__(self, rng: np.random.Generator) -> None:
        self.w_q_DxHxK = _p(rng, (D, H, K), ("embed", "heads", "head_dim"))
        self.w_k_DxHxK = _p(rng, (D, H, K), ("embed", "heads", "head_dim"))
        self.w_v_DxHxK = _p(rng, (D, H, K), ("embed", "heads", "head_dim"))
        self.w_o_HxKxD = _p(rng, (H, K, D), ("heads", "head_dim", "embed"))


class Mlp(nnx.Module):
    def __init__(self, rng: np.random.Generator) -> None:
        self.w_in_DxF = _p(rng, (D, F), ("embed", "mlp"))
        self.w_gate_DxF = _p(rng, (D, F), ("embed", "mlp"))
        self.w_out_FxD = _p(rng, (F, D), ("mlp", "embed"))


class Block(nnx.Module):
    def __init__(self, rng: np.random.Generator) -> None:
        self.attn_norm = nnx.Param(jnp.ones((D,)), logical_axes=("norm",))
        self.attn = Attn(rng)
        self.mlp_norm = nnx.Param(jnp.ones((D,)), logical_axes=("norm",))
        self.mlp = Mlp(rng)


class Toy(nnx.Module):
    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.embed_VxD = _p(rng, (V, D), ("vocab", "embed"))
        self.blocks = nnx.List([Block(rng) for _ in range(N_LAYERS)])
        self.final_norm = nnx.Param(jnp.ones((D,)), logical_axes=("norm",))


@pytest.fixture
def dims() -> SimpleNamespace:
    """The toy model's sizes (V, D, H, K, F, N_LAYERS)."""
    return SimpleNamespace(V=V, D=D, H=H, K=K, F=F, N_LAYERS=N_LAYERS)


@pytest.fixture
def toy_state() -> nnx.State:
    """The toy model's parameters as an nnx.State of Params carrying logical axes."""
    return nnx.state(Toy(), nnx.Param)


@pytest.fixture
def toy_dict(toy_state: nnx.State) -> tuple[dict, dict]:
    """The same parameters as plain dicts (what the trainer holds) and the parallel logical-axes tree."""
    is_var = lambda x: isinstance(x, nnx.Variable)  # noqa: E731
    axes = jax.tree.map(lambda v: v.get_metadata().get("logical_axes"), toy_state, is_leaf=is_var)
    return nnx.to_pure_dict(toy_state), nnx.to_pure_dict(axes)
