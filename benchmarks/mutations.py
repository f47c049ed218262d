"""Mutation testing: plant known bugs in a copy of robustkit and check that the tests meant to catch them fail.

Each mutation edits a temporary copy of the repository (the original is never touched), then runs
the test files that should catch it, with ``CI`` set (Hypothesis's derandomized profile) and ``-x``.
A mutation is *caught* when pytest reports failing tests (exit status 1); it *survived* when they
pass, and a run that cannot even collect its tests counts as *broken*. Before any mutation, the
same tests run on the unmutated copy and must pass, so that a failure is the mutation's doing.

Usage::

    python benchmarks/mutations.py              # every mutation; exit status 1 if any survives
    python benchmarks/mutations.py dlr-formula  # some of them
    python benchmarks/mutations.py --list       # what each one plants, and where
    python benchmarks/mutations.py --show NAME  # and how its tests fail

The trained models of the test suite are cached once for all runs (``ROBUSTKIT_TEST_CACHE``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORED = shutil.ignore_patterns(".git", "__pycache__", ".hypothesis", ".pytest_cache", ".mypy_cache", ".ruff_cache")


@dataclass(frozen=True)
class Mutation:
    """A planted bug: textual edits of the package, and the pytest arguments that must catch it."""

    name: str
    what: str
    edits: tuple[tuple[str, str, str], ...]  # (file, old text, new text); the old text occurs exactly once
    tests: tuple[str, ...]  # pytest node ids (a file, or file::test[parameters])


GUARANTEE = "tests/test_attack_guarantees.py::test_adversarial_examples_are_inside_the_ball_and_the_bounds"
APGD_STEPS = (
    "tests/test_apgd.py::test_the_step_halves_at_every_checkpoint_once_the_loss_stops_rising",
    "tests/test_apgd.py::test_a_step_that_keeps_improving_is_not_halved",
    "tests/test_apgd.py::test_each_step_is_the_momentum_step_from_the_best_point_after_a_halving",
)
CHECKS_RUN = "tests/test_checks.py::test_each_check_fires_on_its_model"
USER = "tests/test_user_messages.py"
CONSTRAINED = "tests/test_constraints.py::test_every_attack_keeps_every_constraint"
CERTIFICATION = "tests/test_certification_suites.py"
VERIFY = "tests/test_verify.py"
VERIFIED = "tests/test_verification_suites.py"
CHECK_TESTS = {  # the tests that make each trust check fire
    "clean-accuracy": (f"{USER}::test_class_order_the_clean_accuracy_check_and_the_closing_summary",),
    "probability-outputs": (f"{CHECKS_RUN}[hot-softmax]",),
    "zero-gradients": (f"{CHECKS_RUN}[hot-softmax]", f"{CHECKS_RUN}[zero-gradient-quantizer]"),
    "finite-differences": (f"{CHECKS_RUN}[rounding]",),
    "nondeterminism": (f"{CHECKS_RUN}[dropout-on]",),
    "huge-eps-reaches-chance": (f"{CHECKS_RUN}[hot-softmax]",),
    "pgd-weaker-than-fgsm": ("tests/test_checks.py::test_weak_pgd_is_flagged",),
    "attack-converged": ("tests/test_checks.py::test_weak_pgd_is_flagged",),
    "loss-improves": (f"{CHECKS_RUN}[zero-gradient-quantizer]",),
    "black-box-beats-white-box": (
        "tests/test_masking.py::test_the_checks_fail_on_masked_models_and_not_on_the_healthy_one",
    ),
}


def _check_always_passes(check: str) -> Mutation:
    # Planted where every verdict leaves run_checks (for the report, the gate and the CLI): one edit fits all.
    return Mutation(
        f"{check}-always-passes",
        f"the trust check {check} reports pass whatever it measured",
        (
            (
                "robustkit/evaluation/checks.py",
                "    for result in results:\n        result.model = label\n",
                f"    for result in results:\n        result.model = label\n"
                f"        if result.name == {check!r}:\n            result.status = 'pass'\n",
            ),
        ),
        CHECK_TESTS[check],
    )


LINF_SMOOTHING = "tests/test_smoothing_linf.py"
GATE_MEASURES = "tests/test_gate_measures.py"
EXACT_ANSWERS = "tests/test_exact_answers.py"
CORRUPTION_CONSTANTS = "tests/test_corruption_constants.py"
FEATURE_SCALES = "tests/test_feature_scales.py"
# Bugs that make a certificate, a proof, a corruption or a gate verdict too optimistic: each promise of those
# kinds has one, planted in the module that keeps it.
TRUST_MUTATIONS = [
    Mutation(
        "smoothing-linf-dimension-last-axis",
        "CERTIFY's L-inf radius divides by the root of the last axis (the channels), not of the number of features",
        (
            (
                "robustkit/certify/smoothing.py",
                "    dimension = int(np.prod(tensor.shape[1:]))",
                "    dimension = int(tensor.shape[-1])",
            ),
        ),
        (f"{LINF_SMOOTHING}::test_the_linf_radius_is_the_l2_radius_over_the_root_of_the_number_of_features",),
    ),
    Mutation(
        "runner-linf-dimension-last-axis",
        "a certification suite records the last axis as the number of features, so its L-inf radii are too large",
        (
            (
                "robustkit/evaluation/certification.py",
                "dimension = int(np.prod(run.x.shape[1:]))",
                "dimension = int(run.x.shape[-1])",
            ),
        ),
        (f"{LINF_SMOOTHING}::test_an_linf_smoothing_suite_reports_the_l2_certificates_over_the_root_of_the_features",),
    ),
    Mutation(
        "certified-linf-radius-unscaled",
        "certified rows of an L-inf suite read the L2 radius as it is",
        (
            (
                "robustkit/evaluation/certified.py",
                'return radius / math.sqrt(record["dimension"]) if norm == "linf" else radius',
                "return radius",
            ),
        ),
        (f"{LINF_SMOOTHING}::test_an_linf_smoothing_suite_reports_the_l2_certificates_over_the_root_of_the_features",),
    ),
    Mutation(
        "selection-shares-estimation-samples",
        "CERTIFY chooses the top class on samples it counts again (the estimation stream), voiding 1 - alpha",
        (
            (
                "robustkit/certify/smoothing.py",
                "selection = _counted(*checked, n0, seed, index, SELECTION,",
                "selection = _counted(*checked, n0, seed, index, ESTIMATION,",
            ),
        ),
        (f"{LINF_SMOOTHING}::test_selection_and_estimation_draw_independent_noise",),
    ),
    Mutation(
        "gate-certified-reads-smoothed",
        "the gate's certified threshold reads the smoothed accuracy (certified at radius 0)",
        (
            (
                "robustkit/outputs/gate.py",
                'r["certified_accuracy"], low, high, by)',
                'r["smoothed_accuracy"], low, high, by)',
            ),
        ),
        (GATE_MEASURES,),
    ),
    Mutation(
        "gate-verified-reads-attacks",
        "the gate's verified threshold reads the rows above the truth (attacks, counterexamples), not the proofs",
        (
            (
                "robustkit/outputs/gate.py",
                '        if r.get("bound") != "lower":',
                '        if r.get("bound") == "lower":',
            ),
        ),
        (GATE_MEASURES,),
    ),
    Mutation(
        "gate-robust-reads-one-attack",
        "the gate's robust threshold reads the first attack's row instead of the worst case",
        (
            (
                "robustkit/outputs/gate_baseline.py",
                '    return [r for r in results["summary"] if r["attack"] == "worst-case"]',
                '    return [r for r in results["summary"] if r["bound"] == "upper"]',
            ),
        ),
        (GATE_MEASURES,),
    ),
    Mutation(
        "gate-corruption-reads-clean",
        "the gate's corruption threshold pools the clean accuracy of the cells, not the corrupted one",
        (
            (
                "robustkit/outputs/gate_corruptions.py",
                'k = sum(round(c["robust_accuracy"] * c["n"]) for c in cells)',
                'k = sum(round(c["clean_accuracy"] * c["n"]) for c in cells)',
            ),
        ),
        (GATE_MEASURES,),
    ),
    Mutation(
        "exact-incumbent-as-proof",
        "at a time-out the exact verifier takes the best point found (the incumbent) as a proof",
        (
            (
                "robustkit/verify/exact.py",
                '    proved = getattr(result, "mip_dual_bound", None)\n    if proved is None and result.status == 0:\n',
                '    proved = getattr(result, "mip_dual_bound", None)\n    if result.x is not None:\n',
            ),
        ),
        (f"{EXACT_ANSWERS}::test_a_time_out_is_never_a_proof_unless_the_dual_bound_decides",),
    ),
    Mutation(
        "exact-witness-rounded-outside",
        "counterexamples are clipped to the ball as float32 computes x - eps and x + eps, not settled toward x",
        (
            (
                "robustkit/verify/exact.py",
                "found.margin, found.witness = value, _settled(point, program, network, x, region.eps, box)",
                "found.margin, found.witness = value, np.clip(point[program.span(0)].reshape(network.shapes[0]), "
                "region.lower[0].numpy(), region.upper[0].numpy()).astype(x.dtype.as_numpy_dtype)",
            ),
        ),
        (f"{EXACT_ANSWERS}::test_witnesses_lie_inside_the_ball_and_the_bounds_and_are_misclassified",),
    ),
    Mutation(
        "exact-prunes-by-the-previous-example",
        "the exact verifier skips the classes that the previous example's bounds rule out",
        (
            (
                "robustkit/verify/exact.py",
                "prune_bounds = pruning.lower[i] if pruning is not None",
                "prune_bounds = pruning.lower[i - 1] if pruning is not None",
            ),
        ),
        (f"{EXACT_ANSWERS}::test_no_example_is_both_proved_and_broken_by_an_attack",),
    ),
    Mutation(
        "gate-passes-on-the-interval-top",
        "a threshold passes when the upper end of the measure's 95% interval reaches it",
        (
            (
                "robustkit/outputs/gate.py",
                'passed = row["value"] >= threshold.minimum',
                'passed = row["high"] >= threshold.minimum',
            ),
        ),
        (GATE_MEASURES,),
    ),
    Mutation(
        "exact-counterexample-not-rechecked",
        "a negative margin from the solver counts as a counterexample without classifying its point again",
        (
            (
                "robustkit/verify/exact.py",
                "if value < 0 and _misclassified(model, found.witness, label):",
                "if value < 0:",
            ),
        ),
        (f"{EXACT_ANSWERS}::test_a_counterexample_is_re_checked_on_the_model",),
    ),
    Mutation(
        "verified-below-zero",
        "a margin bound within rounding below zero counts as proved (the tolerance's sign flipped)",
        (
            (
                "robustkit/verify/margins.py",
                "return self.worst > TOLERANCE * self.scale",
                "return self.worst > -TOLERANCE * self.scale",
            ),
        ),
        (f"{EXACT_ANSWERS}::test_the_rounding_tolerance_on_both_sides_of_zero",),
    ),
    Mutation(
        "verified-without-tolerance",
        "a margin bound barely above zero counts as proved, though rounding alone could put it there",
        (("robustkit/verify/margins.py", "return self.worst > TOLERANCE * self.scale", "return self.worst > 0"),),
        (f"{EXACT_ANSWERS}::test_the_rounding_tolerance_on_both_sides_of_zero",),
    ),
    Mutation(
        "imagenet-size-takes-cifar-constants",
        "images larger than 84 pixels take the CIFAR constants (Gaussian noise at 224 px: 0.04, not 0.08)",
        (
            (
                "robustkit/corruptions/constants.py",
                '    return "small" if shorter_side <= SMALL_LARGE_BOUNDARY else "large"',
                '    return "small"',
            ),
        ),
        (f"{CORRUPTION_CONSTANTS}::test_the_noises_at_224_have_the_published_strength",),
    ),
    Mutation(
        "imagenet-constants-shifted-severity",
        "ImageNet-size Gaussian noise takes the next severity's constant",
        (
            (
                "robustkit/corruptions/constants.py",
                '"gaussian_noise": [0.08, 0.12, 0.18, 0.26, 0.38],',
                '"gaussian_noise": [0.12, 0.18, 0.26, 0.38, 0.38],',
            ),
        ),
        (f"{CORRUPTION_CONSTANTS}::test_each_severity_takes_the_published_constant",),
    ),
    Mutation(
        "cifar-constant-typo",
        "a typo in the CIFAR-size impulse noise at severity 4 (0.06 for 0.05)",
        (
            (
                "robustkit/corruptions/constants.py",
                '"impulse_noise": [0.01, 0.02, 0.03, 0.05, 0.07],',
                '"impulse_noise": [0.01, 0.02, 0.03, 0.06, 0.07],',
            ),
        ),
        (f"{CORRUPTION_CONSTANTS}::test_each_severity_takes_the_published_constant",),
    ),
    Mutation(
        "gaussian-noise-not-clipped",
        "Gaussian noise is not clipped to the images' range",
        (
            (
                "robustkit/corruptions/noise.py",
                "    return tf.clip_by_value(x + scale * _per_pixel(keys, x, 1, normal=True), 0.0, 1.0)",
                "    return x + scale * _per_pixel(keys, x, 1, normal=True)",
            ),
        ),
        ("tests/test_corruptions.py::test_every_corruption_function_returns_images_in_the_unit_range",),
    ),
    Mutation(
        "eps-scale-std-inverted",
        "--eps-scale std gives each feature 1 / std, not std (income's radius 0.00017 instead of 5773)",
        (
            (
                "robustkit/constraints.py",
                "            radius = flat.std(axis=0)\n",
                "            radius = 1.0 / np.maximum(flat.std(axis=0), 1e-12)\n",
            ),
        ),
        (
            f"{FEATURE_SCALES}::test_each_feature_moves_by_eps_times_its_scale",
            "tests/test_constraints.py::test_a_churn_table_with_all_four_constraints_through_bench",
        ),  # fmt: skip
    ),
    Mutation(
        "one-hot-weakest-category",
        "a one-hot group takes its weakest valid category instead of its strongest",
        (
            (
                "robustkit/constraints.py",
                "else np.asarray(score(candidate.reshape(adv.shape)), np.float64)",
                "else -np.asarray(score(candidate.reshape(adv.shape)), np.float64)",
            ),
        ),
        (f"{FEATURE_SCALES}::test_a_one_hot_group_takes_its_strongest_valid_category",),
    ),
    Mutation(
        "one-hot-by-attack-value",
        "a one-hot group takes the category the attack pushed highest, not the one the model finds strongest",
        (
            (
                "robustkit/constraints.py",
                "        choices = range(len(cols)) if score is not None else [None]",
                "        choices = [None]",
            ),
        ),  # fmt: skip
        (f"{FEATURE_SCALES}::test_a_one_hot_group_takes_its_strongest_valid_category",),
    ),
]


BAB = "tests/test_branch_and_bound.py"
COMPLETE_VERIFICATION_MUTATIONS = [
    Mutation(
        "alpha-slope-outside-zero-one",
        "alpha-CROWN's slopes are used as the optimizer leaves them, outside [negative slope, 1]",
        (
            (
                "robustkit/verify/rules.py",
                "tf.where(straddling, tf.clip_by_value(chosen, self.slope, 1.0), lower_slope)",
                "tf.where(straddling, chosen, lower_slope)",
            ),
            ("robustkit/verify/ascent.py", "return [tf.clip_by_value(v, low, high) for", "return [v for"),
        ),
        ("tests/test_alpha_crown.py::test_any_slope_even_outside_zero_one_gives_a_sound_bound",),
    ),
    Mutation(
        "beta-wrong-sign",
        "a split constraint's Lagrange term has the wrong sign (+beta z for z >= 0)",
        (("robustkit/verify/subdomains.py", "return {m: -tf.cast(split,", "return {m: tf.cast(split,"),),
        (f"{BAB}::test_split_multipliers_keep_each_subdomains_bound_below_its_sampled_minimum",),
    ),
    Mutation(
        "split-dropped-in-one-branch",
        "the inactive child never gets its split: it is its parent again",
        (("robustkit/verify/branch_and_bound.py", "        splits[m][count + i].reshape(-1)[index] = -1\n", ""),),
        (f"{BAB}::test_the_hard_case_holds_on_a_grid_and_needs_branching",),
    ),
    Mutation(
        "domain-dropped-when-full",
        "when the stored subdomains reach the memory cap, the worst half is dropped and the search goes on",
        (
            (
                "robustkit/verify/branch_and_bound.py",
                'return answer("unknown", why="memory cap")',
                "pool.take(max(1, len(pool) // 2))",
            ),
        ),
        (f"{BAB}::test_no_subdomain_is_dropped_when_memory_runs_out",),
    ),
    Mutation(
        "time-out-reported-as-proved",
        "branch and bound answers proved when its time runs out",
        (
            (
                "robustkit/verify/branch_and_bound.py",
                'return answer("unknown", why="time limit")',
                'return answer("proved")',
            ),
        ),
        (f"{BAB}::test_a_time_out_is_unknown_never_proved",),
    ),
    Mutation(
        "counterexample-not-rechecked",
        "a point the float32 network puts in the unsafe set counts without the float64 model's confirmation",
        (
            (
                "robustkit/verify/falsify.py",
                "    return bool(spec.violated(np.asarray(outputs, np.float64))[0])",
                "    return True",
            ),
        ),
        ("tests/test_complete_verification.py::test_a_point_unsafe_only_in_float32_is_no_counterexample",),
    ),
]

MUTATIONS = [
    Mutation(
        "ball-leak-linf",
        "the L-inf ball is 0.1% wider, in the loop and in the final rounding",
        (
            ("robustkit/ball.py", "tf.maximum(x64 - eps, ", "tf.maximum(x64 - 1.001 * eps, "),
            ("robustkit/ball.py", "tf.minimum(x64 + eps, ", "tf.minimum(x64 + 1.001 * eps, "),
            (
                "robustkit/ball.py",
                "return tf.minimum(tf.abs(delta), eps if radius is None else eps * radius())",
                "return tf.minimum(tf.abs(delta), 1.001 * eps if radius is None else 1.001 * eps * radius())",
            ),
        ),
        (f"{GUARANTEE}[pgd-linf-float32]", f"{GUARANTEE}[apgd-linf-float64]"),
    ),
    Mutation(
        "ball-leak-l2",
        "the L2 (and L1) projection keeps 0.1% more than eps, in the loop and in the final rounding",
        (
            ("robustkit/norms.py", "eps / tf.maximum(norms, _TINY))", "1.001 * eps / tf.maximum(norms, _TINY))"),
            ("robustkit/ball.py", "    return eps * (1.0 - roundoff", "    return 1.001 * eps * (1.0 - roundoff"),
        ),
        (
            "tests/test_attack_guarantees.py::test_l2_and_l1_points_reach_the_sphere_and_never_pass_it",
            f"{GUARANTEE}[pgd-l2-float32]",
        ),
    ),
    Mutation(
        "ball-rounding-away",
        "x + eps and the last point are rounded to the nearest number, not toward x (the large-magnitude bug)",
        (
            (
                "robustkit/ball.py",
                "    low = tf.where(tf.cast(low, tf.float64) < low64, step_toward(low, x), low)\n",
                "",
            ),
            (
                "robustkit/ball.py",
                "    high = tf.where(tf.cast(high, tf.float64) > high64, step_toward(high, x), high)\n",
                "",
            ),
            (
                "robustkit/attacks/compiled.py",
                "x_adv = settle(x, point, eps, norm, lower, upper)",
                "x_adv = point",
            ),
        ),
        (
            "tests/test_attack_guarantees.py::test_a_table_with_large_feature_values_has_no_row_outside_the_ball",
            f"{GUARANTEE}[fgsm-linf-float16]",
        ),
    ),
    Mutation(
        "apgd-no-halving",
        "APGD never halves its step at a checkpoint",
        (
            (
                "robustkit/attacks/apgd_schedule.py",
                "return tf.logical_or(too_few_rises, stalled)",
                "return stalled & False",
            ),
        ),
        APGD_STEPS,
    ),
    Mutation(
        "apgd-no-restart-from-best",
        "APGD halves its step but goes on from the current point, not from the best one",
        (
            (
                "robustkit/attacks/apgd.py",
                "where_rows(halve, x_max, s.x),\n                where_rows(halve, grad_max, g),",
                "s.x,\n                g,",
            ),
        ),
        APGD_STEPS,
    ),
    Mutation(
        "apgd-no-momentum",
        "APGD steps without momentum (a = 1 at every step)",
        (("robustkit/attacks/apgd.py", "tf.constant(MOMENTUM, s.x.dtype)", "tf.constant(1.0, s.x.dtype)"),),
        APGD_STEPS,
    ),
    Mutation(
        "fab-restart-by-position",
        "FAB's restart noise is keyed by the example's position in the batch, not by the example",
        (
            (
                "robustkit/attacks/fab.py",
                "keys = problem.restart_keys(tf.constant(restart))",
                "keys = problem.restart_keys(tf.constant(restart)) * 0 + tf.range(tf.shape(x0)[0], dtype=tf.int64)",
            ),
        ),
        (
            "tests/test_any_cut.py::test_every_example_draws_alike_in_pairs_and_in_one_batch[fab-t]",
            "tests/test_any_cut.py::test_any_batch_size_and_any_split_give_bit_identical_results[fab-t]",
        ),
    ),
    Mutation(
        "square-uses-gradient",
        "the Square attack asks for gradients",
        (("robustkit/attacks/square.py", "    needs_gradient = False", "    needs_gradient = True"),),
        ("tests/test_square.py::test_square_needs_no_gradient_and_sees_through_masking",),
    ),
    Mutation(
        "dlr-formula",
        "DLR divides by z(1) - z(last) instead of z(1) - z(3)",
        (("robustkit/losses.py", "ranked[:, 0] - ranked[:, 2], tiny", "ranked[:, 0] - ranked[:, -1], tiny"),),
        ("tests/test_losses.py",),
    ),
    Mutation(
        "dlr-targeted-formula",
        "targeted DLR divides by z(1) - z(3) instead of z(1) - (z(3) + z(4)) / 2",
        (("robustkit/losses.py", "0.5 * (ranked[:, 2] + ranked[:, 3])", "ranked[:, 2]"),),
        ("tests/test_losses.py",),
    ),
    Mutation(
        "integer-not-rounded",
        "integer features keep the attack's fractional values",
        (("robustkit/constraints.py", "    if integer.any():\n", "    if False:\n"),),
        (f"{CONSTRAINED}[pgd-linf]", f"{CONSTRAINED}[square-l2]"),
    ),
    Mutation(
        "integer-rounds-away",
        "integer features take the nearest integer even where it leaves the ball",
        (
            (
                "robustkit/constraints.py",
                "flat = np.where(inside(nearest) & integer, nearest, toward_x)",
                "flat = np.where(integer, nearest, toward_x)",
            ),
        ),
        (f"{CONSTRAINED}[pgd-linf]", f"{CONSTRAINED}[apgd-l2]", f"{CONSTRAINED}[fgsm-l1]"),
    ),
    Mutation(
        "one-hot-not-repaired",
        "one-hot groups keep the attack's fractional values",
        (("robustkit/constraints.py", "    for group in constraints.one_hot:\n", "    for group in ():\n"),),
        (f"{CONSTRAINED}[pgd-linf]",),
    ),
    Mutation(
        "immutable-moves",
        "features with radius 0 are not put back at x nor measured as outside the ball",
        (
            ("robustkit/attacks/compiled.py", "point = tf.where(tf.constant(radius > 0), point, x)", "point = point"),
            (
                "robustkit/scaled_norm.py",
                "return tf.where(pinned_moved, tf.constant(np.inf, size.dtype), size)",
                "return size",
            ),
        ),  # fmt: skip
        (f"{CONSTRAINED}[square-l2]", f"{CONSTRAINED}[fab-l2]"),
    ),
    Mutation(
        "feature-scale-ignored",
        "the L-inf box ignores each feature's eps scale",
        (
            (
                "robustkit/attacks/loop/problem.py",
                "self.eps64 if radius is None else self.eps64 * radius()",
                "self.eps64",
            ),
        ),
        ("tests/test_constraints.py::test_the_scale_lets_each_feature_move_by_its_own_eps",),
    ),
    Mutation(
        "few-classes-keep-dlr",
        "APGD-T and APGD-DLR keep the DLR losses on 2 and 3 classes",
        (
            (
                "robustkit/attacks/few_classes.py",
                "    if loss in SUBSTITUTES and classes < min_classes(loss):",
                "    if False:",
            ),
        ),  # fmt: skip
        ("tests/test_few_classes.py::test_autoattack_runs_on_two_and_three_classes_with_flat_inputs[2-standard]",),
    ),
    Mutation(
        "class-order-ignored",
        "--class-names names the classes but does not renumber the labels",
        (
            (
                "robustkit/sources/classes.py",
                "order = np.array([names.index(name) for name in own], np.int64)",
                "order = np.arange(len(own))",
            ),
        ),
        (f"{USER}::test_class_order_the_clean_accuracy_check_and_the_closing_summary",),
    ),
    Mutation(
        "threshold-fraction-as-number",
        "a gate threshold's eps 8/255 is read as the number 0.031 whatever the range",
        (
            (
                "robustkit/outputs/gate.py",
                "return in_input_units(threshold.eps, _suite_bounds(results, threshold))",
                "return float(threshold.eps)",
            ),
        ),
        (f"{USER}::test_a_gate_threshold_in_pixels_or_as_a_fraction_is_checked_before_the_run",),
    ),
    Mutation(
        "unreadable-image-ignored",
        "an image folder drops the files it cannot decode without a word",
        (("robustkit/sources/folders.py", "    if unreadable:\n", "    if False:\n"),),
        (f"{USER}::test_an_unreadable_image_is_named_and_other_files_are_skipped_once",),
    ),
    Mutation(
        "one-run-misread",
        "a minimum-norm attack run once for the grid counts an example broken at every eps, whatever its radius",
        (
            (
                "robustkit/evaluation/attack_cells.py",
                "success = result.success[at] & (np.asarray(result.radius)[at] <= eps)",
                "success = result.success[at]",
            ),
        ),
        ("tests/test_fmn.py::test_one_run_answers_every_eps_of_a_sweep",),
    ),
    Mutation(
        "fmn-pinned-in-gradient",
        "FMN's L2 and L1 searches keep the coordinates pinned at a bound in the gradient",
        (
            (
                "robustkit/attacks/fmn.py",
                "gradient = tf.where(pinned, tf.zeros_like(gradient), gradient)",
                "gradient = gradient",
            ),
        ),
        ("tests/test_fmn.py::test_on_images_with_black_pixels_the_l2_search_crosses_the_boundary",),
    ),
    Mutation(
        "smoothing-point-estimate",
        "randomized smoothing certifies from the observed share of the top class, with no confidence bound",
        (
            (
                "robustkit/certify/smoothing.py",
                "        bound = stats.beta.ppf(alpha, count, n - count + 1)\n",
                "        bound = count / n\n",
            ),
        ),
        (
            "tests/test_smoothing.py::test_the_certified_radius_of_a_linear_model_is_sound_and_close_to_the_truth",
            "tests/test_smoothing.py::test_given_the_counts_the_radius_is_the_reference_formula",
        ),
    ),
    Mutation(
        "smoothing-noise-by-position",
        "randomized smoothing draws each noise vector by its position in the batch, not by the example",
        (
            (
                "robustkit/certify/smoothing.py",
                "example, row_keys = _sample_keys(keys, rows, samples)\n",
                "example, row_keys = _sample_keys(keys, rows, samples)\n"
                "                row_keys = mix_keys(tf.gather(keys, example * 0), rows - start)\n",
            ),
        ),
        ("tests/test_smoothing.py::test_the_counts_do_not_depend_on_the_batch_size_or_the_cut",),
    ),
    Mutation(
        "certificate-check-toothless",
        "the attack that checks certificates never leaves x, so no certificate can be contradicted",
        (("robustkit/certify/attack_check.py", "eps=float(radius) * inside,", "eps=0.0,"),),
        (
            "tests/test_smoothing.py::"
            "test_an_attack_never_breaks_a_certified_example_and_the_check_fails_on_an_inflated_certificate",
        ),
    ),
    Mutation(
        "smoothing-noise-rounded-away",
        "randomized smoothing certifies inputs so large for their dtype that the noise rounds away",
        (("robustkit/certify/smoothing.py", "    if sigma < NOISE_RESOLUTION * spacing:\n", "    if False:\n"),),
        ("tests/test_smoothing.py::test_certificates_hold_at_any_magnitude_and_in_every_float_dtype_or_are_refused",),
    ),
    Mutation(
        "certificates-hold-always-passes",
        "the trust check on a certification suite passes even where an attack broke a certificate",
        (("robustkit/evaluation/certification.py", "    if contradictions:\n", "    if False:\n"),),
        (f"{CERTIFICATION}::test_the_certificate_check_fails_on_inflated_certificates",),
    ),
    Mutation(
        "certified-counts-wrong-predictions",
        "certified accuracy counts every example with a large enough radius, right or wrong",
        (
            (
                "robustkit/evaluation/certified.py",
                "k = int(np.sum(correct & (radius >= r)))",
                "k = int(np.sum(radius >= r))",
            ),
        ),
        (f"{CERTIFICATION}::test_the_runner_certifies_every_example_as_certify_does",),
    ),
    Mutation(
        "certificates-keyed-by-shard-position",
        "a certification suite keys each example's noise by its row in the shard, not in the data set",
        (("robustkit/evaluation/certification.py", "index=np.arange(start, stop),", "index=np.arange(stop - start),"),),
        (f"{CERTIFICATION}::test_certificates_resume_and_do_not_depend_on_the_shards",),
    ),
    Mutation(
        "cell-store-ignores-the-size",
        "the cell store resumes a saved cell that holds another number of examples than the shard",
        (
            (
                "robustkit/evaluation/cell_store.py",
                "return cell if n is None or len(values[first]) == n else None",
                "return cell",
            ),
        ),
        ("tests/test_cell_store.py::test_a_broken_or_mis_sized_cell_is_computed_again",),
    ),
    Mutation(
        "declared-settings-unchecked",
        "an attack's settings are not checked against their declarations when it is built",
        (("robustkit/attacks/declared.py", 'if not self.__dict__.get("_settings_checked"):', "if False:"),),
        ("tests/test_declared.py",),
    ),
    Mutation(
        "intervals-signed-weights",
        "interval bounds map a radius through a Dense layer's signed weights instead of their absolute values",
        (
            (
                "robustkit/verify/layer_rules.py",
                "return tf.tensordot(r, tf.abs(kernel()), axes=[[r.shape.rank - 1], [0]])",
                "return tf.tensordot(r, kernel(), axes=[[r.shape.rank - 1], [0]])",
            ),
        ),
        (f"{VERIFY}::test_every_value_in_the_region_lies_within_the_bounds",),
    ),
    Mutation(
        "subclass-bounded-unchecked",
        "a subclass of a supported layer is bounded as its base class without checking what it computes",
        (
            (
                "robustkit/verify/network.py",
                "    if type(layer) in registered:\n        return",
                "    if True:\n        return",
            ),
        ),
        ("tests/test_layer_rules.py::test_a_subclass_that_computes_something_else_is_refused",),
    ),
    Mutation(
        "crown-upper-line-through-origin",
        "CROWN's upper line of a straddling ReLU takes the chord's slope but passes through the origin",
        (
            (
                "robustkit/verify/rules.py",
                "intercept = tf.where(straddling, value_low - chord * lower, tf.zeros_like(lower))",
                "intercept = tf.zeros_like(lower)",
            ),
        ),
        (f"{VERIFY}::test_every_value_in_the_region_lies_within_the_bounds",),
    ),
    Mutation(
        "crown-l2-wrong-dual-norm",
        "linear bounds over an L2 ball use the L-inf norm of the coefficients, not the L2 norm",
        (
            (
                "robustkit/verify/linear_bounds.py",
                "dual = tf.norm(flat, ord=2, axis=-1)",
                "dual = tf.reduce_max(tf.abs(flat), axis=-1)",
            ),
        ),
        (f"{VERIFY}::test_a_linear_model_gets_its_exact_margins",),
    ),
    Mutation(
        "exact-relu-below-its-input",
        "the mixed-integer program lets a straddling ReLU's output fall below its input",
        (
            (
                "robustkit/verify/exact.py",
                "self.add([(z, 1.0), (x, -1.0)], np.zeros(n), big)  # z >= x",
                "self.add([(z, 1.0), (x, -1.0)], -big, big)  # z >= x",
            ),
        ),
        ("tests/test_exact.py::test_the_optimum_is_the_minimum_over_a_dense_grid_and_its_witness_reproduces_it",),
    ),
    Mutation(
        "interval-training-ignores-bounds",
        "certified training minimises the clean loss only, never the interval bounds' worst case",
        (
            (
                "robustkit/training/interval.py",
                "loss = kappa * self.compute_loss(x, y, out) + (1.0 - kappa) * robust",
                "loss = self.compute_loss(x, y, out) + 0.0 * robust",
            ),
        ),
        ("tests/test_interval_training.py::test_interval_training_makes_a_model_verifiable",),
    ),
    Mutation(
        "verification-check-toothless",
        "the attack that checks proofs never leaves x, so no proof can be contradicted",
        (
            (
                "robustkit/verify/agreement.py",
                "attack = PGD(eps=eps, steps=steps,",
                "attack = PGD(eps=0.0, steps=steps,",
            ),
        ),
        ("tests/test_exact.py::test_the_verification_check_passes_on_real_answers_and_fails_on_planted_ones",),
    ),
    Mutation(
        "verification-holds-ignores-attacks",
        "the runner's check on proofs never reads what the run's attacks broke",
        (
            (
                "robustkit/evaluation/verification_check.py",
                "            worst = np.minimum(worst, np.nan_to_num(",
                "            worst = np.maximum(worst, np.nan_to_num(",
            ),
        ),
        (f"{VERIFIED}::test_the_trust_check_fails_when_a_bound_is_unsound",),
    ),
    Mutation(
        "verification-holds-always-passes",
        "the runner's check on proofs reports pass whatever contradicts them",
        (("robustkit/evaluation/verification_check.py", "    if found:\n", "    if found and False:\n"),),
        (f"{VERIFIED}::test_the_trust_check_fails_when_a_bound_is_unsound",),
    ),
    Mutation(
        "verified-rows-count-unknown-as-proved",
        "the summary counts examples left unknown as proved",
        (
            (
                "robustkit/evaluation/verified.py",
                "    codes = (PROVED, PROVED_EXACT) if exact else (PROVED,)",
                "    codes = (0, PROVED, PROVED_EXACT) if exact else (PROVED,)",
            ),
        ),
        (f"{VERIFIED}::test_proofs_sit_beside_the_attacks_and_below_them",),
    ),
    Mutation(
        "crown-ibp-ignores-the-linear-bound",
        "CROWN-IBP training trains on the interval bound alone",
        (
            (
                "robustkit/training/interval.py",
                "            margins = beta * linear + (1.0 - beta) * margins",
                "            margins = 0.0 * beta * linear + margins",
            ),
        ),
        ("tests/test_interval_training.py::test_crown_ibp_starts_from_the_linear_bound_and_every_bound_is_sound",),
    ),
    Mutation(
        "corruption-keyed-by-batch-position",
        "corrupt draws its random numbers from each image's position in the batch, not in the data set",
        (
            (
                "robustkit/corruptions/batches.py",
                "        keys = all_keys[start:stop]",
                "        keys = corruption_keys(seed, chosen.name, severity, np.arange(stop - start))",
            ),
        ),
        ("tests/test_corruptions.py::test_the_same_images_for_any_batch_and_split_inside_the_bounds_in_their_dtype",),
    ),
    Mutation(
        "corruption-rounds-outside-the-bounds",
        "corrupted images are mapped back to the data's range without stepping rounded values inside it",
        (
            (
                "robustkit/corruptions/batches.py",
                "    out = np.where(wide < low, np.nextafter(out, np.asarray(high, dtype)), out)",
                "    out = np.where(wide < low - 1e9, np.nextafter(out, np.asarray(high, dtype)), out)",
            ),
            (
                "robustkit/corruptions/batches.py",
                "    return np.where(out.astype(np.float64) > high, np.nextafter(out, np.asarray(low, dtype)), out)"
                ".astype(dtype)",
                "    return out.astype(dtype)",
            ),
        ),
        ("tests/test_corruptions.py::test_the_same_images_for_any_batch_and_split_inside_the_bounds_in_their_dtype",),
    ),
    Mutation(
        "corruption-float32-range-not-clipped",
        "[0, 1] mapped back to float32 bounds without clipping: a width that rounds up lands beyond them",
        (("robustkit/corruptions/batches.py", "        return np.clip(out, lo, hi, out=out)", "        return out"),),
        ("tests/test_corruptions.py::test_values_mapped_back_to_float32_bounds_stay_inside_them_at_any_magnitude",),
    ),
    Mutation(
        "spatter-distance-without-knight-moves",
        "spatter's distance transform steps only across and diagonally (a 3x3 mask, not OpenCV's 5x5)",
        (("robustkit/corruptions/edges.py", "_STEPS = {1: 1.0, 2: 1.4, 5: 2.1969}", "_STEPS = {1: 1.0, 2: 1.4}"),),
        ("tests/test_corruptions.py::test_spatter_rims_match_opencvs_steps_given_the_same_drops",),
    ),
    Mutation(
        "canny-without-hysteresis",
        "Canny keeps only the strong edges, never growing them into the weak ones connected to them",
        (
            (
                "robustkit/corruptions/edges.py",
                '        grown = tf.maximum(strong, weak * tf.nn.max_pool2d(edges, 3, 1, "SAME"))',
                "        grown = strong",
            ),
        ),
        ("tests/test_corruptions.py::test_spatter_rims_match_opencvs_steps_given_the_same_drops",),
    ),
    Mutation(
        "elastic-affine-border-repeats-the-edge",
        "elastic's affine warp reflects the border with its edge pixel instead of OpenCV's reflect-101",
        (
            (
                "robustkit/corruptions/digital.py",
                '    warped = sample_bilinear(x, rows, cols, "reflect101")',
                '    warped = sample_bilinear(x, rows, cols, "reflect")',
            ),
        ),
        ("tests/test_corruptions.py::test_elastic_with_fixed_draws_matches_the_published_algorithm",),
    ),
    Mutation(
        "elastic-fields-swapped",
        "elastic displaces rows by the columns' field and columns by the rows'",
        (
            (
                "robustkit/corruptions/digital.py",
                'out = sample_bilinear(warped, ys[None] + fields[1], xs[None] + fields[0], "reflect")',
                'out = sample_bilinear(warped, ys[None] + fields[0], xs[None] + fields[1], "reflect")',
            ),
        ),
        ("tests/test_corruptions.py::test_elastic_at_224_gives_the_values_the_published_code_gave_on_the_same_draws",),
    ),
    Mutation(
        "zoom-blur-off-centre",
        "zoom blur's centre crop starts a pixel low when the margin is odd",
        (("robustkit/corruptions/linear.py", "    top = (n - crop) // 2", "    top = (n - crop + 1) // 2"),),
        ("tests/test_corruptions.py::test_deterministic_corruptions_match_the_published_algorithm_pixel_for_pixel",),
    ),
    Mutation(
        "defocus-border-repeats-the-edge",
        "defocus blur reflects the border with its edge sample (symmetric) instead of without it",
        (
            (
                "robustkit/corruptions/linear.py",
                '        padded = tf.pad(x, [[0, 0], [half, half], [half, half], [0, 0]], mode="REFLECT")',
                '        padded = tf.pad(x, [[0, 0], [half, half], [half, half], [0, 0]], mode="SYMMETRIC")',
            ),
        ),
        ("tests/test_corruptions.py::test_deterministic_corruptions_match_the_published_algorithm_pixel_for_pixel",),
    ),
    Mutation(
        "shot-noise-poisson-by-normal-everywhere",
        "shot noise draws a rounded normal for every photon count, however small",
        (("robustkit/corruptions/noise.py", "_POISSON_BY_NORMAL = 10.0", "_POISSON_BY_NORMAL = 0.0"),),
        ("tests/test_corruptions.py::test_shot_noise_counts_are_poisson_for_small_and_large_means",),
    ),
    Mutation(
        "shot-noise-without-skew",
        "shot noise's large counts are a plain rounded normal (0.05 to 0.12 dB milder than Poisson's at ImageNet-C)",
        (
            (
                "robustkit/corruptions/noise.py",
                "large = tf.maximum(tf.round(lam + spread * normal + (normal * normal - 1.0) / 6.0), 0.0)",
                "large = tf.maximum(tf.round(lam + tf.sqrt(lam) * normal), 0.0)",
            ),
        ),
        ("tests/test_corruptions.py::test_shot_noise_has_the_published_psnr_within_two_hundredths_of_a_db",),
    ),
    Mutation(
        "glass-blur-copies-from-the-start",
        "each glass-blur pixel copies its neighbour as the round began, not as the published loop left it",
        (
            (
                "robustkit/corruptions/blur.py",
                "    follow = tf.gather(inner, targets) & (targets > here)\n",
                "    follow = tf.gather(inner, targets) & (targets > here) & False\n",
            ),
        ),
        ("tests/test_corruptions.py::test_glass_blur_shuffles_as_the_published_loop_given_the_same_draws",),
    ),
    Mutation(
        "mce-without-the-baseline",
        "the corruption error is the model's own summed error, not divided by the baseline's",
        (
            (
                "robustkit/evaluation/corrupted.py",
                "        ratios.append(ours / theirs if theirs > 0 else math.nan)\n"
                "    return _mean_of_defined(ratios)\n\n\ndef _mean",
                "        ratios.append(ours if theirs > 0 else math.nan)\n"
                "    return _mean_of_defined(ratios)\n\n\ndef _mean",
            ),
        ),
        ("tests/test_corruption_suites.py::test_the_report_shows_the_tables_the_mce_and_the_pictures",),
    ),
    Mutation(
        "corruption-mean-counts-the-held-out",
        "the gate's mean corruption accuracy averages in the held-out corruptions",
        (
            (
                "robustkit/outputs/gate_corruptions.py",
                '        counted = [c for c in suite["corruptions"] if c not in suite["held_out"]]',
                '        counted = list(suite["corruptions"])',
            ),
        ),
        ("tests/test_corruption_suites.py::test_corruption_thresholds_pass_and_fail", GATE_MEASURES),
    ),
    *COMPLETE_VERIFICATION_MUTATIONS,
    *TRUST_MUTATIONS,
    *(_check_always_passes(check) for check in CHECK_TESTS),
]


def _apply(mutation: Mutation, copy: Path) -> None:
    for file, old, new in mutation.edits:
        path = copy / file
        text = path.read_text()
        if text.count(old) != 1:
            raise SystemExit(
                f"mutation {mutation.name}: {file} holds its text {text.count(old)} times, not once; "
                "update the mutation to the code as it is now."
            )
        path.write_text(text.replace(old, new))


def _pytest(copy: Path, args: tuple[str, ...], env: dict[str, str]) -> tuple[int, str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *args]
    run = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True)
    return run.returncode, run.stdout + run.stderr


def _environment(copy: Path, cache: Path) -> dict[str, str]:
    env = dict(os.environ, CI="true", PYTHONPATH=str(copy), ROBUSTKIT_TEST_CACHE=str(cache))
    env.pop("HYPOTHESIS_PROFILE", None)
    return env


def _imports_the_copy(copy: Path, env: dict[str, str]) -> bool:
    probe = "import robustkit, sys; sys.stdout.write(robustkit.__file__)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=copy, env=env, capture_output=True, text=True).stdout
    return Path(out).resolve().is_relative_to(copy.resolve())


def _verdict(code: int) -> str:
    return {0: "survived", 1: "caught"}.get(code, "broken")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--jobs", type=int, default=2, help="mutations tested at once (default 2)")
    parser.add_argument("--show", action="store_true", help="print the failing tests of each caught mutation")
    args = parser.parse_args(argv)
    known = {m.name: m for m in MUTATIONS}
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:34} {m.what}\n{'':34} {' '.join(m.tests)}")
        return 0
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown mutations {unknown}; see --list")
    chosen = [known[n] for n in args.names] if args.names else MUTATIONS
    with tempfile.TemporaryDirectory(prefix="robustkit-mutations-") as tmp:
        return _run_all(chosen, Path(tmp), max(1, args.jobs), args.show)


def _run_all(chosen: list[Mutation], tmp: Path, jobs: int, show: bool = False) -> int:
    cache = tmp / "model-cache"
    clean = tmp / "clean"
    shutil.copytree(ROOT, clean, ignore=IGNORED, symlinks=True)
    env = _environment(clean, cache)
    if not _imports_the_copy(clean, env):
        print("the copy of robustkit is not the one imported (an installed robustkit shadows it); nothing was run")
        return 2
    # One run of every selected test on the unmutated copy: a failure below is then the mutation's doing.
    control = tuple(dict.fromkeys(test for m in chosen for test in m.tests))
    start = time.perf_counter()
    code, output = _pytest(clean, control, env)
    if code != 0:
        print(output[-4000:])
        print("the selected tests fail without any mutation: fix them first")
        return 2
    print(f"control: the {len(control)} selected tests pass unmutated ({time.perf_counter() - start:.0f} s)\n")
    began = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        rows = list(pool.map(lambda m: _try(m, clean, tmp, cache, show), chosen))
    _table(rows, time.perf_counter() - began)
    return 0 if all(verdict == "caught" for _, _, verdict, _ in rows) else 1


# The modules whose promises (certificates, proofs, corruptions, feature constraints, gate measures) the
# harness counts apart: a mutation belongs to the module of its first edit.
COUNTED_MODULES = ("robustkit/certify/", "robustkit/verify/", "robustkit/corruptions/", "robustkit/constraints.py",
                   "robustkit/outputs/gate")  # fmt: skip


def module_of(mutation: Mutation) -> str:
    """The file a mutation plants its bug in (its first edit's)."""
    return mutation.edits[0][0]


def _failures(output: str) -> str:
    """pytest's short summary of the failing tests (the lines that name each and its error)."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "short test summary info" in line), len(lines))
    return "\n".join(lines[start + 1 :])


def _try(mutation: Mutation, clean: Path, tmp: Path, cache: Path, show: bool = False) -> tuple[str, str, str, float]:
    """Plant one mutation in its own copy and run its tests there."""
    copy = tmp / mutation.name
    shutil.copytree(clean, copy, symlinks=True)
    _apply(mutation, copy)
    start = time.perf_counter()
    code, output = _pytest(copy, mutation.tests, _environment(copy, cache))
    seconds = time.perf_counter() - start
    print(f"{mutation.name:34} {_verdict(code):9} {seconds:6.1f} s", flush=True)
    if code not in (0, 1):
        print(output[-3000:], flush=True)
    elif code == 1 and show:
        print(_failures(output)[:3000], flush=True)
    shutil.rmtree(copy)
    tests = ", ".join(t.split("::")[-1] for t in mutation.tests)
    return mutation.name, tests, _verdict(code), seconds


def _table(rows: list[tuple[str, str, str, float]], wall: float) -> None:
    print("\n| mutation | tests | verdict | seconds |\n|---|---|---|---|")
    for name, tests, verdict, seconds in rows:
        print(f"| {name} | {tests} | {verdict} | {seconds:.1f} |")
    caught = sum(verdict == "caught" for _, _, verdict, _ in rows)
    print(f"\n{caught} of {len(rows)} mutations caught in {wall:.0f} s")
    planted = {m.name: module_of(m) for m in MUTATIONS}
    per_module: dict[str, list[int]] = {}
    for name, _, verdict, _ in rows:
        if planted[name].startswith(COUNTED_MODULES):
            counts = per_module.setdefault(planted[name], [0, 0])
            counts[0] += verdict == "caught"
            counts[1] += 1
    if per_module:
        print("\n| module | caught | planted |\n|---|---|---|")
        for module, (found, total) in sorted(per_module.items()):
            print(f"| {module} | {found} | {total} |")


if __name__ == "__main__":
    sys.exit(main())
