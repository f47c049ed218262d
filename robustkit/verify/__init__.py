"""Verification: sound bounds on what a Keras network does to every input in a ball.

:func:`margin_bounds` proves, example by example, that no input within ``eps`` changes the
prediction (interval, linear and optimized linear bound propagation, :mod:`robustkit.verify.margins`);
:func:`verify_specification` decides any linear property of the outputs over a box of inputs (a
:class:`Specification`, from a VNN-LIB file by :func:`read_vnnlib`) within a time limit: bounds, attack,
then branch and bound (:mod:`robustkit.verify.complete`);
:func:`exact_verify` decides each example of a small ReLU network exactly, with a proof or a
counterexample (a mixed-integer program, :mod:`robustkit.verify.exact`); :func:`check_verification`
is the trust check that no attack breaks a proof and every counterexample is real. The network's layers are
read by :func:`network_of`, which names the first layer it cannot handle.

Example:
    >>> from robustkit.verify import margin_bounds, MarginBounds
    >>> MarginBounds.__name__
    'MarginBounds'
"""

from typing import TYPE_CHECKING

from robustkit._facade import lazy_exports

_EXPORTS = {
    "AlphaSettings": "robustkit.verify.alpha",
    "BranchSettings": "robustkit.verify.subdomains",
    "Clause": "robustkit.verify.specification",
    "Specification": "robustkit.verify.specification",
    "Verdict": "robustkit.verify.complete",
    "parse_vnnlib": "robustkit.verify.vnnlib",
    "read_vnnlib": "robustkit.verify.vnnlib",
    "robustness_specification": "robustkit.verify.specification",
    "verify_specification": "robustkit.verify.complete",
    "VerificationCheck": "robustkit.verify.agreement",
    "check_verification": "robustkit.verify.agreement",
    "ExactResult": "robustkit.verify.exact",
    "exact_verify": "robustkit.verify.exact",
    "MarginBounds": "robustkit.verify.margins",
    "margin_bounds": "robustkit.verify.margins",
    "Network": "robustkit.verify.network",
    "network_of": "robustkit.verify.network",
    "propagate_intervals": "robustkit.verify.intervals",
}
__all__ = [
    "AlphaSettings",
    "BranchSettings",
    "Clause",
    "Specification",
    "Verdict",
    "parse_vnnlib",
    "read_vnnlib",
    "robustness_specification",
    "verify_specification",
    "VerificationCheck",
    "check_verification",
    "ExactResult",
    "MarginBounds",
    "Network",
    "exact_verify",
    "margin_bounds",
    "network_of",
    "propagate_intervals",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from robustkit.verify.agreement import VerificationCheck, check_verification
    from robustkit.verify.alpha import AlphaSettings
    from robustkit.verify.complete import Verdict, verify_specification
    from robustkit.verify.exact import ExactResult, exact_verify
    from robustkit.verify.intervals import propagate_intervals
    from robustkit.verify.margins import MarginBounds, margin_bounds
    from robustkit.verify.network import Network, network_of
    from robustkit.verify.specification import Clause, Specification, robustness_specification
    from robustkit.verify.subdomains import BranchSettings
    from robustkit.verify.vnnlib import parse_vnnlib, read_vnnlib
