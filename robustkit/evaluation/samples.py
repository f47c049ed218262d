"""The few adversarial examples a report shows as images."""

from __future__ import annotations

from robustkit.evaluation.results import Sample, headline_eps
from robustkit.evaluation.suites import AttackSuite


def select_samples(samples: list[Sample], suites: list[AttackSuite], per_model: int = 4) -> list[Sample]:
    """A few samples per model: first attack suite, the headline eps, strongest (last) attack first.

    Example:
        >>> select_samples([], [])
        []
    """
    order = {s.name: i for i, s in enumerate(suites)}
    middle = {s.name: headline_eps(s.config()) for s in suites}
    attack_rank = {(s.name, a.name): -i for s in suites for i, a in enumerate(s.attacks)}

    def rank(sample: Sample):
        suite = sample["attack_suite"]
        return (
            order[suite],
            abs(sample["eps"] - middle[suite]),
            attack_rank[(suite, sample["attack"])],
            sample["index"],
        )

    chosen: list[Sample] = []
    for model in dict.fromkeys(s["model"] for s in samples):
        seen: set[int] = set()
        for sample in sorted((s for s in samples if s["model"] == model), key=rank):
            if sample["index"] not in seen and len(seen) < per_model:
                seen.add(sample["index"])
                chosen.append(sample)
    return chosen
