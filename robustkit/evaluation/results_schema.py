"""The declared types of ``results.json``: the suites, data, models, records and rows a run writes.

:mod:`robustkit.evaluation.results` re-exports them beside the reader, which is where to import them from.

Example:
    >>> SUMMARY_COLUMNS[:4]
    ['model', 'attack_suite', 'attack', 'norm']
"""

from __future__ import annotations

from typing import Any, TypedDict


class Environment(TypedDict):
    robustkit: str
    tensorflow: str
    keras: str
    numpy: str
    pandas: str
    python: str
    platform: str


class _AttackSuiteOptional(TypedDict, total=False):
    eps_written: list[str]  # eps as written, when given as fractions of the input range ("8/255")
    headline_eps: float  # the eps the report's summary shows, when the suite names one
    chain: bool  # each attack attacks only what the earlier ones left robust; its rows are cumulative
    constraints: dict[str, Any]  # feature constraints: radius, integer, one_hot (flat indices), described


class AttackSuiteConfig(_AttackSuiteOptional):
    name: str
    norm: str  # "linf", "l2" or "l1"
    eps: list[float]  # in input units
    bounds: list[Any] | None  # [lower, upper] as declared in the file; each a number or nested lists
    attacks: list[dict[str, Any]]  # each: name, type, norm and the settings given in the file


class _CertificationOptional(TypedDict, total=False):
    headline_radius: float  # the radius the report's summary shows, when the suite names one
    sigma_written: list[str]  # each sigma as the suite wrote it, when written as fractions of the range


class CertificationSuiteConfig(_CertificationOptional):
    """A certification suite: randomized smoothing at each sigma, certified accuracy at each radius."""

    name: str
    kind: str  # "smoothing"
    norm: str  # "l2", or "linf" (the L2 certificate over sqrt(dimension))
    radius: list[float]  # in input units
    sigma: list[float]  # the noise's standard deviations, in input units
    n0: int
    n: int
    alpha: float
    batch_size: int
    bounds: list[Any] | None


class _VerificationOptional(TypedDict, total=False):
    headline_eps: float  # the eps the report's summary shows, when the suite names one
    eps_written: list[str]  # each eps as the suite wrote it, when written as fractions of the range
    complete: str  # which complete verifier decides what the bounds leave open: "milp" (absent: "milp") or "bab"


class VerificationSuiteConfig(_VerificationOptional):
    """A verification suite: sound bounds (and the exact verifier) at each eps of a norm ball."""

    name: str
    kind: str  # "verification"
    norm: str  # "linf", "l2" or "l1"
    eps: list[float]  # in input units
    method: str  # the bounds: "ibp", "crown", "alpha-crown" or "best"
    exact: bool  # the exact verifier decides what the bounds leave undecided (L-inf)
    time_limit: float  # the exact verifier's seconds per example and eps
    batch_size: int
    bounds: list[Any] | None


class CorruptionSuiteConfig(TypedDict):
    """A corruption suite: accuracy on the test data under each corruption at each severity."""

    name: str
    kind: str  # "corruption"
    corruptions: list[str]
    held_out: list[str]  # those of corruptions kept out of training and out of the mean and mCE
    severities: list[int]
    baseline: str | None  # the model mCE divides by (a spec of the run's models)
    constants: str  # "auto", "small" or "large"
    batch_size: int
    bounds: list[Any] | None


class _SuiteOptional(TypedDict, total=False):
    corruption_suites: list[CorruptionSuiteConfig]  # accuracy under common corruptions (version 7)
    certification_suites: list[CertificationSuiteConfig]  # guarantees beside the attacks (version 5)
    verification_suites: list[VerificationSuiteConfig]  # proofs about the model itself (version 6)
    bounds: list[Any]  # bounds set for every attack suite (the benchmark suite's file or --bounds)
    class_names: list[str]  # the models' class order given by the suite or --class-names
    features: dict[str, Any]  # the feature constraints as written: eps_scale, immutable, integer, one_hot


class SuiteConfig(_SuiteOptional):
    name: str
    data: str
    limit: int | None
    models: list[str]
    attack_suites: list[AttackSuiteConfig]
    seed: int
    batch_size: int
    checks: bool


class DataInfo(TypedDict):
    name: str
    fingerprint: str  # SHA-256 prefix of the test inputs and labels
    n: int
    num_classes: int
    bounds: list[Any]  # [lower, upper] of the data: each a number or nested lists (per channel / feature)
    info: dict[str, Any]
    labels: Any  # per example (numpy array in memory; in examples.npz on disk)


class _ModelOptional(TypedDict, total=False):
    substitutions: list[str]  # attacks whose loss the model has too few classes for, and what replaced it


class ModelInfo(_ModelOptional):
    spec: str
    fingerprint: str  # SHA-256 prefix of the weights
    clean_accuracy: float


class AttackRecord(TypedDict):
    """One attack's sweep over its suite's eps grid, per example and per eps."""

    # Per example (numpy arrays in memory; columns of examples.npz on disk):
    broken_eps: Any  # the smallest eps that broke it, NaN if none did
    adv_pred: Any  # the prediction at its adversarial point (clean if unbroken)
    norm: Any  # the perturbation's norm where broken, NaN otherwise
    grad_evals: Any  # gradient evaluations over the sweep
    cell_grad_evals: list[int]  # per eps
    cell_seconds: list[float]  # per eps
    cell_attacked: list[int]  # per eps: how many examples were still attacked
    no_gradient: bool  # the model has no input gradient, so this (gradient) attack could not run


