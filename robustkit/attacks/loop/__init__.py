"""The one attack loop, written once around small attack families (step rules).

The loop owns batching into one compiled graph, restarts, each example's best point, early
stopping with a batch that shrinks as examples break, and the count of gradient evaluations.
An attack family owns only its state and its step (:mod:`robustkit.attacks.loop.rule`), the way
a norm owns only its hooks (:mod:`robustkit.norms`).
"""

from robustkit.attacks.loop.build import build_attack_fn
from robustkit.attacks.loop.problem import LoopConfig, Problem, Rows
from robustkit.attacks.loop.records import Best, Evaluation
from robustkit.attacks.loop.rule import LoopRule, OwnLoop, StepRule

__all__ = ["build_attack_fn", "LoopConfig", "Problem", "Rows", "Best", "Evaluation", "LoopRule", "OwnLoop", "StepRule"]
