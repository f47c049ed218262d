"""Corruption suites in the runner: a row per corruption and severity in the summary (with corruption and
severity columns), resumable cells that any sharding fills alike, mCE against a baseline, the report's
tables and pictures, and the gate's corruption thresholds."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from robustkit.corruptions import corrupt
from robustkit.errors import ConfigError
from robustkit.evaluation.context import predict_labels
from robustkit.evaluation.corrupted import overview
from robustkit.evaluation.corruption_suites import CorruptionSuite
from robustkit.evaluation.results import read_results
from robustkit.evaluation.runner import run_benchmark
from robustkit.evaluation.suites import BenchmarkSuite
from robustkit.evaluation.verification_suites import load_evaluation_suite
from robustkit.outputs.gate import check_thresholds_fit, evaluate_gate, parse_threshold
from robustkit.outputs.report import write_report
from robustkit.sources.data import load_digits_split
from robustkit.sources.zoo import load_zoo_model

LIMIT = 40
SUITE = CorruptionSuite("c", ("contrast", "gaussian_noise", "saturate"), (1, 5), baseline="digits-mlp")


def _suite(**changes) -> BenchmarkSuite:
    settings = dict(limit=LIMIT, corruption_suites=[SUITE], seed=0)  # the zoo model trained with seed 0
    settings.update(changes)
    return BenchmarkSuite("corrupted", "digits", ["digits-mlp"], [], **settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def corrupted_run(tmp_path_factory, zoo_cache):
    out = tmp_path_factory.mktemp("corrupted")
    run = run_benchmark(_suite(), out)
    write_report(run.results, out, run.summary)
    return run, out


def test_each_row_is_the_accuracy_on_the_corrupted_test_data(corrupted_run):
    run, out = corrupted_run
    table = pd.read_csv(out / "summary.csv", keep_default_na=False)
    rows = table[table["bound"] == "measured"]
    assert sorted(zip(rows["corruption"], rows["severity"])) == sorted(
        (c, s) for c in SUITE.corruptions for s in SUITE.severities
    )
    data = load_digits_split()
    x, y = data.x_test[:LIMIT].astype(np.float32), data.y_test[:LIMIT]
    model = load_zoo_model("digits-mlp")
    for row in rows.itertuples():  # recomputed here, from the public function, with the run's seed
        images = corrupt(x, row.corruption, int(row.severity), seed=0)
        accuracy = float((predict_labels(model, images, 64) == y).mean())
        assert math.isclose(row.robust_accuracy, accuracy), (row.corruption, row.severity)
    contrast = rows[rows["corruption"] == "contrast"].set_index("severity")["robust_accuracy"]
    assert contrast[5] < contrast[1] - 0.3  # severity means something on this model


def test_cells_resume_and_any_sharding_gives_the_same_predictions(corrupted_run, tmp_path):
    run, out = corrupted_run
    again = run_benchmark(_suite(), out)
    assert again.cells_computed == 0 and again.summary.equals(run.summary)
    sharded = run_benchmark(_suite(shard_size=16), tmp_path)
    assert sharded.cells_computed == 3 * len(SUITE.corruptions) * len(SUITE.severities)
    ours = sharded.results["examples"]["digits-mlp"]["corruption_suites"]["c"]
    theirs = run.results["examples"]["digits-mlp"]["corruption_suites"]["c"]
    for corruption in SUITE.corruptions:
        np.testing.assert_array_equal(ours[corruption]["prediction"], theirs[corruption]["prediction"])
    back = read_results(out / "results.json")
    np.testing.assert_array_equal(
        back["examples"]["digits-mlp"]["corruption_suites"]["c"]["contrast"]["prediction"],
        theirs["contrast"]["prediction"],
    )


def test_the_report_shows_the_tables_the_mce_and_the_pictures(corrupted_run):
    run, out = corrupted_run
    report = (out / "report.md").read_text()
    assert "## Corruption robustness: c" in report and "saturate (held out)" in report
    assert "Not measured: frost (it blends in texture photographs" in report  # means without it, said so
    assert (out / "corruption_heatmap.png").stat().st_size > 1000
    assert (out / "corruption_tiles.png").stat().st_size > 1000
    figures = overview(run.summary, "digits-mlp", SUITE.config(), {"digits-mlp": "digits-mlp"})
    assert math.isclose(figures["mce"], 1.0)  # the baseline's own errors over themselves
    grid = run.summary[run.summary["corruption"].isin(["contrast", "gaussian_noise"])]["robust_accuracy"]
    assert math.isclose(figures["mean"], float(grid.mean()))  # the held-out saturate is not averaged in
    assert figures["worst"] == "contrast"


def test_corruption_thresholds_pass_and_fail(corrupted_run):
    run, _ = corrupted_run
    rows = run.summary.set_index(["corruption", "severity"])
    contrast_5 = float(rows.loc[("contrast", 5), "robust_accuracy"])
    passing = [
        parse_threshold(f"contrast:5={contrast_5:.4f}", "corruption"),
        parse_threshold("mean=0.05", "corruption"),
    ]
    failing = [parse_threshold(f"digits-mlp/contrast:5={contrast_5 + 0.05:.4f}", "corruption")]
    failing.append(parse_threshold("mean:5=0.99", "corruption"))
    assert all(c.passed for c in evaluate_gate(run.results, thresholds=passing))
    verdicts = evaluate_gate(run.results, thresholds=failing)
    assert [c.passed for c in verdicts] == [False, False]
    assert "every severity" in evaluate_gate(run.results, thresholds=passing)[1].name
    scored = run.summary[
        run.summary["corruption"].isin(["contrast", "gaussian_noise"]) & (run.summary["severity"] == 5)
    ]
    mean_5 = float(scored["robust_accuracy"].mean())  # the held-out saturate stays out of the mean
    at, above = (parse_threshold(f"mean:5={v:.4f}", "corruption") for v in (mean_5 - 1e-4, mean_5 + 0.02))
    assert [c.passed for c in evaluate_gate(run.results, thresholds=[at, above])] == [True, False]


@pytest.mark.parametrize(
    "text, words",
    [("fog:3=0.5", "names corruption 'fog'"), ("contrast:3=0.5", "severity 3"), ("contrast:5=1.5", r"in \[0, 1\]")],
)
def test_a_threshold_the_run_cannot_answer_is_refused_before_it_runs(text, words):
    with pytest.raises(ConfigError, match=words):
        check_thresholds_fit([parse_threshold(text, "corruption")], [SUITE], ["digits-mlp"])


@pytest.mark.parametrize(
    "body, words",
    [
        ('[corruptions]\nnames = ["frost"]', "texture"),
        ('[corruptions]\nnames = ["fogg"]', "one of gaussian_noise"),
        ("[corruptions]\nseverities = [0, 6]", "severities from 1 to 5"),
        ('[corruptions]\nconstants = "tiny"', "'auto'"),
        ("[corruptions]\n[smoothing]\nsigma = 0.25", "one kind"),
    ],
)
def test_a_bad_suite_file_says_what_to_fix(tmp_path, body, words):
    path = tmp_path / "bad.toml"
    path.write_text(f'name = "bad"\n{body}\n')
    with pytest.raises(ConfigError, match=words):
        load_evaluation_suite(str(path))


def test_the_shipped_suite_names_every_provided_corruption_and_separates_the_held_out():
    suite = load_evaluation_suite("corruptions")
    assert isinstance(suite, CorruptionSuite)
    config = suite.config()
    assert set(config["held_out"]) == {"speckle_noise", "gaussian_blur", "saturate", "spatter"}
    assert dataclasses.replace(suite, batch_size=7).cell_key("fog", 2) == suite.cell_key("fog", 2)


def test_corruptions_on_a_table_say_that_they_need_images_before_any_work(tmp_path, monkeypatch):
    from robustkit.errors import InputError
    from robustkit.evaluation.suite_files import repository_root

    monkeypatch.chdir(repository_root())
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.uniform(0, 1, (30, 4)), columns=["a", "b", "c", "d"]).assign(label=rng.integers(0, 2, 30))
    table.to_csv(tmp_path / "rows.csv", index=False)
    suite = BenchmarkSuite("rows", f"{tmp_path / 'rows.csv'}?label=label", ["tests.linear_models:table_linear"], [],
                           checks=False, corruption_suites=[SUITE])  # fmt: skip
    with pytest.raises(InputError, match=r"corrupt images shaped \(height, width, 1 or 3 channels\).*\(4,\) \(a table"):
        run_benchmark(suite, tmp_path / "run")
    assert not (tmp_path / "run" / "cells").exists()  # nothing was computed first
