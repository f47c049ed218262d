"""The attack objectives, computed by hand on logits whose ranks matter (five classes, no ties)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from robustkit.losses import attack_objective

# Sorted, the logits of the first row are 3 > 2 > 1 > 0.5 > -1: z(1) = 3, z(3) = 1, z(4) = 0.5, z(5) = -1.
Z = tf.constant([[3.0, 1.0, 0.5, -1.0, 2.0], [0.0, 4.0, -2.0, 1.0, 3.0]])


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # label 1: -(z_y - max_other) / (z(1) - z(3)) = -(1 - 3) / (3 - 1) = 1; row 2, label 0: -(0 - 4) / (4 - 1)
        ([1, 0], [1.0, 4.0 / 3.0]),
        # label 0 is the top logit: -(3 - 2) / 2; row 2, label 1: -(4 - 3) / (4 - 1)
        ([0, 1], [-0.5, -1.0 / 3.0]),
    ],
)
def test_dlr_by_hand(labels, expected):
    value = attack_objective("dlr", Z, tf.constant(labels))
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-6)


def test_targeted_dlr_by_hand():
    # -(z_y - z_t) / (z(1) - (z(3) + z(4)) / 2): row 1, y = 1, t = 4: -(1 - 2) / (3 - 0.75) = 1 / 2.25;
    # row 2 (sorted 4, 3, 1, 0, -2), y = 4, t = 3: -(3 - 1) / (4 - 0.5).
    value = attack_objective("dlr-targeted", Z, tf.constant([1, 4]), guide=tf.constant([4, 3]))
    np.testing.assert_allclose(value.numpy(), [1 / 2.25, -2 / 3.5], rtol=1e-6)


def test_dlr_ignores_shifting_and_scaling_the_logits():
    labels = tf.constant([2, 3])
    value = attack_objective("dlr", Z, labels).numpy()
    np.testing.assert_allclose(attack_objective("dlr", 7.0 * Z - 3.0, labels).numpy(), value, rtol=1e-5)


def test_margin_and_cross_entropy_by_hand():
    labels = tf.constant([1, 0])
    np.testing.assert_allclose(attack_objective("margin", Z, labels).numpy(), [3 - 1, 4 - 0])
    np.testing.assert_allclose(attack_objective("margin", Z, labels, targeted=True).numpy(), [1 - 3, 0 - 4])
    logsumexp = np.log(np.exp(Z.numpy()).sum(axis=1))
    np.testing.assert_allclose(attack_objective("ce", Z, labels).numpy(), logsumexp - [1.0, 0.0], rtol=1e-6)
