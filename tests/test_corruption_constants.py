"""The corruptions' constants are the published ones, for CIFAR-size and ImageNet-size images, and every
corruption runs on 224x224 images inside the bounds.

The oracle is ``tests/published_corruption_constants.py``: the published code's values typed by hand,
never ``robustkit.corruptions.constants``. Each table entry is compared severity by severity; at 224x224
the deterministic corruptions are compared pixel for pixel with the published algorithm
(``tests/corruption_reference.py``) run with the typed ImageNet constants, and the noises' strength is
measured on the output and compared with the typed constant (a median absolute deviation for Gaussian
and speckle noise, the share of flipped values for impulse noise, the count variance for shot noise).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from robustkit.corruptions import BENCHMARK, CORRUPTIONS, HELD_OUT, corrupt
from robustkit.corruptions.constants import constants_for
from tests import corruption_reference as ref
from tests.published_corruption_constants import BENCHMARK_CORRUPTIONS, CIFAR, HELD_OUT_CORRUPTIONS, IMAGENET

SEVERITIES = (1, 2, 3, 4, 5)
MAD_TO_STD = 0.6744897501960817  # the standard normal's median absolute value, Phi^-1(3/4)


def test_robustkit_provides_every_published_corruption_but_frost():
    assert set(CORRUPTIONS) == set(CIFAR) == set(IMAGENET)
    assert set(BENCHMARK) == set(BENCHMARK_CORRUPTIONS) - {"frost"} and set(HELD_OUT) == set(HELD_OUT_CORRUPTIONS)


@pytest.mark.parametrize("name", sorted(CIFAR))
@pytest.mark.parametrize("size, published", [(32, CIFAR), (224, IMAGENET)], ids=["cifar-32", "imagenet-224"])
def test_each_severity_takes_the_published_constant(name, size, published):
    ours = constants_for(name, size)
    assert len(ours) == 5, name
    for severity, (mine, theirs) in enumerate(zip(ours, published[name]), start=1):
        assert np.allclose(np.atleast_1d(mine), np.atleast_1d(theirs), rtol=1e-12, atol=0), (name, severity, mine)


@pytest.mark.parametrize(
    "side, chosen", [(8, "cifar"), (32, "cifar"), (64, "cifar"), (224, "imagenet"), (299, "imagenet")]
)
def test_small_images_take_the_cifar_constants_and_large_ones_the_imagenet_constants(side, chosen):
    published = CIFAR if chosen == "cifar" else IMAGENET
    assert np.allclose(constants_for("gaussian_noise", side), published["gaussian_noise"])


def _image(size: int, seed: int = 0) -> np.ndarray:
    """One natural-looking RGB image in [0, 1] on the 8-bit grid: a coarse colour field, upsampled."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 1, (1, size // 16, size // 16, 3)).astype(np.float32)
    fine = tf.image.resize(coarse, (size, size), "bilinear").numpy() + rng.normal(0, 0.02, (1, size, size, 3))
    return (np.clip(fine, 0, 1) * 255).round().astype(np.float32) / 255


DETERMINISTIC = {
    "contrast": ref.contrast,
    "brightness": ref.brightness,
    "saturate": ref.saturate,
    "gaussian_blur": ref.gaussian_blur,
    "defocus_blur": ref.defocus_blur,
    "zoom_blur": ref.zoom_blur,
    "pixelate": ref.pixelate,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_deterministic_corruptions_at_224_match_the_published_algorithm_at_every_severity(name):
    x = _image(224)
    for severity in SEVERITIES:
        ours = corrupt(x, name, severity)[0]
        theirs = DETERMINISTIC[name](x[0].astype(np.float64), IMAGENET[name][severity - 1])
        assert np.abs(ours - theirs).max() <= 2 / 255, (name, severity, np.abs(ours - theirs).max() * 255)


def _grey(value: float) -> np.ndarray:
    return np.full((1, 224, 224, 3), value, np.float32)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_the_noises_at_224_have_the_published_strength(severity):
    half = _grey(0.5)
    gaussian = np.median(np.abs(corrupt(half, "gaussian_noise", severity, seed=1) - 0.5)) / MAD_TO_STD
    assert gaussian == pytest.approx(IMAGENET["gaussian_noise"][severity - 1], rel=0.03)
    speckle = np.median(np.abs(corrupt(half, "speckle_noise", severity, seed=1) - 0.5)) / 0.5 / MAD_TO_STD
    assert speckle == pytest.approx(IMAGENET["speckle_noise"][severity - 1], rel=0.03)
    flipped = np.mean(corrupt(half, "impulse_noise", severity, seed=1) != 0.5)
    assert flipped == pytest.approx(IMAGENET["impulse_noise"][severity - 1], rel=0.05)
    # Poisson(0.05 c) / c has variance 0.05 / c; at 0.05 the clip at 1 is never reached.
    dark = corrupt(_grey(0.05), "shot_noise", severity, seed=1).astype(np.float64)
    assert 0.05 / dark.var() == pytest.approx(IMAGENET["shot_noise"][severity - 1], rel=0.05)


LOW, HIGH = 1e4, 1e4 + 255  # 8-bit pixels far from zero: float32 spacing 2^-10 there
ONE_SEVERITY = {"glass_blur": 2}  # its pixel swaps run one after another: one severity at this size is enough


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CIFAR))
def test_every_corruption_runs_on_224x224_images_inside_large_bounds(name):
    x = (LOW + _image(224, seed=3).astype(np.float64) * 255).astype(np.float32)
    severities = [ONE_SEVERITY[name]] if name in ONE_SEVERITY else [1, 5]
    for severity in severities:
        out = corrupt(x, name, severity, seed=2, bounds=(LOW, HIGH))
        wide = out.astype(np.float64)
        assert out.shape == x.shape and out.dtype == x.dtype
        assert np.isfinite(wide).all() and wide.min() >= LOW and wide.max() <= HIGH, (name, severity)
        assert not np.array_equal(out, x), (name, severity)
