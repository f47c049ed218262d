"""The common corruptions against the published algorithms (tests/corruption_reference.py): pixel for
pixel where they are deterministic, by the distribution of the per-image PSNR where they are random;
and their guarantees: the same images for any batch and split, inside the bounds, dtype kept."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, example, given
from hypothesis import strategies as st

from robustkit.corruptions import CORRUPTIONS, corrupt
from robustkit.corruptions.batches import back_to_bounds
from robustkit.corruptions.blur import glass_shuffle
from robustkit.corruptions.digital import elastic_corners, elastic_with
from robustkit.corruptions.noise import poisson
from robustkit.corruptions.sampling import sample_bilinear
from robustkit.corruptions.weather import drop_rims, fog_with, plasma_steps
from robustkit.errors import ConfigError, InputError
from tests import corruption_reference as ref
from tests.published_corruption_constants import CIFAR as SMALL
from tests.published_corruption_constants import IMAGENET as LARGE

SEVERITIES = (1, 2, 3, 4, 5)


def _smooth_images(n: int, channels: int = 3, size: int = 32, seed: int = 0) -> np.ndarray:
    """Natural-looking test images: random coarse colour fields, upsampled, with fine noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 1, (n, size // 4, size // 4, channels)).astype(np.float32)
    fine = tf.image.resize(coarse, (size, size), "bilinear").numpy() + rng.normal(0, 0.03, (n, size, size, channels))
    return (np.clip(fine, 0, 1) * 255).round().astype(np.float32) / 255


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return _smooth_images(3)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    from robustkit.sources.data import load_digits_split

    return load_digits_split().x_test[:120].astype(np.float32)


DETERMINISTIC = {
    "contrast": ref.contrast,
    "brightness": ref.brightness,
    "saturate": ref.saturate,
    "gaussian_blur": ref.gaussian_blur,
    "defocus_blur": ref.defocus_blur,
    "zoom_blur": ref.zoom_blur,
    "pixelate": ref.pixelate,
}


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_deterministic_corruptions_match_the_published_algorithm_pixel_for_pixel(name, images):
    for severity in SEVERITIES:
        ours = corrupt(images, name, severity)
        theirs = np.stack(
            [DETERMINISTIC[name](image.astype(np.float64), SMALL[name][severity - 1]) for image in images]
        )
        assert np.abs(ours - theirs).max() <= 2 / 255, (name, severity, np.abs(ours - theirs).max() * 255)


def test_jpeg_matches_pillow_within_the_codecs_rounding(images):
    for severity in SEVERITIES:
        ours = corrupt(images, "jpeg_compression", severity)
        theirs = np.stack([ref.jpeg_compression(image, SMALL["jpeg_compression"][severity - 1]) for image in images])
        steps = np.abs(ours - theirs) * 255
        assert steps.max() <= 4 and (steps <= 1).mean() > 0.98, (severity, steps.max(), (steps <= 1).mean())


def test_grey_images_are_corrupted_as_their_own_channel(digits):
    x = digits[:8]
    ours = corrupt(x, "defocus_blur", 3)
    theirs = np.stack([ref.defocus_blur(image.astype(np.float64), SMALL["defocus_blur"][2]) for image in x])
    assert np.abs(ours - theirs).max() <= 2 / 255
    bright = corrupt(x, "brightness", 5)
    assert np.allclose(bright, np.clip(x + SMALL["brightness"][4], 0, 1), atol=1e-5)


def test_plasma_fractal_is_the_published_diamond_square_given_the_same_draws():
    rng = np.random.default_rng(0)
    levels, uniforms, size = [], [], 16
    n = 1
    while n < size:
        fields = [rng.uniform(-1, 1, (n, n)) for _ in range(3)]
        levels.append(tuple(tf.constant(f[None], tf.float32) for f in fields))
        uniforms += fields
        n *= 2
    ours = plasma_steps(tf.zeros((1, 1, 1)), levels, 2.5).numpy()[0]
    theirs = ref.plasma_fractal(size, 2.5, uniforms)
    assert np.abs(ours - theirs).max() < 1e-4
    x = _smooth_images(1, size=16)
    fogged = fog_with(tf.constant(x), tf.constant(ours[None], tf.float32), 1.5).numpy()[0]
    assert np.abs(fogged - ref.fog_with(x[0].astype(np.float64), theirs, 1.5)).max() < 1e-5


@pytest.mark.parametrize("mode, scipy_mode", [("reflect", "reflect"), ("reflect101", "mirror")])
def test_displacement_sampling_matches_map_coordinates(mode, scipy_mode, images):
    """Elastic's two warps (an affine map, then a smooth displacement field) read the image through this."""
    rng = np.random.default_rng(1)
    rows = np.arange(32)[:, None] + rng.uniform(-6, 6, (32, 32))
    cols = np.arange(32)[None, :] + rng.uniform(-6, 6, (32, 32))
    ours = sample_bilinear(tf.constant(images[:1]), tf.constant(rows[None], tf.float32),
                           tf.constant(cols[None], tf.float32), mode).numpy()[0]  # fmt: skip
    theirs = ref.displaced(images[0].astype(np.float64), rows, cols, scipy_mode)
    assert np.abs(ours - theirs).max() < 1e-4


@pytest.mark.parametrize("severity", SEVERITIES)
def test_elastic_with_fixed_draws_matches_the_published_algorithm(severity, images):
    """The affine warp and the displacement field end to end, given the same moved points and noise."""
    rng = np.random.default_rng(severity)
    alpha, sigma, reach = SMALL["elastic_transform"][severity - 1]
    corners = elastic_corners(32, 32)
    moved = corners[None] + rng.uniform(-reach, reach, (len(images), 3, 2))
    noise = rng.uniform(-1, 1, (len(images), 2, 32, 32))
    ours = elastic_with(tf.constant(images), tf.constant(moved, tf.float32), tf.constant(noise, tf.float32),
                        (alpha, sigma, reach)).numpy()  # fmt: skip
    for i, image in enumerate(images):
        theirs = ref.elastic_with(image.astype(np.float64), (alpha, sigma), moved[i], noise[i])
        assert np.abs(ours[i] - theirs).max() < 2 / 255, (severity, i, np.abs(ours[i] - theirs).max())


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_elastic_at_224_gives_the_values_the_published_code_gave_on_the_same_draws(severity):
    """Against numbers typed from a run of the published ImageNet-C code (OpenCV's affine warp, then
    SciPy's map_coordinates), not against a re-implementation: tests/published_elastic_values.py."""
    from tests import published_elastic_values as published

    spec = LARGE["elastic_transform"][severity - 1]
    corners = elastic_corners(published.SIZE, published.SIZE).astype(np.float32)
    moved = corners + (np.array(published.OFFSETS) * spec[2]).astype(np.float32)  # as the code adds them, in float32
    noise = np.stack([published.noise(0), published.noise(1)])[None]
    x = (published.image() / 255.0).astype(np.float32)[None]
    out = elastic_with(tf.constant(x), tf.constant(moved[None]), tf.constant(noise, tf.float32), spec).numpy()[0]
    expected = published.PUBLISHED[severity]
    rows, cols = np.array(published.POINTS).T
    assert np.abs(out[rows, cols] - np.array(expected["pixels"])).max() < 1e-5
    assert np.abs(out.mean(axis=(0, 1)) - np.array(expected["means"])).max() < 1e-5
    assert abs(float(np.abs(out - x[0]).mean()) - expected["moved_from_input"]) < 1e-5


RANDOM = {
    "gaussian_noise": ref.gaussian_noise,
    "shot_noise": ref.shot_noise,
    "impulse_noise": ref.impulse_noise,
    "speckle_noise": ref.speckle_noise,
    "glass_blur": ref.glass_blur,
    "spatter": ref.spatter,
    "motion_blur": ref.motion_blur,
    "snow": ref.snow,
}


@pytest.fixture(scope="module")
def many_images() -> np.ndarray:
    return _smooth_images(500, seed=5)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_corruptions_match_the_published_distribution_of_psnr(name, many_images):
    rng = np.random.default_rng(0)
    # glass blur's and spatter's references go one pixel at a time in Python: smaller images keep them quick
    x = {"glass_blur": _smooth_images(200, size=16, seed=6), "spatter": _smooth_images(500, size=16, seed=6)}.get(
        name, many_images
    )
    for severity in SEVERITIES:
        constant = SMALL[name][severity - 1]
        ours = ref.psnr(x, corrupt(x, name, severity, seed=3))
        theirs = ref.psnr(x, np.stack([RANDOM[name](image.astype(np.float64), constant, rng) for image in x]))
        # A few images draw no drop at all and stay clean (PSNR 120 dB): compare how many, then the rest.
        assert abs((ours > 100).mean() - (theirs > 100).mean()) < 0.03, (name, severity)
        ours, theirs = ours[ours < 100], theirs[theirs < 100]
        assert abs(ours.mean() - theirs.mean()) < 0.5, (name, severity, ours.mean(), theirs.mean())
        assert abs(ours.std() - theirs.std()) < 0.5, (name, severity, ours.std(), theirs.std())


@pytest.mark.parametrize("reach, rounds, channels", [(1, 1, 3), (1, 2, 3), (2, 1, 1), (4, 2, 3)])
def test_glass_blur_shuffles_as_the_published_loop_given_the_same_draws(reach, rounds, channels):
    """The published statement copies a neighbour into each visited pixel (it does not swap): the same image
    and draws give the same pixels, exactly."""
    rng = np.random.default_rng(reach * 10 + rounds)
    x = rng.integers(0, 256, (2, 17, 23, channels)).astype(np.float32) / 255
    count = len(range(17 - reach, reach, -1)) * len(range(23 - reach, reach, -1))
    drawn = rng.integers(-reach, reach, (2, 2 * count * rounds)).astype(np.int32)
    ours = glass_shuffle(tf.constant(x), tf.constant(drawn), reach, rounds).numpy()
    for i in range(2):
        draws = iter(drawn[i].reshape(-1, 2))
        theirs = ref.glass_shuffle(x[i].astype(np.float64), reach, rounds, draws)
        np.testing.assert_array_equal(ours[i], theirs.astype(np.float32))
    assert not np.array_equal(ours, x)


def test_spatter_rims_match_opencvs_steps_given_the_same_drops():
    """Canny's edges, the chamfer distance, the equalisation and the 8-bit filters, value for value
    (the reference reproduces OpenCV 4.11 on these layers exactly)."""
    rng = np.random.default_rng(4)
    water = [c for c in SMALL["spatter"] + LARGE["spatter"] if c[5] == 0]
    for i in range(12):
        shape = (32, 32) if i % 3 else (17, 23)
        drops = np.minimum(ref.liquid_layer(shape, water[i % len(water)], rng) * 255, 255).astype(np.uint8)
        ours = drop_rims(tf.constant(drops[None], tf.float32)).numpy()[0]
        assert np.array_equal(ours, ref.drop_rims(drops)), i


@pytest.mark.slow
@example(name="impulse_noise", severity=5, cut=2, batch_size=3, dtype=np.float16, bounds=(1e4, 1e4 + 7.0), seed=0)
# One image alone against the batch of six: batched XLA code rounded elastic's warp differently here.
@example(name="elastic_transform", severity=2, cut=1, batch_size=1, dtype=np.float32, bounds=(0.0, 1.0), seed=0)
@example(name="impulse_noise", severity=5, cut=1, batch_size=4, dtype=np.float32, bounds=(33000.0, 33000.1), seed=1)
@given(
    name=st.sampled_from(sorted(CORRUPTIONS)),
    severity=st.sampled_from(SEVERITIES),
    cut=st.integers(1, 5),
    batch_size=st.integers(1, 6),
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
    bounds=st.sampled_from([(0.0, 1.0), (0.0, 255.0), (-3.0, 5.0), (1e4, 1e4 + 7.0), (33000.0, 33000.1)]),
    seed=st.integers(0, 2**31 - 1),
)
def test_the_same_images_for_any_batch_and_split_inside_the_bounds_in_their_dtype(
    name, severity, cut, batch_size, dtype, bounds, seed
):
    low, high = bounds
    unit = _smooth_images(6, channels=3, size=8, seed=seed % 7)
    x = (low + unit.astype(np.float64) * (high - low)).astype(dtype)
    x = np.where(x.astype(np.float64) < low, np.nextafter(x, np.asarray(high, dtype)), x).astype(dtype)
    x = np.where(x.astype(np.float64) > high, np.nextafter(x, np.asarray(low, dtype)), x).astype(dtype)
    # float16 holds no number in [33000, 33000.1] (its step there is 32): no image to corrupt.
    assume(x.astype(np.float64).min() >= low and x.astype(np.float64).max() <= high)
    whole = corrupt(x, name, severity, seed=seed, bounds=bounds)
    parts = np.concatenate([
        corrupt(x[:cut], name, severity, seed=seed, bounds=bounds, batch_size=batch_size),
        corrupt(x[cut:], name, severity, seed=seed, bounds=bounds, indices=range(cut, 6), batch_size=batch_size),
    ])  # fmt: skip
    assert whole.dtype == x.dtype and whole.shape == x.shape
    assert np.array_equal(whole, parts)
    wide = whole.astype(np.float64)
    assert np.isfinite(wide).all() and wide.min() >= low and wide.max() <= high


@example(low=-16777218.0, width=16777219.5, units=[1.0, 0.0, 0.5])  # the width rounds up by 0.5: 2.0 at 1
@given(
    low=st.floats(-(2.0**100), 2.0**100, width=32),
    width=st.floats(1e-30, 1e31),
    units=st.lists(st.floats(0.0, 1.0, width=32), min_size=1, max_size=8),
)
def test_values_mapped_back_to_float32_bounds_stay_inside_them_at_any_magnitude(low, width, units):
    high = float(np.float32(low + width))
    assume(np.isfinite(high) and low < high)
    unit = np.asarray(units, np.float32)
    out = back_to_bounds(unit, low, high, np.float32)
    wide = out.astype(np.float64)
    assert out.dtype == np.float32 and wide.min() >= low and wide.max() <= high
    # Within a few float32 steps of the exact value low + u (high - low), worked out in float64.
    step = float(np.spacing(np.float32(max(abs(low), abs(high)))))
    assert np.all(np.abs(wide - (low + unit.astype(np.float64) * (high - low))) <= 4 * step)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_every_corruption_function_returns_images_in_the_unit_range(name, images):
    # The contract each function states, apart from the mapping back to the user's bounds: augmentation
    # mixes these [0, 1] images directly. Saturated pixels and the strongest severity push every
    # corruption towards the edges; the constant is the published one, typed in the tests.
    x = images.copy()
    x[0, :16] = 0.0
    x[1, 16:] = 1.0
    keys = tf.constant([11, 12, 13], tf.int64)
    out = CORRUPTIONS[name].apply(tf.constant(x), keys, SMALL[name][4]).numpy()
    assert out.shape == x.shape and np.isfinite(out).all(), name
    assert out.min() >= 0.0 and out.max() <= 1.0, (name, float(out.min()), float(out.max()))


def test_different_seeds_and_examples_draw_differently(images):
    a = corrupt(images, "gaussian_noise", 3, seed=0)
    b = corrupt(images, "gaussian_noise", 3, seed=1)
    assert not np.array_equal(a, b)
    same_image = np.repeat(images[:1], 2, axis=0)
    c = corrupt(same_image, "gaussian_noise", 3)
    assert not np.array_equal(c[0], c[1])


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda x: corrupt(x, "frost", 1), ConfigError, "texture"),
        (lambda x: corrupt(x, "gausian_noise", 1), ConfigError, "gaussian_noise"),
        (lambda x: corrupt(x, "contrast", 6), ConfigError, "severity"),
        (lambda x: corrupt((x * 255).astype(np.uint8), "contrast", 1), InputError, "x / 255"),
        (lambda x: corrupt(x[:, :, :, :2], "contrast", 1), InputError, "(N, H, W, 1 or 3)"),
        (lambda x: corrupt(np.where(x > 0.5, np.nan, x), "contrast", 1), InputError, "NaN"),
        (lambda x: corrupt(x * 2, "contrast", 1), InputError, "bounds"),
        (lambda x: corrupt(x, "contrast", 1, constants="medium"), ConfigError, "small"),
    ],
)
def test_bad_input_gets_an_error_that_says_what_to_fix(call, error, words, images):
    with pytest.raises(error, match=None) as raised:
        call(images)
    assert words in str(raised.value)


