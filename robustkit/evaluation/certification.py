"""Certification suites in a run: randomized smoothing on every model, sigma and shard, in resumable cells.

Each (model, certification suite, sigma, shard) is one cell: CERTIFY on every example of the
shard (:func:`robustkit.certify.certify`), saved atomically, so an interrupted run resumes and a
re-run reuses what was certified. The noise is keyed by the seed and each example's index in
the whole data set, so the certificates do not depend on how the data is sharded. The radius
grid only changes what is reported, not what is computed: it is not part of a cell's key.

After certifying, a trust check attacks the smoothed classifier inside a few certificates
(:func:`robustkit.certify.attack_certificates`): an attack that changes a smoothed prediction
inside a certified ball means the certificates cannot be trusted.

Example:
    >>> CertificateCell(np.array([1]), np.array([0.3]), np.array([0.9]), 2.0).radius.tolist()
    [0.3]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robustkit.certify import ABSTAIN, SmoothingResult, attack_certificates, certify
from robustkit.evaluation.cell_store import StoredCell, load_or_compute
from robustkit.evaluation.certification_suites import CertificationSuite
from robustkit.evaluation.context import RunContext
from robustkit.evaluation.model_checks import NOT_APPLICABLE, CheckResult
from robustkit.evaluation.progress import RunProgress
from robustkit.evaluation.results import CertificateRecord, Results
from robustkit.evaluation.shards import EvaluatedModel, ModelUnderTest, ShardTask
from robustkit.evaluation.suites import BenchmarkSuite

CERTIFICATE_CHECK = "certificates-hold"
CHECK_EXAMPLES = 16  # certified examples the trust check attacks (per model and certification suite)
CHECK_STEPS, CHECK_SAMPLES, CHECK_PREDICT_N = 10, 8, 2000


class CertificationEvaluation:
    """The certification suites of a run (see the module docstring): one task per model, sigma and shard."""

    name = "certification suites"

    def suites(self, suite: BenchmarkSuite) -> list[CertificationSuite]:
        return list(suite.certification_suites)

    def cells_per_shard(self, suite: BenchmarkSuite) -> int:
        return sum(len(s.sigma) for s in suite.certification_suites)

    def tasks(self, suite: BenchmarkSuite, shards: int) -> list[ShardTask]:
        return [
            ShardTask(model, certification_suite.name, f"sigma={label}", shard)
            for model in suite.models
            for certification_suite in suite.certification_suites
            for label in certification_suite.sigma_labels()
            for shard in range(shards)
        ]

    def prepare(self, run: RunContext, tested: ModelUnderTest) -> None:
        """Nothing to check before any work: every model and data the run accepted can be evaluated."""

    def compute(self, run: RunContext, tested: ModelUnderTest, task: ShardTask) -> int:
        suite = next(s for s in run.suite.certification_suites if s.name == task.suite)
        labels = [f"sigma={label}" for label in suite.sigma_labels()]
        sigma = suite.sigma[labels.index(task.method)]
        run.validate_data(suite)
        return int(_certify_shard(run, tested, suite, sigma, task.shard)[1])

    def evaluate(self, run: RunContext, model: EvaluatedModel, results: Results, progress: RunProgress) -> None:
        """Every certification suite on one model, and the trust check that attacks its certificates."""
        tested = model.tested
        for suite in run.suite.certification_suites:
            run.validate_data(suite)
            certificates, computed, reused = certify_model(
                run, tested, suite, progress.ticker(f"{tested.label} {suite.name}")
            )
            progress.counted(computed, reused)
            model.examples.setdefault("certification_suites", {})[suite.name] = certificates
            if run.suite.checks:
                check = certificate_check(run, tested, suite, certificates)
                check.model = tested.label
                results["checks"].append(check.to_dict())


def method_name(sigma: float) -> str:
    """A sigma's name among a certification suite's records and columns: ``sigma=0.25``."""
    return f"sigma={sigma:g}"


@dataclass
class CertificateCell(StoredCell):
    """CERTIFY's answer for every example of one shard at one sigma."""

    prediction: np.ndarray
    radius: np.ndarray
    p_lower: np.ndarray
    seconds: float


