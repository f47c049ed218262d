"""Attacks, the runner and adversarial training under ``tf.distribute.MirroredStrategy`` on two logical CPUs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # see tests/README.md: the slow tier


def test_attacks_and_the_runner_on_two_replicas_equal_one_device_and_training_runs(zoo_cache, digits_cnn):
    script = Path(__file__).with_name("distributed_check.py")
    env = dict(os.environ, ROBUSTKIT_CACHE=zoo_cache)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    findings = json.loads(done.stdout.strip().splitlines()[-1])
    assert findings["replicas"] == 2
    for name in ("pgd", "apgd", "square"):
        assert findings[name], f"{name} on two replicas differs from one device"
        assert findings[f"{name}_broken"] > 10  # the attacks did break points: the comparison is not vacuous
    assert findings["runner"], "the runner on two replicas differs from one device"
    assert findings["call"], "attack(model, x, y, strategy=...) differs from one device"
    losses = findings["training_losses"]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses) and losses[1] < losses[0]
