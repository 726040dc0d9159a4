"""The runtime DAG format and fitted-state files (used by the executor and by replay)."""

from __future__ import annotations

import numpy as np
import pytest

from nirs_core.graph.runtime import GraphError, Node, RuntimeGraph, state_from_bytes, state_to_bytes


def _graph() -> RuntimeGraph:
    g = RuntimeGraph(inputs=[{"name": "nir", "n_features": 3}], outputs={"node": "004_output"})
    g.add(Node("000_input", "input", meta={"source": 0}))
    g.add(Node("001_SNV", "transform", ["000_input"], kernel="m:snv"))
    g.add(Node("002_SG", "transform", ["000_input"], kernel="m:sg"))
    g.add(Node("003_concat", "concat", ["001_SNV", "002_SG"]))
    g.add(Node("004_output", "output", ["003_concat"]))
    return g


def test_json_round_trip_keeps_structure_and_order():
    g = _graph()
    back = RuntimeGraph.from_json(g.to_json())
    assert [n.to_dict() for n in back.nodes] == [n.to_dict() for n in g.nodes]
    assert back.edges == [
        ("000_input", "001_SNV"),
        ("000_input", "002_SG"),
        ("001_SNV", "003_concat"),
        ("002_SG", "003_concat"),
        ("003_concat", "004_output"),
    ]
    assert back.structure_hash() == g.structure_hash()
    order = [n.id for n in back.topological_order()]
    for parent, child in back.edges:
        assert order.index(parent) < order.index(child)


def test_structure_hash_ignores_uuids_but_not_params():
    a, b = _graph(), _graph()
    assert a.nodes[1].uuid != b.nodes[1].uuid and a.structure_hash() == b.structure_hash()
    b.nodes[1].params = {"ddof": 1}
    assert a.structure_hash() != b.structure_hash()


def test_malformed_graphs_are_refused():
    g = _graph()
    with pytest.raises(GraphError, match="node id '001_SNV' is already used"):
        g.add(Node("001_SNV", "transform", ["000_input"]))
    with pytest.raises(GraphError, match=r"unknown parents \['nope'\]"):
        g.add(Node("005_x", "transform", ["nope"]))
    with pytest.raises(GraphError, match="has kind 'magic'"):
        g.add(Node("006_x", "magic"))
    data = g.to_dict()
    data["format"] = "other/9"
    with pytest.raises(GraphError, match="format 'other/9'"):
        RuntimeGraph.from_dict(data)
    cyclic = _graph()
    cyclic.nodes[0].parents = ["004_output"]
    with pytest.raises(GraphError, match="cycle through"):
        cyclic.topological_order()
    with pytest.raises(GraphError, match="no node 'zzz'"):
        g.node("zzz")


def test_state_bytes_are_bit_exact_deterministic_and_pickle_free():
    rng = np.random.default_rng(0)
    state = {"coef": rng.normal(size=(3, 5)), "intercept": 0.1 + 0.2, "mode": "interp", "idx": np.arange(4)}
    data = state_to_bytes(state)
    assert data == state_to_bytes(dict(reversed(list(state.items()))))
    back = state_from_bytes(data)
    assert np.array_equal(back["coef"], state["coef"]) and back["coef"].dtype == np.float64
    assert back["intercept"] == 0.1 + 0.2 and back["mode"] == "interp"
    assert np.array_equal(back["idx"], state["idx"])
    with pytest.raises(GraphError, match=r"arrays \['labels'\] hold Python objects"):
        state_to_bytes({"labels": np.array([object()], dtype=object)})
    with pytest.raises(GraphError, match="'__json__' is reserved"):
        state_to_bytes({"__json__": np.zeros(1)})
