"""AugMix over the common corruptions: mixtures of chains of the benchmark's corruptions only (the held-out
ones stay unseen), seeded, inside the bounds, drawn afresh every epoch."""

from __future__ import annotations

import numpy as np
import pytest

from robustkit.errors import ConfigError
from robustkit.training import AugMixBatches, augmix
from robustkit.training import corruption_augment as module
from tests.published_corruption_constants import BENCHMARK_CORRUPTIONS, HELD_OUT_CORRUPTIONS


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    from robustkit.sources.data import load_digits_split

    return load_digits_split().x_train[:16].astype(np.float32)


@pytest.mark.slow
def test_augmix_mixes_only_the_benchmark_corruptions_and_stays_in_the_bounds(images, monkeypatch):
    used = []
    real = module.corrupt

    def recording(x, name, severity, **options):
        used.append((name, severity))
        return real(x, name, severity, **options)

    monkeypatch.setattr(module, "corrupt", recording)
    mixed = augmix(images, seed=4, severities=(2,))  # one severity: fewer graphs to build
    names = {name for name, _ in used}
    assert names <= set(BENCHMARK_CORRUPTIONS) and not names & set(HELD_OUT_CORRUPTIONS) and len(names) >= 5
    assert mixed.dtype == images.dtype and mixed.min() >= 0 and mixed.max() <= 1
    assert np.abs(mixed - images).mean() > 0.01  # it changed the images
    assert np.corrcoef(mixed.ravel(), images.ravel())[0, 1] > 0.5  # and they are still the images, mixed
    np.testing.assert_array_equal(augmix(images, seed=4, severities=(2,)), mixed)  # seeded
    with pytest.raises(ConfigError, match="held out"):
        augmix(images, corruptions=["fog", "saturate"])


@pytest.mark.slow
def test_augmix_batches_cover_the_data_and_redraw_every_epoch(images):
    labels = np.arange(16) % 10
    batches = AugMixBatches(images, labels, batch_size=5, seed=1, severities=(2,))
    assert len(batches) == 4
    first = np.concatenate([batches[i][0] for i in range(len(batches))])
    seen = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert sorted(seen.tolist()) == sorted(labels.tolist()) and first.shape == images.shape
    batches.on_epoch_end()
    second = np.concatenate([batches[i][0] for i in range(len(batches))])
    assert not np.array_equal(np.sort(first.ravel()), np.sort(second.ravel()))