class CertificateRecord(TypedDict):
    """One certifier's certificates (one sigma of a certification suite), per example."""

    # Per example (numpy arrays in memory; columns of examples.npz on disk):
    prediction: Any  # the smoothed classifier's class, -1 where it abstains
    radius: Any  # the certified L2 radius, 0 where it abstains
    p_lower: Any  # the lower confidence bound of the top class's probability under noise
    sigma: float
    dimension: int  # input features: the L-inf radius is the L2 one over sqrt(dimension)
    seconds: float


class VerificationRecord(TypedDict):
    """A verification suite's answers on one model, per example and eps (``status`` codes: :data:`STATUS`)."""

    # Per example (numpy arrays in memory; columns of examples.npz on disk), one column per eps:
    status: Any  # int8 (examples, eps): what was found at each eps, as computed (see STATUS)
    margin: Any  # float (examples, eps): the bounds' lower bound of the smallest logit[y] - logit[j]
    cell_seconds: list[float]  # per eps: the bounds' seconds
    cell_exact_seconds: list[float]  # per eps: the exact verifier's seconds


class CorruptionRecord(TypedDict):
    """One corruption's predictions on one model, per example and severity."""

    # Per example (numpy arrays in memory; columns of examples.npz on disk), one column per severity:
    prediction: Any  # int64 (examples, severities): the model's class on the corrupted example
    severities: list[int]
    cell_seconds: list[float]  # per severity: corrupting and predicting


class _ModelExamplesOptional(TypedDict, total=False):
    corruption_suites: dict[str, dict[str, CorruptionRecord]]  # suite -> corruption -> record
    certification_suites: dict[str, dict[str, CertificateRecord]]  # suite -> "sigma=S" -> record
    verification_suites: dict[str, dict[str, VerificationRecord]]  # suite -> "verifier" -> record


class ModelExamples(_ModelExamplesOptional):
    clean_pred: Any  # per example (numpy array in memory; in examples.npz on disk)
    attack_suites: dict[str, dict[str, AttackRecord]]  # attack suite -> attack -> record


class Sample(TypedDict):
    model: str
    attack_suite: str
    attack: str
    eps: float
    index: int
    label: int
    adv_pred: int
    x: list
    x_adv: list


class CheckRecord(TypedDict):
    name: str
    status: str  # "pass", "warn", "fail" or "n/a" (the suite gave the check nothing to measure)
    value: str
    message: str
    model: str


class SummaryRow(TypedDict):
    model: str
    attack_suite: str  # an attack suite's name, or a verification suite's
    attack: str  # an attack's name, "worst-case" (each example's strongest attack), or a verifier's answer
    norm: str
    eps: float
    n: int
    clean_accuracy: float
    robust_accuracy: float
    robust_accuracy_low: float  # 95% Wilson interval
    robust_accuracy_high: float
    success_rate: float
    mean_norm: float
    median_norm: float
    grad_evals: int
    seconds: float
    bound: str  # "upper" (attacks: the true robust accuracy is at most this), "lower" (proofs: at least this),
    # "measured" (corruptions: accuracy on corrupted inputs, no bound on robustness to attacks)
    corruption: str  # a corruption suite's row: the corruption ("" on every other row)
    severity: int  # a corruption suite's row: the severity, 1 to 5 (0 on every other row)


class CertifiedRow(TypedDict):
    """Certified accuracy of one smoothed classifier at one radius: a lower bound on its robust accuracy."""

    model: str
    certification_suite: str
    norm: str
    sigma: float
    radius: float
    n: int
    smoothed_accuracy: float  # the smoothed classifier's accuracy (abstentions count as wrong)
    abstain_rate: float
    certified_accuracy: float  # correct with a certified radius >= radius
    certified_accuracy_low: float  # 95% Wilson interval over the examples (each certificate holds w.p. 1 - alpha)
    certified_accuracy_high: float
    seconds: float


class _RunOptional(TypedDict, total=False):
    executor: str  # "in-process", or "ray: N tasks" when Ray workers computed the cells


class RunInfo(_RunOptional):
    seconds: float
    cells_computed: int
    cells_reused: int


class ContributionRow(TypedDict):
    """Per model and chained attack suite: the examples each attack broke first at the headline eps."""

    model: str
    attack_suite: str
    eps: float
    broken_first: dict[str, int]  # attack name -> examples it broke that no attack before it had
    still_robust: int


class CorruptionSample(TypedDict):
    """One clean test image, kept so that a report can show it under every corruption (re-corrupted)."""

    index: int  # its position in the data set (its corruptions are keyed by it)
    x: list
    bounds: list[float]
    seed: int


class _ResultsOptional(TypedDict, total=False):
    examples_file: str  # on disk (version 3): the per-example columns' file, beside results.json
    contributions: list[ContributionRow]
    certified: list[CertifiedRow]  # version 5: certification suites' rows, never folded into the worst case
    corruption_sample: CorruptionSample  # version 7: the test image the report's corruption tiles show


class Results(_ResultsOptional):
    format: str
    created: str
    environment: Environment
    suite: SuiteConfig
    data: DataInfo
    models: dict[str, ModelInfo]
    examples: dict[str, ModelExamples]
    samples: list[Sample]
    checks: list[CheckRecord]
    summary: list[SummaryRow]
    run: RunInfo


SUMMARY_COLUMNS = list(SummaryRow.__annotations__)
CERTIFIED_COLUMNS = list(CertifiedRow.__annotations__)
REQUIRED_KEYS = ("format", "suite", "data", "models", "examples", "summary")
