"""Walking parameter pytrees: logical axes from metadata, a parallel tree or names, and each leaf's roles."""

from __future__ import annotations

import numpy as np
import pytest

from scaling.compress.params import Leaf, axes_from_name, leaves, map_leaves, to_rows


def test_axes_come_from_metadata_and_from_a_parallel_tree(toy_state, toy_dict):
    from_state = {lf.name: lf.axes for lf in leaves(toy_state)}
    params, axes = toy_dict
    from_dict = {lf.name: lf.axes for lf in leaves(params, axes)}
    assert from_state == from_dict
    assert from_state["blocks/1/attn/w_o_HxKxD"] == ("heads", "head_dim", "embed")
    assert from_state["final_norm"] == ("norm",)


def test_axes_from_shape_carrying_names_when_nothing_else_says():
    params = {"w_DxHxK": np.zeros((4, 2, 3)), "odd_name": np.zeros((4, 5)), "w_DxF": np.zeros((4, 4, 4))}
    got = {lf.name: lf.axes for lf in leaves(params)}
    assert got == {"w_DxHxK": ("embed", "heads", "head_dim"), "odd_name": None, "w_DxF": None}
    assert axes_from_name("w_qkv_DxHx3K", 3) is None


@pytest.mark.parametrize(
    ("axes", "roles"),
    [
        (("embed", "mlp"), ((0,), (1,), ())),
        (("mlp", "embed"), ((0,), (1,), ())),
        (("embed", "heads", "head_dim"), ((0,), (1, 2), ())),
        (("heads", "head_dim", "embed"), ((0, 1), (2,), ())),
        (("vocab", "embed"), ((1,), (0,), ())),
        (("embed", "vocab"), ((0,), (1,), ())),
        (("layers", "heads", "head_dim", "embed"), ((1, 2), (3,), (0,))),
        (None, ((0, 1), (2,), ())),
    ],
)
def test_roles_say_which_axes_a_matmul_contracts(axes, roles):
    assert Leaf(("w",), np.zeros((2, 3, 4, 5)[: len(axes) if axes else 3]), axes).roles() == roles


def test_prunable_means_matrices_without_norms_or_embedding(toy_state):
    by_name = {lf.name: lf for lf in leaves(toy_state)}
    assert not by_name["embed_VxD"].is_matrix() and by_name["embed_VxD"].is_matrix(include_embedding=True)
    assert not by_name["final_norm"].is_matrix(include_embedding=True)
    assert by_name["blocks/0/mlp/w_out_FxD"].is_matrix()


def test_map_leaves_keeps_wrappers_and_metadata(toy_state):
    doubled = map_leaves(lambda lf: lf.value * 2, toy_state)
    assert {lf.name: lf.axes for lf in leaves(doubled)} == {lf.name: lf.axes for lf in leaves(toy_state)}
    np.testing.assert_array_equal(doubled["embed_VxD"][...], 2 * toy_state["embed_VxD"][...])


def test_to_rows_puts_inputs_last_and_round_trips():
    w_HxKxD = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    w_RxI, back = to_rows(w_HxKxD, (0, 1))
    assert w_RxI.shape == (4, 6)
    np.testing.assert_array_equal(w_RxI[1], w_HxKxD[:, :, 1].ravel())
    np.testing.assert_array_equal(back(w_RxI), w_HxKxD)


def test_mismatched_axes_are_an_error():
    with pytest.raises(ValueError, match="do not match"):
        leaves({"w": np.zeros((2, 3))}, {"w": ("embed",)})