def _certify_shard(
    run: RunContext, tested: ModelUnderTest, suite: CertificationSuite, sigma: float, number: int
) -> tuple[CertificateCell, bool]:
    """One shard's certificates at one sigma, and whether they were computed (else resumed)."""
    start, stop = run.shards[number]
    folder = run.shard_dir(run.certificate_dir(tested.label, tested.fingerprint, suite, suite.cell_key(sigma)), number)
    path = folder / "certificates.npz"

    def compute() -> CertificateCell:
        started = time.perf_counter()
        result = certify(
            tested.model,
            run.shard_x(number),
            sigma=sigma,
            n0=suite.n0,
            n=suite.n,
            alpha=suite.alpha,
            seed=run.suite.seed,
            index=np.arange(start, stop),
            batch_size=suite.batch_size,
        )
        return CertificateCell(result.prediction, result.radius, result.p_lower, time.perf_counter() - started)

    return load_or_compute(CertificateCell, path, stop - start, compute)


def certify_model(
    run: RunContext, tested: ModelUnderTest, suite: CertificationSuite, tick: Callable[[bool], None] | None = None
) -> tuple[dict[str, CertificateRecord], int, int]:
    """Every sigma of a certification suite on one model, shard by shard: its records by sigma's name,
    and how many cells were computed and reused."""
    records: dict[str, CertificateRecord] = {}
    computed = reused = 0
    dimension = int(np.prod(run.x.shape[1:]))
    for sigma in suite.sigma:
        cells = []
        for number in range(len(run.shards)):
            cell, fresh = _certify_shard(run, tested, suite, sigma, number)
            computed, reused = computed + fresh, reused + (not fresh)
            cells.append(cell)
            if tick:
                tick(fresh)
        records[method_name(sigma)] = {
            "prediction": np.concatenate([c.prediction for c in cells]).astype(np.int64),
            "radius": np.concatenate([c.radius for c in cells]).astype(np.float64),
            "p_lower": np.concatenate([c.p_lower for c in cells]).astype(np.float64),
            "sigma": float(sigma),
            "dimension": dimension,
            "seconds": float(sum(c.seconds for c in cells)),
        }
    return records, computed, reused


def certificate_check(
    run: RunContext, tested: ModelUnderTest, suite: CertificationSuite, records: dict[str, CertificateRecord]
) -> CheckResult:
    """Attack a few certified examples of the first shard, at each sigma, just inside their certificates."""
    start, stop = run.shards[0]
    x = run.shard_x(0)
    checked = contradictions = 0
    found: list[str] = []
    for name, record in records.items():
        prediction, radius = record["prediction"][start:stop], record["radius"][start:stop]
        certified = np.flatnonzero((prediction != ABSTAIN) & (radius > 0))
        rows = certified[np.linspace(0, len(certified) - 1, min(CHECK_EXAMPLES, len(certified))).astype(int)]
        if not len(rows):
            continue
        result = SmoothingResult(
            prediction[rows], radius[rows], record["p_lower"][rows], np.zeros((len(rows), 0), np.int64),
            np.zeros((len(rows), 0), np.int64), record["sigma"], suite.alpha, record["dimension"], run.suite.seed,
        )  # fmt: skip
        check = attack_certificates(
            tested.model,
            x[rows],
            result,
            steps=CHECK_STEPS,
            samples=CHECK_SAMPLES,
            n=min(suite.n, CHECK_PREDICT_N),
            bounds=run.bounds(suite),
            seed=run.suite.seed,
        )
        checked += check.checked
        contradictions += check.contradictions
        found += [f"{name}: example {start + rows[i]}" for i in np.flatnonzero(np.isin(rows, check.indices))]
    return _verdict(suite, checked, contradictions, found)


def _verdict(suite: CertificationSuite, checked: int, contradictions: int, found: list[str]) -> CheckResult:
    how = (
        f"PGD on the smoothed classifier ({CHECK_STEPS} steps, gradients averaged over {CHECK_SAMPLES} noise "
        "samples) at 95% of each certified radius, then PREDICT at the point found"
    )
    if not checked:
        return CheckResult(
            CERTIFICATE_CHECK, NOT_APPLICABLE, "", f"{suite.name}: no example was certified, so none was attacked."
        )
    if contradictions:
        return CheckResult(
            CERTIFICATE_CHECK,
            "fail",
            f"{contradictions}/{checked}",
            f"{suite.name}: an attack changed the smoothed prediction inside a certified ball ({'; '.join(found)}): "
            f"{how}. A certificate that an attack breaks is wrong (chance allows this for about "
            f"{2 * suite.alpha:g} of examples): do not trust these certified accuracies; check that the model is "
            "deterministic in inference and that its inputs are what the suite's sigma assumes.",
        )
    return CheckResult(
        CERTIFICATE_CHECK,
        "pass",
        f"0/{checked}",
        f"{suite.name}: {how}; no attack changed a smoothed prediction inside its certificate.",
    )
