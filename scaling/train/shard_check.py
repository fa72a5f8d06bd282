"""Check, before anything trains, that every parameter of a model divides the mesh axes it is sharded over.

The trainer places parameters by their logical axes (`mesh.logical_to_spec`); planning runs the same rule on
an abstract model (shapes only, no arrays, no devices), so a d_model, d_ff, head count or vocabulary that a
mesh axis does not divide fails at `scaling validate`, not at the first trial.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import jax
from flax import nnx

from scaling.config import ModelConfig
from scaling.train.mesh import logical_to_spec


def check_param_sharding(cfg: ModelConfig, mesh_shape: dict[str, int]) -> None:
    """UserError naming the parameter and axis when a sharded dimension is not divisible by its mesh axes."""
    from scaling.models import build_model

    abstract = nnx.eval_shape(lambda: build_model(cfg, nnx.Rngs(0)))
    _, params = nnx.split(abstract, nnx.Param)
    mesh = SimpleNamespace(shape=mesh_shape)  # logical_to_spec reads only the axis sizes
    for path, var in jax.tree_util.tree_leaves_with_path(params, is_leaf=lambda x: isinstance(x, nnx.Variable)):
        axes: Any = var.get_metadata().get("logical_axes")
        if axes is None:
            continue
        name = "/".join(str(getattr(p, "key", p)) for p in path)
        logical_to_spec(axes, var.get_value().shape, mesh, what=f"size {cfg.label()}: parameter {name}")
