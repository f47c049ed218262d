"""Verification suites in the runner: proofs beside the attacks in the summary, resumable cells, the sandwich in
the report, the gate's verified thresholds, and a trust check that fails when a proof is wrong."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pandas as pd
import pytest

from robustkit.cli.running import verified_tables
from robustkit.errors import ConfigError, RobustkitWarning
from robustkit.evaluation import verification as verification_module
from robustkit.evaluation.results import read_results
from robustkit.evaluation.runner import run_benchmark
from robustkit.evaluation.suites import BenchmarkSuite, load_benchmark_suite
from robustkit.evaluation.verification import MISCLASSIFIED, PROVED, PROVED_EXACT, REFUTED, UNKNOWN, verify_examples
from robustkit.evaluation.verification_check import proof_contradictions
from robustkit.evaluation.verification_suites import VerificationSuite, load_evaluation_suite
from robustkit.outputs.gate import check_thresholds_fit, evaluate_gate, parse_threshold
from robustkit.outputs.report import write_report
from robustkit.verify import MarginBounds

LIMIT = 24
EPS = (0.02, 0.1)
VERIFY = VerificationSuite("verify", "linf", EPS, exact=True, time_limit=0.5)


def _suite(**changes) -> BenchmarkSuite:
    linf = load_evaluation_suite("linf")
    pgd = [a for a in linf.attacks if a.name == "pgd-20"]
    linf = dataclasses.replace(linf, eps=EPS, headline_eps=None, attacks=pgd)
    settings = dict(limit=LIMIT, checks=True, verification_suites=[VERIFY])
    settings.update(changes)
    return BenchmarkSuite("verified", "digits", ["digits-mlp"], [linf], **settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def verified_run(tmp_path_factory, zoo_cache):
    out = tmp_path_factory.mktemp("verified")
    run = run_benchmark(_suite(), out)
    write_report(run.results, out, run.summary)
    return run, out


def _rows(summary: pd.DataFrame, attack: str) -> pd.DataFrame:
    return summary[summary["attack"] == attack].set_index("eps")


@pytest.mark.slow
def test_proofs_sit_beside_the_attacks_and_below_them(verified_run):
    run, out = verified_run
    table = pd.read_csv(out / "summary.csv")
    attacked, bounds = _rows(table, "worst-case"), _rows(table, "proved-bounds")
    exact, refuted = _rows(table, "proved-exact"), _rows(table, "refuted-exact")
    assert set(table[table["bound"] == "lower"]["attack"]) == {"proved-bounds", "proved-exact"}
    assert set(table[table["bound"] == "upper"]["attack_suite"]) == {"linf", "verify"}
    for eps in EPS:  # the same model, norm and eps columns as the attacks', and the sandwich holds
        assert bounds.loc[eps, "norm"] == attacked.loc[eps, "norm"] == "linf"
        assert bounds.loc[eps, "robust_accuracy"] <= exact.loc[eps, "robust_accuracy"]
        assert exact.loc[eps, "robust_accuracy"] <= attacked.loc[eps, "robust_accuracy"]
        assert exact.loc[eps, "robust_accuracy"] <= refuted.loc[eps, "robust_accuracy"]
    assert exact.loc[0.02, "robust_accuracy"] > 0.5 > exact.loc[0.1, "robust_accuracy"]  # it proves, and not all
    check = next(c for c in run.results["checks"] if c["name"] == "verification-holds")
    assert check["status"] == "pass", check


@pytest.mark.slow
def test_the_per_example_status_is_in_the_columnar_file_and_resumes(verified_run, tmp_path):
    run, out = verified_run
    with np.load(out / "examples.npz") as columns:
        status = columns["digits-mlp/verify/verifier/status"]
    assert status.shape == (LIMIT, len(EPS))
    back = read_results(out / "results.json")
    np.testing.assert_array_equal(
        back["examples"]["digits-mlp"]["verification_suites"]["verify"]["verifier"]["status"], status
    )
    again = run_benchmark(_suite(), out)
    assert again.cells_computed == 0 and again.summary.equals(run.summary)
    bounds_only = dataclasses.replace(VERIFY, exact=False)  # the same proofs by the bounds, at less cost
    sharded = run_benchmark(_suite(shard_size=10, checks=False, verification_suites=[bounds_only]), tmp_path)
    again = sharded.results["examples"]["digits-mlp"]["verification_suites"]["verify"]["verifier"]["status"]
    np.testing.assert_array_equal(again == PROVED, status == PROVED)
    np.testing.assert_array_equal(again == MISCLASSIFIED, status == MISCLASSIFIED)


@pytest.mark.slow
def test_the_report_shows_the_sandwich(verified_run):
    run, out = verified_run
    report = (out / "report.md").read_text()
    assert "## Verified robustness: verify (proved, unknown, attacked; linf)" in report
    assert "| model | eps | clean | proved (bounds) | proved (exact) | attacked | attacked by | unknown |" in report
    assert "verify proved @ 0.1" in report and "verify proved @ 0.1" in (out / "report.html").read_text()
    (table,) = verified_tables(run.results, run.summary)  # the command line's closing table
    assert table.row_count == len(EPS) and [c.header for c in table.columns][2:] == ["proved", "attacked", "unknown"]


@pytest.mark.slow
def test_the_gate_reads_verified_accuracy(verified_run):
    run, _ = verified_run
    proved = _rows(run.summary, "proved-exact").loc[0.02, "robust_accuracy"]
    passing = parse_threshold(f"verify:0.02={proved:.4f}", "verified")
    failing = parse_threshold(f"digits-mlp/linf:0.02={min(1.0, proved + 0.01):.4f}", "verified")
    conditions = evaluate_gate(run.results, thresholds=[passing, failing])
    verdicts = {c.name: c.passed for c in conditions if c.kind == "threshold"}
    assert list(verdicts.values()) == [True, False], verdicts
    assert "verified accuracy" in next(iter(verdicts))


@pytest.mark.slow
def test_the_trust_check_fails_when_a_bound_is_unsound(monkeypatch, tmp_path, zoo_cache):
    def everything_proved(model, x, y, eps, **settings):
        n, classes = len(x), model.output_shape[-1]
        return MarginBounds(np.ones((n, classes)), None, None, np.ones(n), "best")

    monkeypatch.setattr(verification_module, "margin_bounds", everything_proved)
    run = run_benchmark(_suite(), tmp_path)
    check = next(c for c in run.results["checks"] if c["name"] == "verification-holds")
    assert check["status"] == "fail" and "broken by an attack" in check["message"], check


def test_each_example_is_proved_refuted_or_left_open():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])  # margin 2 * x0 for class 0
    model.set_weights([np.array([[1.0, -1.0], [0.0, 0.0]], "float32"), np.zeros(2, "float32")])
    x = np.array([[0.5, 0.5], [0.03, 0.5], [-0.2, 0.5]], "float32")
    y, predicted = np.array([0, 0, 0]), np.array([0, 0, 1])
    suite = VerificationSuite("v", "linf", (0.1,), bounds_method="ibp", exact=True, time_limit=1.0)
    cell = verify_examples(model, x, y, predicted, suite, 0.1, (-1.0, 1.0))
    assert cell.status.tolist() == [PROVED, REFUTED, MISCLASSIFIED]
    np.testing.assert_allclose(cell.margin, [0.8, -0.14, -0.6], atol=1e-6)
    assert cell.witness_rows.tolist() == [1] and cell.witness[0, 0] <= 0.0  # the counterexample crosses x0 = 0
    open_suite = dataclasses.replace(suite, exact=False)
    assert verify_examples(model, x, y, predicted, open_suite, 0.1, (-1.0, 1.0)).status.tolist() == [
        PROVED,
        UNKNOWN,
        MISCLASSIFIED,
    ]


def test_contradictions_between_proofs_attacks_and_counterexamples():
    grid = [0.01, 0.05, 0.1]
    status = np.array(
        [
            [PROVED, PROVED, 0],  # proved up to 0.05: an attack at 0.1 is no contradiction
            [PROVED, PROVED_EXACT, 0],  # proved at 0.05, broken by an attack at 0.05: contradiction
            [PROVED, REFUTED, PROVED],  # refuted at 0.05 yet proved at 0.1: contradiction
            [0, 0, 0],
        ],
        np.int8,
    )
    broken = np.array([0.1, 0.05, np.nan, 0.01])
    assert proof_contradictions(status, broken, grid).tolist() == [1, 2]


def test_a_verification_suite_file_is_checked(tmp_path):
    assert load_evaluation_suite("verify-linf").exact
    assert load_benchmark_suite("verification").verification_suites[0].name == "verify-linf-bab"
    complete = load_evaluation_suite("verify-linf-bab")
    assert (complete.exact, complete.complete, complete.time_limit) == (True, "bab", 30.0)
    base = 'norm = "linf"\neps = [0.01, 0.05]\n[verification]\n'
    for body, message in (
        (base + 'bounds = "zonotope"\n', "key 'bounds' has the bad value 'zonotope'"),
        (base + "time_limit = 0\n", "key 'time_limit' has the bad value 0"),
        (base + "steps = 3\n", "unknown key 'steps' in [verification]"),
        (base + 'complete = "smt"\n', "key 'complete' has the bad value 'smt'"),
        (base.replace("linf", "l2") + "exact = true\n", "exact = true needs norm = 'linf'"),
        ('norm = "linf"\neps = [0.01]\nheadline_eps = 0.5\n[verification]\n', "one of eps"),
        ('norm = "linf"\n[verification]\n', "needs eps"),
        (base + "[smoothing]\nsigma = 0.25\n", "a suite is one kind"),
    ):
        path = tmp_path / "v.toml"
        path.write_text(body)
        with pytest.raises(ConfigError) as err:
            load_evaluation_suite(str(path))
        assert message in str(err.value)


def test_verified_thresholds_name_verification_suites_only():
    linf = load_evaluation_suite("linf")
    suites = [linf, VERIFY]
    check_thresholds_fit([parse_threshold("verify:0.02=0.5", "verified")], suites, ["digits-mlp"])
    check_thresholds_fit([parse_threshold("linf:0.1=0.5", "verified")], suites, ["digits-mlp"])  # by its norm
    with pytest.raises(ConfigError, match="not in the grid"):
        check_thresholds_fit([parse_threshold("verify:0.07=0.5", "verified")], suites, ["digits-mlp"])
    with pytest.raises(ConfigError, match="names attack suite 'verify'"):
        check_thresholds_fit([parse_threshold("verify:0.02=0.5")], suites, ["digits-mlp"])
    with pytest.raises(ConfigError, match="names verification suite 'l2'"):
        check_thresholds_fit([parse_threshold("l2:0.02=0.5", "verified")], suites, ["digits-mlp"])


def test_a_max_pooling_cnn_on_pixels_gets_a_note_and_bounds_only_at_eps_scaled_to_the_range(
    tmp_path, monkeypatch, digits
):
    """verify-linf writes its grid as fractions of the range: on [0, 255] data 0.01 is 2.55 pixels. Its exact
    verifier cannot encode max pooling: a note says so before any work, and the bounds prove alone."""
    from robustkit.evaluation.suite_files import repository_root

    monkeypatch.chdir(repository_root())
    np.savez(tmp_path / "pixels.npz", x=digits.x_test[:LIMIT] * 255, y=digits.y_test[:LIMIT], bounds=[0.0, 255.0])
    suite = BenchmarkSuite("pooled", str(tmp_path / "pixels.npz"), ["tests.linear_models:pooling_cnn"], [],
                           checks=False, verification_suites=[load_evaluation_suite("verify-linf")])  # fmt: skip
    with pytest.warns(RobustkitWarning, match="layer 'max_pooling2d.*' is max pooling, so verify-linf proves with"):
        run = run_benchmark(suite, tmp_path / "run")
    config = run.results["suite"]["verification_suites"][0]
    assert config["eps"] == pytest.approx([2.55, 7.65, 12.75, 25.5])  # 0.01, 0.03, 0.05, 0.1 of 255, by hand
    assert config["eps_written"] == ["0.01", "0.03", "0.05", "0.1"]
    record = run.results["examples"]["pooling_cnn"]["verification_suites"]["verify-linf"]["verifier"]
    assert not np.any(record["status"] == PROVED_EXACT) and not np.any(record["status"] == REFUTED)
    assert np.any(record["status"] == PROVED)  # the bounds still prove some


@pytest.mark.slow
def test_branch_and_bound_in_a_suite_agrees_with_a_dense_grid():
    """complete = "bab": each open example is proved (no grid point of its ball changes the prediction),
    refuted (its counterexample lies in the ball and is misclassified) or unknown."""
    from dataclasses import replace

    from robustkit.evaluation.results import PROVED, PROVED_EXACT, REFUTED, UNKNOWN
    from robustkit.evaluation.verification import verify_examples
    from tests.relu_networks import dense_relu_network, forward64, grid

    model = dense_relu_network(18, 2, [12, 12], 3)
    x = np.random.default_rng(1).uniform(0.2, 0.8, size=(6, 2)).astype("float32")
    y = np.argmax(forward64(model, x), axis=1)
    suite = replace(load_evaluation_suite("verify-linf-bab"), time_limit=5.0)
    found = set()
    for eps in (0.9, 3.0):
        cell = verify_examples(model, x, y, y, suite, eps, (-5.0, 5.0))
        assert set(cell.status.tolist()) <= {PROVED, PROVED_EXACT, REFUTED, UNKNOWN}
        found |= set(cell.status.tolist())
        for i in range(len(x)):
            robust = bool(np.all(np.argmax(forward64(model, grid(x[i] - eps, x[i] + eps, 101)), axis=1) == y[i]))
            if cell.status[i] in (PROVED, PROVED_EXACT, REFUTED):
                assert robust == (cell.status[i] != REFUTED)
        for row, witness in zip(cell.witness_rows, cell.witness):
            assert np.all(np.abs(witness - x[row]) <= eps) and np.argmax(forward64(model, witness[None])) != y[row]
    assert {PROVED_EXACT, REFUTED} <= found
