"""Every adversarial example is finite, inside the eps-ball and inside the bounds: every attack, norm and dtype.

What must be covered is enumerated (attack x norm x input dtype); Hypothesis draws the rest: the
per-feature bounds, the inputs, eps, the seed and the batch. Features live at fixed magnitudes from
0.5 to 1e6 (float16: to 6e4), so every draw has coordinates where the float32 spacing exceeds
1/16 and rounding to the nearest number would leave the ball. The check is strict: the difference
``x_adv - x`` in float64 from the returned arrays (and in the input's dtype), no slack.
"""

from __future__ import annotations

import keras
import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from robustkit.attacks import APGD, APGDT, FAB, FGSM, FMN, PGD, AutoAttack, Square

SHAPE = (4, 4, 2)
DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32, "float64": np.float64}
# Per-feature bounds, each exactly representable in bfloat16 (and float16 for "half"): unit pixels, hundreds,
# an income near 33,000, -2e5 and 1e6 (float16 stops at 65,504), and two narrow ranges that eps overflows.
BOUNDS = {
    "wide": ([0.0, -2.0, 296.0, 32768.0, -204800.0, 999424.0, 6.0, -4.0],
             [1.0, 2.0, 304.0, 33792.0, -196608.0, 1007616.0, 6.5, -3.75]),
    "half": ([0.0, -2.0, 296.0, 32768.0, -30720.0, 60000.0, 6.0, -4.0],
             [1.0, 2.0, 304.0, 33792.0, -28672.0, 61024.0, 6.5, -3.75]),
}  # fmt: skip


def _layout(values: list[float]) -> np.ndarray:
    return np.resize(np.asarray(values, np.float64), SHAPE)


def _bounds(family: str) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = BOUNDS[family]
    return _layout(lower), _layout(upper)


