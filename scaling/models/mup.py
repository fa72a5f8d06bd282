"""Maximal-update parameterization (muP): width-scaled init, attention and logit scales, per-parameter Adam lrs.

With m = d_model / mup_base_width, muP (Yang et al. 2022, Table 8 for Adam) keeps activations and their updates
width-independent, so a learning rate tuned at the base width transfers to wider models:

- hidden matrices (Q/K/V, attention output, MLP): init std = init_std / sqrt(m) (i.e. std ~ 1/sqrt(fan_in)),
  and Adam learning rate x 1/m;
- embeddings, norm scales and the readout: init std and learning rate unchanged (x 1);
- logits multiplied by 1/m (the readout multiplier), which is what makes the readout's constant lr correct;
- attention scores scaled by 1/head_dim instead of 1/sqrt(head_dim).

At the base width (m = 1) everything equals the standard parameterization except the attention scale. Under
"standard" every multiplier is 1, init is init_std everywhere, attention uses 1/sqrt(head_dim).
Both parameterizations scale the output projections' std by 1/sqrt(2 n_layers) (depth-scaled init).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax

from scaling.config import ModelConfig

# Path components of parameters that are not hidden matrices (their lr and init do not scale with width).
_VECTOR_LIKE = {"embed_VxD", "lm_head_DxV", "scale_D"}


def width_multiplier(cfg: ModelConfig) -> float:
    """m = d_model / mup_base_width under muP, 1 under the standard parameterization."""
    return cfg.d_model / cfg.mup_base_width if cfg.parameterization == "mup" else 1.0


@dataclass(frozen=True)
class Scales:
    """Every width-dependent constant the model needs: init stds, attention scale and the logit multiplier."""

    embed_std: float
    hidden_std: float
    out_std: float
    readout_std: float
    attention: float
    logits: float


def scales(cfg: ModelConfig) -> Scales:
    """Init stds and forward multipliers for `cfg` (standard or muP, see the module docstring)."""
    m = width_multiplier(cfg)
    hidden = cfg.init_std / math.sqrt(m)
    is_mup = cfg.parameterization == "mup"
    return Scales(
        embed_std=cfg.init_std,
        hidden_std=hidden,
        out_std=hidden / math.sqrt(2 * cfg.n_layers),
        readout_std=cfg.init_std,
        attention=1.0 / cfg.head_dim if is_mup else 1.0 / math.sqrt(cfg.head_dim),
        logits=1.0 / m,
    )


def _path_names(path: tuple[Any, ...]) -> set[str]:
    return {str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path}


def param_lr_scales(cfg: ModelConfig, params_state: Any) -> Any:
    """Per-parameter learning-rate multipliers for Adam, as a pytree of python floats shaped like `params_state`.

    Accepts an `nnx.State` of Params, its pure-dict form, or abstract shapes. Hidden matrices get
    mup_base_width / d_model under muP; embeddings, the untied readout and norm scales get 1. All 1.0 under
    "standard".
    """
    hidden = 1.0 / width_multiplier(cfg)

    def one(path: tuple[Any, ...], _leaf: Any) -> float:
        return 1.0 if _path_names(path) & _VECTOR_LIKE else hidden

    return jax.tree_util.tree_map_with_path(one, params_state)
