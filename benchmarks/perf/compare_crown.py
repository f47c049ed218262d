"""robustkit's CROWN, alpha-CROWN and interval bounds against auto_LiRPA's on the same weights (a PyTorch twin).

Run: ``python benchmarks/perf/compare_crown.py --torch-python PATH [--examples N] [--eps E ...]``.

PATH is a Python interpreter of *another* environment with PyTorch and auto_LiRPA (robustkit never
depends on PyTorch). This process bounds the margins ``logit[y] - logit[j]`` of the zoo's digits
MLP, CNN and interval-trained CNN with ``margin_bounds(method="crown")``, ``"alpha-crown"`` and ``"ibp"`` over
the L-inf ball intersected with [0, 1], and writes the weights, the examples and the bounds to a
file; the other interpreter builds the PyTorch twin of each model from those weights (channels
first, TensorFlow's asymmetric "same" padding of a strided convolution as a shifted kernel, the
dense layer's rows reordered from height-width-channel to channel-height-width), checks that its
logits are the Keras model's, and bounds the same margins with auto_LiRPA's ``CROWN``, ``CROWN-Optimized``
(alpha-CROWN, 20 iterations at its own learning rate) and ``IBP`` (``compute_bounds`` with the margin
matrix C, ``PerturbationLpNorm`` with the same box). The table
gives, per model and eps, the largest difference between the two libraries' bounds, how often each
is the tighter by more than 1e-5, and the share of examples each verifies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = ("digits-mlp", "digits-cnn", "digits-cnn-ibp")


def export(path: str, examples: int, grid: list[float]) -> None:
    """Weights, examples and robustkit's bounds, for every model and eps, into one ``.npz`` file."""
    import numpy as np

    from robustkit.sources.data import load_digits_split
    from robustkit.sources.zoo import load_zoo_model
    from robustkit.verify import margin_bounds

    data = load_digits_split()
    x, y = data.x_test[:examples].astype("float32"), data.y_test[:examples].astype("int64")
    arrays = {"x": x, "y": y, "eps": np.asarray(grid)}
    for name in MODELS:
        model = load_zoo_model(name)
        for i, weight in enumerate(model.get_weights()):
            arrays[f"{name}/weight{i}"] = weight
        arrays[f"{name}/logits"] = model(x, training=False).numpy()
        for eps in grid:
            for method in ("crown", "ibp", "alpha-crown"):
                arrays[f"{name}/{eps:g}/{method}"] = margin_bounds(model, x, y, eps, method=method).lower
    np.savez(path, **arrays)


def twin(path: str, out: str) -> None:
    """In the PyTorch environment: the twins' logits and auto_LiRPA's bounds, into ``out``."""
    import numpy as np
    import torch
    from auto_LiRPA import BoundedModule, BoundedTensor, PerturbationLpNorm

    torch.set_num_threads(2)
    data = dict(np.load(path))
    x, y, grid = data["x"], data["y"], data["eps"]
    found = {}
    for name in MODELS:
        weights = [
            torch.tensor(data[f"{name}/weight{i}"]) for i in range(sum(k.startswith(name + "/weight") for k in data))
        ]
        net, inputs = _twin_network(name, weights, torch), _twin_inputs(name, x, torch)
        found[f"{name}/logits"] = net(inputs).detach().numpy()
        # alpha-CROWN at auto_LiRPA's own settings (20 iterations, its learning rate 0.5)
        options = {"optimize_bound_args": {"iteration": 20}}
        bounded = BoundedModule(net, torch.zeros_like(inputs[:1]), device="cpu", bound_opts=options)
        classes = found[f"{name}/logits"].shape[1]
        others = np.array([[j for j in range(classes) if j != label] for label in y])
        spec = np.zeros((len(y), classes - 1, classes), np.float32)
        spec[np.arange(len(y))[:, None], np.arange(classes - 1)[None], y[:, None]] = 1.0
        spec[np.arange(len(y))[:, None], np.arange(classes - 1)[None], others] = -1.0
        for eps in grid:
            low = torch.clamp(inputs - eps, 0.0, 1.0)
            high = torch.clamp(inputs + eps, 0.0, 1.0)
            region = BoundedTensor(inputs, PerturbationLpNorm(norm=np.inf, eps=float(eps), x_L=low, x_U=high))
            for method, key in (("CROWN", "crown"), ("IBP", "ibp"), ("CROWN-Optimized", "alpha-crown")):
                lower, _ = bounded.compute_bounds(x=(region,), C=torch.tensor(spec), method=method, bound_upper=False)
                full = np.full((len(y), classes), np.inf)
                full[np.arange(len(y))[:, None], others] = lower.detach().numpy()
                found[f"{name}/{eps:g}/{key}"] = full
    np.savez(out, **found)