@pytest.mark.parametrize("lam", [0.2, 2.0, 12.0, 29.0, 31.0, 200.0])
def test_shot_noise_counts_are_poisson_for_small_and_large_means(lam):
    """Dark pixels have few photons: their counts must be Poisson, not a rounded normal."""
    n = 20000
    rng = np.random.default_rng(int(lam * 10))
    counts = poisson(tf.fill((n,), lam), tf.constant(rng.uniform(size=n), tf.float32),
                     tf.constant(rng.normal(size=n), tf.float32)).numpy()  # fmt: skip
    assert abs(counts.mean() - lam) < 4 * np.sqrt(lam / n) + 0.01
    assert abs(counts.var() / lam - 1) < 0.06
    zero = np.exp(-lam)
    assert abs((counts == 0).mean() - zero) < 4 * np.sqrt(zero * (1 - zero) / n) + 1e-3


def test_shot_noise_has_the_published_psnr_within_two_hundredths_of_a_db():
    """The mean squared error of ``clip(Poisson(x c) / c, 0, 1)`` over grey levels x, by robustkit's draws
    against the exact Poisson distribution (SciPy's probabilities), at every published photon count."""
    from scipy import stats

    levels = np.linspace(0, 1, 256)
    rng = np.random.default_rng(0)
    draws = 4000
    for photons in (60, 25, 12, 5, 3, 500, 250, 100, 75, 50):  # ImageNet-C's, then CIFAR-10-C's (typed)
        lam = np.repeat(levels * photons, draws).astype(np.float32)
        counts = poisson(tf.constant(lam), tf.constant(rng.uniform(size=lam.size), tf.float32),
                         tf.constant(rng.normal(size=lam.size), tf.float32)).numpy()  # fmt: skip
        ours = np.mean((np.clip(counts / photons, 0, 1) - np.repeat(levels, draws)) ** 2)
        exact = 0.0
        for x in levels:
            k = np.arange(int(x * photons + 12 * np.sqrt(x * photons + 1) + 30))
            exact += np.sum(stats.poisson.pmf(k, x * photons) * (np.clip(k / photons, 0, 1) - x) ** 2)
        exact /= len(levels)
        assert abs(10 * np.log10(exact / ours)) < 0.02, (photons, 10 * np.log10(exact / ours))
