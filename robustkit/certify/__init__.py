"""Certified robustness: guarantees that no perturbation inside a ball changes a prediction.

Randomized smoothing (:mod:`robustkit.certify.smoothing`) certifies an L2 radius per example for
any Keras classifier, with probability at least ``1 - alpha``; :func:`attack_certificates` attacks
the smoothed classifier inside each certificate to check that no attack contradicts it.

Example:
    >>> from robustkit.certify import certify, predict, SmoothingResult
    >>> SmoothingResult.__name__
    'SmoothingResult'
"""

from typing import TYPE_CHECKING

from robustkit._facade import lazy_exports

_EXPORTS = {
    "ABSTAIN": "robustkit.certify.smoothing",
    "CertificateCheck": "robustkit.certify.attack_check",
    "attack_certificates": "robustkit.certify.attack_check",
    "SmoothingResult": "robustkit.certify.smoothing",
    "certify": "robustkit.certify.smoothing",
    "predict": "robustkit.certify.smoothing",
    "sample_counts": "robustkit.certify.smoothing",
    "radius_from_counts": "robustkit.certify.smoothing",
}
__all__ = [
    "ABSTAIN",
    "CertificateCheck",
    "SmoothingResult",
    "attack_certificates",
    "certify",
    "predict",
    "radius_from_counts",
    "sample_counts",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from robustkit.certify.attack_check import CertificateCheck, attack_certificates
    from robustkit.certify.smoothing import (
        ABSTAIN,
        SmoothingResult,
        certify,
        predict,
        radius_from_counts,
        sample_counts,
    )
