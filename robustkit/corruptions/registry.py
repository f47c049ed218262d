"""The common corruptions by name: each one's family, whether it is one of the four held out of
training, whether it draws random numbers, and its function.

The benchmark's 15 corruptions fall in four families; four more (speckle noise, Gaussian blur,
spatter, saturate) are held out, for validation, and kept out of corruption augmentation.

Example:
    >>> len(CORRUPTIONS), sorted(UNAVAILABLE)
    (18, ['frost'])
    >>> [c.name for c in CORRUPTIONS.values() if c.held_out]
    ['speckle_noise', 'gaussian_blur', 'saturate', 'spatter']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from robustkit.corruptions import blur, digital, noise, weather

FAMILIES = ("noise", "blur", "weather", "digital")
SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Corruption:
    """One corruption: ``apply(x, keys, constant)`` on a batch in [0, 1]."""

    name: str
    family: str
    held_out: bool
    random: bool
    apply: Callable


_TABLE: list[tuple[str, str, bool, bool, Callable]] = [
    ("gaussian_noise", "noise", False, True, noise.gaussian_noise),
    ("shot_noise", "noise", False, True, noise.shot_noise),
    ("impulse_noise", "noise", False, True, noise.impulse_noise),
    ("defocus_blur", "blur", False, False, blur.defocus_blur),
    ("glass_blur", "blur", False, True, blur.glass_blur),
    ("motion_blur", "blur", False, True, blur.motion_blur),
    ("zoom_blur", "blur", False, False, blur.zoom_blur),
    ("snow", "weather", False, True, weather.snow),
    ("fog", "weather", False, True, weather.fog),
    ("brightness", "weather", False, False, weather.brightness),
    ("contrast", "digital", False, False, digital.contrast),
    ("elastic_transform", "digital", False, True, digital.elastic_transform),
    ("pixelate", "digital", False, False, digital.pixelate),
    ("jpeg_compression", "digital", False, False, digital.jpeg_compression),
    ("speckle_noise", "noise", True, True, noise.speckle_noise),
    ("gaussian_blur", "blur", True, False, blur.gaussian_blur),
    ("saturate", "digital", True, False, digital.saturate),
    ("spatter", "weather", True, True, weather.spatter),
]
CORRUPTIONS: dict[str, Corruption] = {n: Corruption(n, f, h, r, a) for n, f, h, r, a in _TABLE}
UNAVAILABLE = {
    "frost": "blends in texture photographs whose licence does not let a package ship them",
}
BENCHMARK = tuple(name for name, corruption in CORRUPTIONS.items() if not corruption.held_out)
HELD_OUT = tuple(name for name, corruption in CORRUPTIONS.items() if corruption.held_out)


def corruption_named(name: str) -> Corruption:
    """The corruption called ``name``, or a :class:`~robustkit.errors.ConfigError` listing the choices."""
    from robustkit.errors import ConfigError

    if name in CORRUPTIONS:
        return CORRUPTIONS[name]
    if name in UNAVAILABLE:
        raise ConfigError(f"Corruption {name!r} is not provided: it {UNAVAILABLE[name]}.")
    raise ConfigError(f"Unknown corruption {name!r}; choose from {', '.join(CORRUPTIONS)}.")
