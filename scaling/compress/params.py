"""Walk a parameter pytree leaf by leaf with each leaf's logical axes, so compression never depends on model code.

Accepts an `nnx.State` of `nnx.Param`s (axes from each Param's `logical_axes` metadata) or a plain dict of arrays
(axes from a parallel `logical_axes` pytree, as the trainer keeps them, or else read from shape-carrying names
such as `w_DxHxK`). Each leaf is classified by role: which axes a matmul contracts over (input), which it
produces (output), and which are independent copies (any axis with an unknown name, e.g. stacked `layers`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
from flax import nnx

KNOWN_AXES = ("vocab", "embed", "heads", "head_dim", "mlp", "norm")
# Single letters of shape-carrying names (nanodo style: `w_DxF`) and the logical axis each one means.
LETTER_AXES = {"V": "vocab", "D": "embed", "H": "heads", "K": "head_dim", "F": "mlp"}
_EMBEDDING_HINTS = ("embed", "wte", "vocab", "tok")

Axes = tuple[str | None, ...]


def _is_var(x: Any) -> bool:
    return isinstance(x, nnx.Variable)


def _key_str(k: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def path_str(path: Sequence[Any]) -> tuple[str, ...]:
    """A jax key path as a tuple of plain strings ('layers', '0', 'attn', 'w_DxHxK')."""
    return tuple(_key_str(k) for k in path)


def axes_from_name(name: str, ndim: int) -> Axes | None:
    """Logical axes read from a shape-carrying name (`w_DxHxK` -> embed, heads, head_dim), else None."""
    letters = name.rsplit("_", 1)[-1].split("x")
    if len(letters) != ndim or not all(letter in LETTER_AXES for letter in letters):
        return None
    return tuple(LETTER_AXES[letter] for letter in letters)


@dataclass(frozen=True)
class Leaf:
    """One parameter array with where it sits and what its axes mean."""

    path: tuple[str, ...]
    value: Any
    axes: Axes | None

    @property
    def name(self) -> str:
        return "/".join(self.path)

    @property
    def ndim(self) -> int:
        return len(self.value.shape)

    @property
    def is_norm(self) -> bool:
        return self.axes is not None and "norm" in self.axes

    @property
    def is_embedding(self) -> bool:
        """Token embedding or LM head: any leaf with a `vocab` axis (or, without axes, an embedding-like name)."""
        if self.axes is not None:
            return "vocab" in self.axes
        return any(h in part.lower() for part in self.path for h in _EMBEDDING_HINTS)

    def is_matrix(self, include_embedding: bool = False) -> bool:
        """Prunable / quantizable: ndim >= 2, never a norm, the embedding only when asked."""
        return self.ndim >= 2 and not self.is_norm and (include_embedding or not self.is_embedding)

    def roles(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(input axes, output axes, batch axes) of a matrix as a matmul uses it.

        vocab is always the output (embedding rows, LM-head logits); a leading embed is the input (w_DxF,
        w_DxHxK); otherwise the last axis is the output (w_FxD, w_HxKxD). Unknown axis names are batch axes.
        """
        if self.axes is None:
            return tuple(range(self.ndim - 1)), (self.ndim - 1,), ()
        known = [i for i, a in enumerate(self.axes) if a in KNOWN_AXES]
        batch = tuple(i for i in range(self.ndim) if i not in known)
        if "vocab" in self.axes:
            out = (self.axes.index("vocab"),)
        elif self.axes[known[0]] == "embed":
            out = tuple(known[1:])
        else:
            out = (known[-1],)
        return tuple(i for i in known if i not in out), out, batch

    def axis_of(self, name: str) -> int | None:
        """Index of the axis with this logical name, or None."""
        return self.axes.index(name) if self.axes is not None and name in self.axes else None


def _is_axes(x: Any) -> bool:
    return x is None or (isinstance(x, tuple) and all(isinstance(a, (str, type(None))) for a in x))


def _axes_lookup(logical_axes: Any) -> dict[tuple[str, ...], Axes | None]:
    flat = jax.tree_util.tree_flatten_with_path(logical_axes, is_leaf=_is_axes)[0]
    return {path_str(p): (tuple(a) if a is not None else None) for p, a in flat}


def leaves(params: Any, logical_axes: Any = None) -> list[Leaf]:
    """Every array leaf of `params`, in pytree order, with its logical axes (metadata, `logical_axes`, or name)."""
    lookup = _axes_lookup(logical_axes) if logical_axes is not None else {}
    out = []
    for path, node in jax.tree_util.tree_flatten_with_path(params, is_leaf=_is_var)[0]:
        p = path_str(path)
        value = node.get_value() if _is_var(node) else node
        axes = node.get_metadata().get("logical_axes") if _is_var(node) else None
        if axes is None:
            axes = lookup.get(p)
        shape = getattr(value, "shape", None)  # None for the `True` of an untouched mask leaf
        if axes is None and p and shape is not None:
            axes = axes_from_name(p[-1], len(shape))
        if axes is not None and shape is not None and len(axes) != len(shape):
            raise ValueError(f"parameter {'/'.join(p)}: logical axes {axes} do not match shape {shape}")
        out.append(Leaf(p, value, tuple(axes) if axes is not None else None))
    return out


def rebuild(params: Any, values: Sequence[Any]) -> Any:
    """`params` with its leaves replaced by `values` (in `leaves` order), wrappers and metadata kept."""
    treedef = jax.tree.structure(params)
    if treedef.num_leaves != len(values):
        raise ValueError(f"expected {treedef.num_leaves} leaves, got {len(values)}")
    return jax.tree.unflatten(treedef, list(values))


def map_leaves(fn: Callable[[Leaf], Any], params: Any, logical_axes: Any = None) -> Any:
    """Apply `fn(leaf) -> new value` to every leaf, keeping the pytree's structure."""
    return rebuild(params, [fn(leaf) for leaf in leaves(params, logical_axes)])


def to_rows(w: Any, in_axes: Sequence[int]) -> tuple[Any, Callable[[Any], Any]]:
    """View `w` (numpy or jax) as w_RxI, input axes moved last and flattened, and a function that undoes it."""
    ndim = len(w.shape)
    rest = [i for i in range(ndim) if i not in in_axes]
    order = rest + list(in_axes)
    moved_shape = tuple(w.shape[i] for i in order)
    n_in = math.prod(w.shape[i] for i in in_axes)
    w_RxI = w.transpose(order).reshape(-1, n_in)
    inverse = [order.index(i) for i in range(ndim)]

    def back(x_RxI: Any) -> Any:
        return x_RxI.reshape(moved_shape).transpose(inverse)

    return w_RxI, back