def _twin_network(name: str, weights: list, torch):
    nn = torch.nn
    if name == "digits-mlp":
        layers = [nn.Flatten()]  # the inputs stay height-width-channel, as Keras flattens them
        for i in range(0, len(weights), 2):
            layers += [_linear(weights[i], weights[i + 1], nn), nn.ReLU()]
        return nn.Sequential(*layers[:-1]).eval()
    conv1 = _conv(weights[0], weights[1], 1, nn)
    # TensorFlow pads a stride-2 "same" convolution of 8 rows by 0 above and 1 below; a 4x4 kernel whose
    # first row and column are zero, padded by 1 all round, reads the same inputs
    shifted = torch.nn.functional.pad(weights[2], (0, 0, 0, 0, 1, 0, 1, 0))
    conv2 = _conv(shifted, weights[3], 1, nn, stride=2)
    dense = weights[4].reshape(4, 4, 32, -1).permute(2, 0, 1, 3).reshape(512, -1)  # rows to channel-first
    return nn.Sequential(
        conv1, nn.ReLU(), conv2, nn.ReLU(), nn.Flatten(),
        _linear(dense, weights[5], nn), nn.ReLU(), _linear(weights[6], weights[7], nn),
    ).eval()  # fmt: skip


def _linear(kernel, bias, nn):
    layer = nn.Linear(kernel.shape[0], kernel.shape[1])
    layer.weight.data, layer.bias.data = kernel.T.contiguous(), bias
    return layer


def _conv(kernel, bias, padding: int, nn, stride: int = 1):
    layer = nn.Conv2d(kernel.shape[2], kernel.shape[3], kernel.shape[0], stride=stride, padding=padding)
    layer.weight.data, layer.bias.data = kernel.permute(3, 2, 0, 1).contiguous(), bias
    return layer


def _twin_inputs(name: str, x, torch):
    tensor = torch.tensor(x)
    return tensor if name == "digits-mlp" else tensor.permute(0, 3, 1, 2).contiguous()


def compare(ours_path: str, theirs_path: str) -> list[dict]:
    import numpy as np

    ours, theirs = dict(np.load(ours_path)), dict(np.load(theirs_path))
    rows = []
    for name in MODELS:
        logits_gap = float(np.max(np.abs(ours[f"{name}/logits"] - theirs[f"{name}/logits"])))
        for eps in ours["eps"]:
            row = {"model": name, "eps": float(eps), "twin logits max |diff|": logits_gap}
            for method in ("crown", "ibp", "alpha-crown"):
                a, b = ours[f"{name}/{eps:g}/{method}"], theirs[f"{name}/{eps:g}/{method}"]
                finite = np.isfinite(a) & np.isfinite(b)
                gap = a[finite] - b[finite]
                row[f"{method} max |diff|"] = float(np.max(np.abs(gap)))
                row[f"{method} ours tighter"] = float(np.mean(gap > 1e-5))
                row[f"{method} theirs tighter"] = float(np.mean(gap < -1e-5))
                row[f"{method} verified ours / theirs"] = (
                    f"{np.mean(a.min(axis=1) > 0):.3f} / {np.mean(b.min(axis=1) > 0):.3f}"
                )
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", help="an interpreter with torch and auto_LiRPA")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--eps", type=float, nargs="+", default=[0.01, 0.03, 0.05, 0.1])
    parser.add_argument("--twin", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)  # the child's work
    args = parser.parse_args()
    if args.twin:
        twin(*args.twin)
        return
    if not args.torch_python:
        parser.error("--torch-python is required: the interpreter of an environment with torch and auto_LiRPA")
    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = os.path.join(folder, "ours.npz"), os.path.join(folder, "theirs.npz")
        export(ours, args.examples, args.eps)
        subprocess.run([args.torch_python, __file__, "--twin", ours, theirs], check=True)
        rows = compare(ours, theirs)
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    json.dump(rows, sys.stderr)


if __name__ == "__main__":
    main()
