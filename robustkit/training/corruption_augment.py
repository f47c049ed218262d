"""Training on corrupted data: AugMix's mixtures of chains of the common corruptions, fresh each epoch.

AugMix (Hendrycks et al., ICLR 2020) mixes ``width`` chains of 1 to ``max_depth`` random
operations with Dirichlet weights, then mixes the result with the clean image by a Beta weight, so
the training images stay close to the data while covering many corruptions. Here the operations
are the benchmark's corruptions (:data:`robustkit.corruptions.BENCHMARK`) at random severities;
the held-out four (speckle noise, Gaussian blur, spatter, saturate) are never used, so they still
measure what training did not see. Gaussian-noise training alone is
:class:`~robustkit.training.NoiseTrainer`.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 1)).astype(np.float32)
    >>> mixed = augmix(x, seed=1)
    >>> mixed.shape, bool(mixed.min() >= 0 and mixed.max() <= 1), bool((mixed != x).any())
    ((4, 8, 8, 1), True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from robustkit.corruptions import BENCHMARK, corrupt
from robustkit.corruptions.registry import SEVERITIES
from robustkit.errors import ConfigError


def _chain_step(chain: np.ndarray, active: np.ndarray, rng: np.random.Generator, corruptions: Sequence[str],
                severities: Sequence[int], seed: int, bounds: tuple[float, float]) -> np.ndarray:  # fmt: skip
    """One operation of every active chain: each example its own corruption and severity."""
    op = rng.integers(len(corruptions), size=len(chain))
    level = rng.integers(len(severities), size=len(chain))
    out = chain.copy()
    for c, name in enumerate(corruptions):
        for s, severity in enumerate(severities):
            rows = np.flatnonzero(active & (op == c) & (level == s))
            if len(rows):
                out[rows] = corrupt(chain[rows], name, severity, seed=seed, indices=rows, bounds=bounds)
    return out


def augmix(
    x: Any,
    *,
    seed: int = 0,
    width: int = 3,
    max_depth: int = 3,
    alpha: float = 1.0,
    corruptions: Sequence[str] = BENCHMARK,
    severities: Sequence[int] = SEVERITIES,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """One AugMix image per image of ``x`` (``(N, H, W, C)`` within ``bounds``), in ``x``'s dtype.

    Args:
        x: the images.
        seed: seeds the draws (chains, depths, severities and weights).
        width: the chains of corruptions mixed per image.
        max_depth: each chain applies 1 to ``max_depth`` corruptions.
        alpha: the Dirichlet and Beta concentration of the mixing weights.
        corruptions: which to draw from; only the benchmark's (the held-out ones measure what training
            did not see).
        severities: which severities to draw from.
        bounds: the images' range.
    """
    held_out = [c for c in corruptions if c not in BENCHMARK]
    if held_out:
        raise ConfigError(f"AugMix trains on the benchmark's corruptions only; {held_out} are held out for testing.")
    if width < 1 or max_depth < 1 or alpha <= 0:
        raise ConfigError(f"augmix needs width >= 1, max_depth >= 1 and alpha > 0, got {width}, {max_depth}, {alpha}.")
    x = np.asarray(x)
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet([alpha] * width, size=len(x)).astype(np.float64)
    keep = rng.beta(alpha, alpha, size=len(x))
    mixture = np.zeros(x.shape, np.float64)
    for i in range(width):
        depth = rng.integers(1, max_depth + 1, size=len(x))
        chain = x
        for step in range(max_depth):
            stream = int(rng.integers(2**31))
            chain = _chain_step(chain, step < depth, rng, corruptions, severities, stream, bounds)
        mixture += weights[:, i, None, None, None] * chain
    mixed = keep[:, None, None, None] * x + (1 - keep[:, None, None, None]) * mixture
    return np.clip(mixed, bounds[0], bounds[1]).astype(x.dtype)


class AugMixBatches(keras.utils.PyDataset):
    """Training batches of AugMix images, drawn afresh every epoch: ``model.fit(AugMixBatches(x, y), ...)``.

    ``clean_share`` of each epoch's examples (chosen at random) stay clean.
    """

    def __init__(self, x: Any, y: Any, batch_size: int = 32, seed: int = 0, clean_share: float = 0.0,
                 **augmix_options: Any) -> None:  # fmt: skip
        super().__init__()
        self.x, self.y = np.asarray(x), np.asarray(y)
        self.batch_size, self.seed, self.clean_share = batch_size, seed, clean_share
        self.options = augmix_options
        self.epoch = 0
        self._draw()

    def _draw(self) -> None:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.order = rng.permutation(len(self.x))
        mixed = augmix(self.x, seed=int(rng.integers(2**31)), **self.options)
        clean = rng.uniform(size=len(self.x)) < self.clean_share
        self.epoch_x = np.where(clean[:, None, None, None], self.x, mixed)

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.epoch_x[rows], self.y[rows]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._draw()
