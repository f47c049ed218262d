"""The complete verifier end to end: VNN-LIB properties in, ONNX models in, answers in the competition's
format out, and a counterexample only after the float64 model confirms it."""

from __future__ import annotations

import csv
import subprocess
import sys

import keras
import numpy as np
import pytest

from robustkit.errors import ConfigError
from robustkit.verify.complete import verify_specification
from robustkit.verify.falsify import confirmed
from robustkit.verify.specification import Clause, Specification
from robustkit.verify.vnnlib import parse_vnnlib
from tests.relu_networks import dense_relu_network, forward64, grid

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def test_a_point_unsafe_only_in_float32_is_no_counterexample():
    """y0 = 0.1f * x at x = 3: float32 rounds the product up to 0.30000001192092896, float64 gives
    0.30000000447034836 (0.1f is 0.100000001490116...). The clause y0 >= 0.30000001192092896 holds in
    float32 only, so it is not a counterexample, though the float32 network says it is."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
    model.set_weights([np.array([[0.1, 0.0]], "float32"), np.zeros(2, "float32")])
    threshold = 0.30000001192092896
    assert float(model(np.array([[3.0]], "float32"))[0, 0]) == threshold
    spec = Specification(np.array([3.0]), np.array([3.0]), (Clause(np.array([[-1.0, 0.0]]), np.array([-threshold])),))
    assert not confirmed(model, spec, np.array([3.0], "float32"))
    assert verify_specification(model, spec, time_limit=10).status != "counterexample"


def test_vnnlib_text_parses_into_boxes_and_clauses():
    text = """
    ; a comment
    (declare-const X_0 Real) (declare-const X_1 Real)
    (declare-const Y_0 Real) (declare-const Y_1 Real) (declare-const Y_2 Real)
    (assert (>= X_0 -0.5)) (assert (<= X_0 0.5))
    (assert (and (>= X_1 0) (<= X_1 (* 2 0.25))))
    (assert (or (and (>= Y_1 Y_0) (<= Y_2 1.5)) (and (<= (+ Y_0 (* -1 Y_2)) -3))))
    """
    (spec,) = parse_vnnlib(text)
    assert spec.lower.tolist() == [-0.5, 0.0] and spec.upper.tolist() == [0.5, 0.5]
    first, second = spec.clauses
    # Y_1 >= Y_0 is Y_0 - Y_1 <= 0; Y_2 <= 1.5; Y_0 - Y_2 <= -3
    assert first.matrix.tolist() == [[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]] and first.offset.tolist() == [0.0, 1.5]
    assert second.matrix.tolist() == [[1.0, 0.0, -1.0]] and second.offset.tolist() == [-3.0]


def test_a_disjunction_over_input_boxes_gives_one_specification_each():
    text = """(declare-const X_0 Real) (declare-const Y_0 Real) (declare-const Y_1 Real)
    (assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))))
    (assert (>= Y_1 Y_0))"""
    boxes = sorted((s.lower[0], s.upper[0]) for s in parse_vnnlib(text))
    assert boxes == [(0.0, 1.0), (2.0, 3.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(declare-const X_0 Real) (declare-const Y_0 Real) (assert (<= X_0 1)) (assert (<= Y_0 0))", "X_0"),
        ("(declare-const X_0 Real) (declare-const Y_0 Real) (assert (<= X_0 (* X_0 X_0)))", "not linear"),
        ("(declare-const X_0 Real) (declare-const Y_0 Real) (assert (<= X_0 1)", "never closed"),
        ("(declare-const X_0 Real) (declare-const Y_0 Real) (assert (< X_0 1))", "'<'"),
    ],
)
def test_a_bad_property_says_what_is_wrong(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_vnnlib(text)


def _onnx_twin(model: keras.Model, path) -> None:
    """The same dense ReLU network written as ONNX Gemm and Relu nodes."""
    weights = model.get_weights()
    nodes, initializers, current = [], [], "x"
    for i in range(0, len(weights), 2):
        initializers += [
            numpy_helper.from_array(weights[i].T.copy(), f"w{i}"),
            numpy_helper.from_array(weights[i + 1], f"b{i}"),
        ]
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [f"z{i}"], transB=1))
        current = f"z{i}"
        if i + 2 < len(weights):
            nodes.append(helper.make_node("Relu", [current], [f"r{i}"]))
            current = f"r{i}"
    nodes.append(helper.make_node("Identity", [current], ["y"]))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, weights[0].shape[0]])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, weights[-1].shape[0]])]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]), str(path))


def _property(center, eps, label, classes) -> str:
    lines = [f"(declare-const X_{i} Real)" for i in range(len(center))]
    lines += [f"(declare-const Y_{j} Real)" for j in range(classes)]
    for i, c in enumerate(center):
        lines += [f"(assert (>= X_{i} {float(c - eps)!r}))", f"(assert (<= X_{i} {float(c + eps)!r}))"]
    others = " ".join(f"(and (>= Y_{j} Y_{label}))" for j in range(classes) if j != label)
    return "\n".join(lines + [f"(assert (or {others}))"])


@pytest.mark.parametrize("eps", [0.05, 1.5])
def test_the_command_answers_a_property_as_a_dense_grid_does(tmp_path, eps):
    model = dense_relu_network(5, 2, [8, 8], 3)
    center = np.array([0.3, -0.2])
    label = int(np.argmax(forward64(model, center[None])))
    _onnx_twin(model, tmp_path / "net.onnx")
    (tmp_path / "prop.vnnlib").write_text(_property(center, eps, label, 3))
    (spec,) = parse_vnnlib((tmp_path / "prop.vnnlib").read_text())
    expected = "sat" if spec.violated(forward64(model, grid(spec.lower, spec.upper, 201))).any() else "unsat"
    command = [sys.executable, "-m", "robustkit", "verify", "net.onnx", "prop.vnnlib", "--timeout", "60"]
    done = subprocess.run([*command, "--results", "out.txt"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out.txt").read_text()
    assert text.splitlines()[0] == expected == done.stdout.split()[0]
    if expected == "sat":  # the counterexample's X_i lie in the box and its Y_j are the network's
        values = dict(line.strip(" ()").split() for line in text.splitlines()[1:])
        x = np.array([float(values[f"X_{i}"]) for i in range(2)])
        assert spec.contains(x) and spec.violated(forward64(model, x[None]))[0]
        assert np.allclose([float(values[f"Y_{j}"]) for j in range(3)], forward64(model, x[None])[0], atol=1e-5)


def test_an_instance_list_gives_the_competitions_results_file(tmp_path):
    model = dense_relu_network(5, 2, [8, 8], 3)
    _onnx_twin(model, tmp_path / "net.onnx")
    for eps in (0.05, 1.5):
        label = int(np.argmax(forward64(model, np.array([[0.3, -0.2]]))))
        (tmp_path / f"p{eps}.vnnlib").write_text(_property([0.3, -0.2], eps, label, 3))
    (tmp_path / "instances.csv").write_text("net.onnx,p0.05.vnnlib,30\nnet.onnx,p1.5.vnnlib,30\n")
    command = [sys.executable, "-m", "robustkit", "verify", "--instances", "instances.csv", "--out", "results.csv"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert list(rows[0]) == ["benchmark", "onnx", "vnnlib", "prepare_time", "result", "run_time"]
    assert [r["vnnlib"] for r in rows] == ["p0.05.vnnlib", "p1.5.vnnlib"]
    assert all(r["result"] in ("sat", "unsat") for r in rows)
