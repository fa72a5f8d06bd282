"""Model families (Flax NNX): `build_model(cfg, rngs)` picks the family; `logical_axes` reads parameter axis names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from flax import nnx

from scaling.config import ModelConfig
from scaling.models.mup import param_lr_scales
from scaling.models.transformer import Transformer, build_transformer

FAMILIES: dict[str, Callable[..., nnx.Module]] = {"transformer": build_transformer}

__all__ = ["FAMILIES", "Transformer", "build_model", "logical_axes", "param_lr_scales"]


def build_model(
    cfg: ModelConfig, rngs: nnx.Rngs, *, param_dtype: Any = jnp.float32, compute_dtype: Any = jnp.float32
) -> nnx.Module:
    """The model `cfg.family` names; `model(tokens_BxL int32) -> logits_BxLxV float32`."""
    if cfg.family not in FAMILIES:
        raise ValueError(f"unknown model family {cfg.family!r}; valid: {', '.join(FAMILIES)}")
    return FAMILIES[cfg.family](cfg, rngs, param_dtype=param_dtype, compute_dtype=compute_dtype)


def logical_axes(state: nnx.State) -> dict[Any, Any]:
    """The `logical_axes` metadata of every Param in `state`, as a nested dict shaped like `nnx.to_pure_dict`."""
    out: dict[Any, Any] = {}
    for path, var in nnx.to_flat_state(state):
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = tuple(var.get_metadata()["logical_axes"])
    return out