def _model(family: str) -> keras.Model:
    """A small CNN that first brings each feature to unit scale, so that every magnitude matters."""
    keras.utils.set_random_seed(2)
    lower, upper = _bounds(family)
    centre, spread = (lower + upper) / 2, upper - lower
    return keras.Sequential(
        [
            keras.Input(SHAPE),
            keras.layers.Rescaling(scale=1.0 / spread, offset=-centre / spread),
            keras.layers.Conv2D(3, 2, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(4),
        ]
    )


MODELS = {"wide": _model("wide"), "half": _model("half")}

# Small budgets: the guarantee is about the last step, which every budget takes.
KINDS = {
    "fgsm": lambda common: FGSM(random_start=True, **common),
    "pgd": lambda common: PGD(steps=3, restarts=2, random_start=True, target="random", loss="margin", **common),
    "apgd": lambda common: APGD(steps=4, **common),
    "apgd-t": lambda common: APGDT(steps=3, n_targets=2, **common),
    "fab": lambda common: FAB(steps=3, n_targets=2, restarts=2, **common),
    "square": lambda common: Square(queries=6, **common),
    "fmn": lambda common: FMN(steps=3, n_targets=1, **common),
    "autoattack": lambda common: AutoAttack(
        version="fast" if common["norm"] == "l1" else "standard", steps=3, n_targets=2, queries=6, **common
    ),
}
CASES = [(kind, norm) for kind in KINDS for norm in ("linf", "l2", "l1") if not (kind == "square" and norm == "l1")]


@st.composite
def problems(draw, family: str, dtype):
    """Inputs inside the family's bounds (at them, often), labels and a positive eps.

    The bounds are fixed: they are part of a compiled attack, and every draw of new bounds would trace
    the attack again. eps = 0 has a test of its own.
    """
    batch = draw(st.integers(1, 4))
    lower, upper = _bounds(family)
    size = batch * int(np.prod(SHAPE))
    unit = np.asarray(draw(st.lists(st.sampled_from([0.0, 1.0]) | st.floats(0, 1), min_size=size, max_size=size)))
    x = (lower + unit.reshape((batch,) + SHAPE) * (upper - lower)).astype(dtype)
    x = np.minimum(np.maximum(x, lower.astype(dtype)), upper.astype(dtype))  # exact bounds: no rounding outside
    y = np.asarray(draw(st.lists(st.integers(0, 3), min_size=batch, max_size=batch)))
    eps = draw(st.sampled_from([0.1, 8 / 255, 1 / 3, 2.5, 300.0]) | st.floats(1e-4, 1e3))
    return x, y, eps


def _norm(delta: np.ndarray, norm: str) -> np.ndarray:
    flat = delta.reshape(len(delta), -1)
    return {"linf": np.abs(flat).max(axis=1), "l2": np.linalg.norm(flat, axis=1), "l1": np.abs(flat).sum(axis=1)}[norm]


def assert_inside(x: np.ndarray, x_adv: np.ndarray, eps: float, norm: str, bounds: tuple) -> None:
    """The ball and the bounds, from the returned arrays: in float64 and in the input's own dtype."""
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    wide, wide_adv = x.astype(np.float64), x_adv.astype(np.float64)
    assert np.all(np.isfinite(wide_adv))
    sizes = _norm(wide_adv - wide, norm)
    assert np.all(sizes <= eps), f"{norm} norms {sizes[sizes > eps]} exceed eps={eps!r}"
    # The difference rounded to the input's dtype (its norm accumulated in float64): within eps as that
    # dtype writes eps (L-inf), or within eps itself (L2, L1).
    own = _norm((x_adv - x).astype(np.float64), norm)
    limit = float(np.asarray(eps).astype(x.dtype)) if norm == "linf" else eps
    assert np.all(own <= limit), "outside the ball as the input's dtype computes it"
    lower, upper = (np.broadcast_to(np.asarray(b, np.float64), x.shape[1:]) for b in bounds)
    assert np.all(wide_adv >= np.minimum(lower, wide)) and np.all(wide_adv <= np.maximum(upper, wide))


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize(("kind", "norm"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
@settings(max_examples=2)
@given(data=st.data(), seed=st.integers(0, 1000))
def test_adversarial_examples_are_inside_the_ball_and_the_bounds(kind, norm, dtype, data, seed):
    family = "half" if dtype == "float16" else "wide"
    x, y, eps = data.draw(problems(family, DTYPES[dtype]))
    bounds = _bounds(family)
    attack = KINDS[kind](dict(eps=eps, norm=norm, bounds=bounds, seed=seed))
    result = attack.run(MODELS[family], x, y)
    x_adv = result.x_adv.numpy()
    assert_inside(x, x_adv, eps, norm, bounds)
    # The reported norms are those of the returned arrays.
    np.testing.assert_allclose(result.norms, _norm(x_adv.astype(np.float64) - x.astype(np.float64), norm), rtol=1e-12)
    if result.radius is not None:  # minimum-norm: success is exactly "an adversarial point within eps"
        np.testing.assert_array_equal(result.success, result.radius <= eps)
        assert np.all(result.radius[result.success] >= result.norms[result.success])
    # Success describes the returned point: its prediction is the adversarial one.
    predicted = np.argmax(MODELS[family](x_adv.astype(np.float32)).numpy(), axis=-1)
    np.testing.assert_array_equal(predicted, result.adv_pred)


# The table of the report that found the rounding bug: an income near 33,000 (float32 spacing 1/256).
def test_a_table_with_large_feature_values_has_no_row_outside_the_ball():
    rng = np.random.default_rng(0)
    x = np.stack([rng.uniform(30000, 36000, 200), rng.uniform(0, 1, 200), rng.integers(0, 12, 200)], 1)
    x = x.astype("float32")
    y = (x[:, 0] > 33000).astype(int)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Rescaling([1 / 3000, 1.0, 0.1], offset=[-11.0, 0.0, 0.0]),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(2),
        ]
    )
    bounds = (np.array([0.0, 0.0, 0.0]), np.array([1e5, 1.0, 12.0]))
    for attack in (
        FGSM(eps=0.1, bounds=bounds),
        PGD(eps=0.1, steps=5, bounds=bounds, seed=0),
        APGD(eps=0.1, steps=5, bounds=bounds, seed=0, loss="margin"),
    ):
        x_adv = attack(model, x, y, seed=0).numpy()
        outside = np.abs(x_adv.astype(np.float64) - x).max(axis=1) > 0.1
        assert outside.sum() == 0, f"{type(attack).__name__}: {outside.sum()} of 200 rows outside the ball"
        moved = np.abs(x_adv[:, 0].astype(np.float64) - x[:, 0])
        assert moved.max() > 0.09  # the attack does reach the ball's edge on the large feature


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_eps_zero_returns_x_itself(kind):
    x = np.linspace(0, 1, 2 * 32).reshape((2,) + SHAPE).astype("float32") * 1000
    bounds = (np.zeros(SHAPE), np.full(SHAPE, 1000.0))
    result = KINDS[kind](dict(eps=0.0, norm="linf", bounds=bounds, seed=1)).run(MODELS["wide"], x, [0, 1])
    np.testing.assert_array_equal(result.x_adv.numpy(), x)
    assert np.all(result.norms == 0)


@pytest.mark.parametrize("kind", ["pgd", "apgd", "fab"])
def test_a_bound_the_dtype_cannot_represent_is_kept(kind):
    """Upper bound 0.1: float32's 0.1 lies above it, so a point on the bound needs the step toward x."""
    x = np.full((3,) + SHAPE, 0.1, "float32")  # float32(0.1) > 0.1, inside the bounds' tolerance
    x[:, 0] = 0.05
    bounds = (0.0, 0.1)
    result = KINDS[kind](dict(eps=0.03, norm="linf", bounds=bounds, seed=0)).run(MODELS["wide"], x, [0, 1, 2])
    x_adv = result.x_adv.numpy().astype(np.float64)
    assert np.all(x_adv <= np.maximum(0.1, x))
    assert np.all(np.abs(x_adv - x).max(axis=(1, 2, 3)) <= 0.03)


def _zero_gradient():
    # Constant logits: the gradient is zero everywhere, which must not produce NaN steps.
    return keras.Sequential(
        [keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(4, kernel_initializer="zeros")]
    )


@pytest.mark.parametrize(("kind", "norm"), [("pgd", "l2"), ("apgd", "l1"), ("fab", "linf"), ("square", "l2")])
def test_a_model_without_slope_gives_finite_points_inside_the_ball(kind, norm):
    x = np.full((2,) + SHAPE, 0.5, "float32")
    result = KINDS[kind](dict(eps=0.2, norm=norm, seed=0)).run(_zero_gradient(), x, [0, 1])
    assert_inside(x, result.x_adv.numpy(), 0.2, norm, (0.0, 1.0))
    if result.radius is None:  # a minimum-norm attack's objective is -inf until it finds a point
        assert np.all(np.isfinite(result.loss[result.grad_evals > 0]))


@given(st.sampled_from(["linf", "l2", "l1"]), st.integers(0, 2**20), st.floats(0.01, 2.0))
def test_random_starts_are_seeded(norm, seed, eps):
    model = MODELS["wide"]
    x = np.full((4,) + SHAPE, 0.5, "float32")
    y = np.array([0, 1, 2, 3])
    bounds = (-1e6, 1e6)
    # One step of size ~0 leaves each example at its random start.
    attack = PGD(eps=eps, steps=1, step_size=1e-9, norm=norm, random_start=True, seed=seed, bounds=bounds)
    first, second = attack(model, x, y).numpy(), attack(model, x, y).numpy()
    np.testing.assert_array_equal(first, second)
    other = PGD(eps=eps, steps=1, step_size=1e-9, norm=norm, random_start=True, seed=seed + 1, bounds=bounds)
    assert not np.array_equal(first, other(model, x, y).numpy())
    assert np.all(_norm(first.astype(np.float64) - x, norm) <= eps)


@pytest.mark.parametrize("norm", ["linf", "l2", "l1"])
def test_random_starts_fill_the_ball(norm):
    """Random starts are spread through the ball, not stuck at its centre or surface only."""
    from robustkit.norms import get_norm
    from robustkit.row_random import example_keys

    ball = get_norm(norm)
    starts = ball.random_start(
        tf.zeros((2000, 6), tf.float64), tf.constant(1.0, tf.float64), example_keys(3, tf.range(2000))
    ).numpy()
    radii = _norm(starts, norm)
    assert radii.max() <= 1.0 + 1e-9
    # For a uniform distribution on a 6-dimensional ball, P(radius <= r) = r**6.
    assert abs(np.mean(radii <= 0.9) - 0.9**6) < 0.05


@pytest.mark.parametrize("norm", ["l2", "l1"])
@pytest.mark.parametrize("kind", ["pgd", "apgd"])
def test_l2_and_l1_points_reach_the_sphere_and_never_pass_it(kind, norm):
    """Far from the bounds, long large steps end on the sphere: the projection is tight, not loose."""
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(4)])
    x = np.random.default_rng(0).uniform(0.4, 0.6, (16, 12)).astype("float32")
    eps = {"l2": 0.05, "l1": 0.1}[norm]
    attack = KINDS[kind](dict(eps=eps, norm=norm, seed=0))
    result = attack.run(model, x, np.arange(16) % 4)
    sizes = _norm(result.x_adv.numpy().astype(np.float64) - x, norm)
    assert sizes.max() <= eps
    assert np.median(sizes) >= eps * (1 - 1e-5), sizes
