"""Certification suites in the runner, the results, the report and the gate: randomized smoothing beside attacks."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from robustkit.certify import certify
from robustkit.cli import main
from robustkit.errors import ConfigError
from robustkit.evaluation.certification import certificate_check
from robustkit.evaluation.certification_suites import CertificationSuite
from robustkit.evaluation.context import RunContext
from robustkit.evaluation.results import RESULTS_FORMAT, read_results
from robustkit.evaluation.results_columns import example_columns
from robustkit.evaluation.runner import run_benchmark
from robustkit.evaluation.shards import ModelUnderTest
from robustkit.evaluation.suites import BenchmarkSuite, load_benchmark_suite
from robustkit.evaluation.verification_suites import load_evaluation_suite
from robustkit.outputs.report import write_report

SMOOTHING = CertificationSuite("smoothing", "l2", (0.0, 0.25, 0.5), (0.25, 0.5), n0=50, n=300, batch_size=256)
LIMIT = 30


def _suite(**changes) -> BenchmarkSuite:
    fgsm = load_evaluation_suite("linf")
    fgsm = dataclasses.replace(fgsm, eps=(0.1,), attacks=fgsm.attacks[:1])
    settings = dict(limit=LIMIT, checks=False, certification_suites=[SMOOTHING])
    settings.update(changes)
    return BenchmarkSuite("cert", "digits", ["digits-mlp"], [fgsm], **settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def certified_run(tmp_path_factory, zoo_cache):
    out = tmp_path_factory.mktemp("certified")
    run = run_benchmark(_suite(), out)
    write_report(run.results, out, run.summary)
    return run, out


def test_the_runner_certifies_every_example_as_certify_does(certified_run, digits_mlp, digits):
    run, _ = certified_run
    labels = digits.y_test[:LIMIT]
    record = run.results["examples"]["digits-mlp"]["certification_suites"]["smoothing"]["sigma=0.5"]
    direct = certify(digits_mlp, digits.x_test[:LIMIT], sigma=0.5, n0=50, n=300, seed=0, batch_size=256)
    np.testing.assert_array_equal(record["prediction"], direct.prediction)
    np.testing.assert_array_equal(record["radius"], direct.radius)
    rows = [r for r in run.results["certified"] if r["sigma"] == 0.5]
    assert [r["radius"] for r in rows] == [0.0, 0.25, 0.5]
    for row in rows:
        expected = np.mean((direct.prediction == labels) & (direct.radius >= row["radius"]))
        assert row["certified_accuracy"] == pytest.approx(expected)
        assert row["smoothed_accuracy"] == pytest.approx(np.mean(direct.prediction == labels))
    # certificates stand beside the attacks: never a row of the attack summary, never in its worst case
    assert set(run.summary["attack_suite"]) == {"linf"}


def test_certificates_resume_and_do_not_depend_on_the_shards(certified_run, tmp_path):
    run, out = certified_run
    again = run_benchmark(_suite(), out)
    assert again.cells_computed == 0 and again.results["certified"] == run.results["certified"]
    sharded = run_benchmark(_suite(shard_size=7), tmp_path)
    a, b = example_columns(run.results), example_columns(sharded.results)
    for name in ("prediction", "radius", "p_lower"):
        column = f"digits-mlp/smoothing/sigma=0.25/{name}"
        np.testing.assert_array_equal(a[column], b[column])


def test_results_keep_the_certificates_in_the_columnar_file(certified_run):
    run, out = certified_run
    written = json.loads((out / "results.json").read_text())
    assert written["format"] == RESULTS_FORMAT
    assert "radius" not in written["examples"]["digits-mlp"]["certification_suites"]["smoothing"]["sigma=0.25"]
    with np.load(out / "examples.npz") as columns:
        assert columns["digits-mlp/smoothing/sigma=0.25/radius"].shape == (LIMIT,)
    back = read_results(out / "results.json")
    np.testing.assert_array_equal(
        back["examples"]["digits-mlp"]["certification_suites"]["smoothing"]["sigma=0.25"]["radius"],
        run.results["examples"]["digits-mlp"]["certification_suites"]["smoothing"]["sigma=0.25"]["radius"],
    )
    assert back["certified"] == run.results["certified"]


def test_the_report_shows_certified_accuracy_beside_the_attacks(certified_run):
    run, out = certified_run
    report = (out / "report.md").read_text()
    assert "## Certified robustness: smoothing (randomized smoothing, l2)" in report
    best = max((r for r in run.results["certified"] if r["radius"] == 0.25), key=lambda r: r["certified_accuracy"])
    assert f"{100 * best['certified_accuracy']:.1f} (sigma {best['sigma']:g})" in report  # the summary's column
    assert "| digits-mlp | 0.5 |" in report
    assert "smoothing certified @ r=0.25" in (out / "report.html").read_text()
    table = pd.read_csv(out / "certified.csv")
    assert len(table) == 2 * 3 and set(table["certification_suite"]) == {"smoothing"}


def test_a_certification_suite_file_is_checked(tmp_path):
    assert load_evaluation_suite("smoothing-l2").sigma == (0.25, 0.5)
    assert load_benchmark_suite("smoothing").certification_suites[0].name == "smoothing-l2"
    base = 'norm = "l2"\nradius = [0, 0.5]\n[smoothing]\n'
    for body, message in (
        (base + "sigma = 0\n", "key 'sigma' has the bad value 0"),
        (base + "sigma = 0.25\nn = 0\n", "key 'n' has the bad value 0"),
        (base + "sigma = 0.25\nalpha = 1\n", "key 'alpha' has the bad value 1"),
        (base + "sigma = 0.25\nsamples = 5\n", "unknown key 'samples' in [smoothing]"),
        (base.replace("l2", "l1") + "sigma = 0.25\n", "key 'norm' has the bad value 'l1'"),
        ('norm = "l2"\nradius = [0, 0.5]\nheadline_radius = 0.3\n[smoothing]\nsigma = 1\n', "one of radius"),
        (base + "n0 = 10\n", "needs sigma"),
    ):
        path = tmp_path / "s.toml"
        path.write_text(body)
        with pytest.raises(ConfigError) as err:
            load_evaluation_suite(str(path))
        assert message in str(err.value)


def test_the_gate_takes_certified_accuracy_thresholds(tmp_path, monkeypatch, zoo_cache):
    certification = tmp_path / "smoothing.toml"
    certification.write_text('norm = "l2"\nradius = [0, 0.25]\n[smoothing]\nsigma = 0.25\nn0 = 50\nn = 300\n')
    suite = tmp_path / "suite.toml"
    suite.write_text(
        f'name = "c"\ndata = "digits"\nlimit = 20\nmodels = ["digits-mlp"]\nattacks = ["{certification}"]\n'
        "checks = false\n"
    )
    common = ["gate", str(suite), "--no-baseline", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "pass"), "--min-certified-accuracy", "smoothing:0.25=0.05"]) == 0
    assert main([*common, "--out", str(tmp_path / "fail"), "--min-certified-accuracy", "l2:0.25=0.99"]) == 1
    failures = [c.find("failure") for c in ET.parse(tmp_path / "fail" / "junit.xml").getroot().findall("testcase")]
    message = next(f.get("message") for f in failures if f is not None)
    assert message.startswith("certified accuracy ") and "(sigma 0.25)" in message and "< 99.00%" in message
    assert main([*common, "--out", str(tmp_path / "x"), "--min-certified-accuracy", "l2:0.3=0.5"]) == 2
    assert main([*common, "--out", str(tmp_path / "y"), "--min-robust-accuracy", "l2:0.3=0.5"]) == 2
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()  # refused before the run


@pytest.mark.slow
def test_the_certificate_check_fails_on_inflated_certificates(certified_run, tmp_path):
    run, _ = certified_run
    context = RunContext.open(_suite(), tmp_path)
    tested = ModelUnderTest.load("digits-mlp", 0)
    records = run.results["examples"]["digits-mlp"]["certification_suites"]["smoothing"]
    honest = certificate_check(context, tested, SMOOTHING, {"sigma=0.25": records["sigma=0.25"]})
    assert honest.status == "pass" and honest.value.startswith("0/")
    inflated = dict(records["sigma=0.25"], radius=np.asarray(records["sigma=0.25"]["radius"]) * 20 + 2.0)
    broken = certificate_check(context, tested, SMOOTHING, {"sigma=0.25": inflated})
    assert broken.status == "fail" and "sigma=0.25: example" in broken.message


def test_a_smoothing_suite_in_fractions_of_the_range_scales_to_pixels(tmp_path, monkeypatch, digits):
    """smoothing-l2 writes sigma and radius as fractions of the input range: x 255 on [0, 255] data, by hand."""
    from robustkit.evaluation.suite_files import repository_root

    monkeypatch.chdir(repository_root())
    np.savez(tmp_path / "pixels.npz", x=digits.x_test[:12] * 255, y=digits.y_test[:12], bounds=[0.0, 255.0])
    smoothing = dataclasses.replace(load_evaluation_suite("smoothing-l2"), n0=20, n=200)
    suite = BenchmarkSuite("pixels", str(tmp_path / "pixels.npz"), ["tests.linear_models:pooling_cnn"], [],
                           checks=False, certification_suites=[smoothing])  # fmt: skip
    run = run_benchmark(suite, tmp_path / "run")
    config = run.results["suite"]["certification_suites"][0]
    assert config["sigma"] == [63.75, 127.5] and config["sigma_written"] == ["0.25", "0.5"]
    assert config["radius"] == [0.0, 63.75, 127.5, 191.25, 255.0]
    records = run.results["examples"]["pooling_cnn"]["certification_suites"]["smoothing-l2"]
    assert sorted(records) == ["sigma=127.5", "sigma=63.75"]
    assert {r["radius"] for r in run.results["certified"]} == {0.0, 63.75, 127.5, 191.25, 255.0}
