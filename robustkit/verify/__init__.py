"""Verification: sound bounds on what a Keras network does to every input in a ball.

:func:`margin_bounds` proves, example by example, that no input within ``eps`` changes the
prediction (interval and linear bound propagation, :mod:`robustkit.verify.margins`);
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
    from robustkit.verify.exact import ExactResult, exact_verify
    from robustkit.verify.intervals import propagate_intervals
    from robustkit.verify.margins import MarginBounds, margin_bounds
    from robustkit.verify.network import Network, network_of
