"""The committed reference reports are reproducible: a fresh process, with an empty model cache,
trains the zoo's models to the very weights and clean accuracies that the reports record.

The expected values are read from the committed reports (``reports/*/results.json``), which were
written by an earlier run, not from the code that trains now. Weights are compared only where
TensorFlow's and Keras's versions are those the report records: other versions may round
differently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest
import tensorflow as tf

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

TRAIN_AND_MEASURE = """
import json, sys
import numpy as np
from robustkit.sources.data import load_digits_split
from robustkit.sources.zoo import load_zoo_model, weights_fingerprint

data = load_digits_split()
found = {"data": data.fingerprint()}
for name in sys.argv[1:]:
    model = load_zoo_model(name)
    predicted = np.argmax(model.predict(data.x_test, verbose=0), axis=1)
    found[name] = {
        "fingerprint": weights_fingerprint(model),
        "correct": int(np.sum(predicted == np.asarray(data.y_test))),
        "n": len(predicted),
    }
print(json.dumps(found))
"""


def _committed(report: str) -> dict:
    return json.loads((ROOT / "reports" / report / "results.json").read_text())


def _fresh_training(names: list[str], cache: Path) -> dict:
    env = dict(os.environ, ROBUSTKIT_CACHE=str(cache), TF_CPP_MIN_LOG_LEVEL="3")
    run = subprocess.run(
        [sys.executable, "-c", TRAIN_AND_MEASURE, *names], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("report", ["default", "autoattack"])
def test_a_fresh_process_trains_the_reference_models_again(report, tmp_path):
    committed = _committed(report)
    assert committed["data"]["name"] == "digits" and committed["suite"]["limit"] is None
    names = sorted(committed["models"])
    fresh = _fresh_training(names, tmp_path / "cache")
    assert fresh["data"] == committed["data"]["fingerprint"]
    for name in names:
        recorded = committed["models"][name]
        assert fresh[name]["n"] == committed["data"]["n"]
        # Clean accuracy as the report printed it (a share of the 360 test digits).
        assert fresh[name]["correct"] == round(recorded["clean_accuracy"] * committed["data"]["n"]), name
    environment = committed["environment"]
    if (tf.__version__, keras.__version__) != (environment["tensorflow"], environment["keras"]):
        pytest.skip(f"weights compared only on TensorFlow {environment['tensorflow']}, Keras {environment['keras']}")
    assert {name: fresh[name]["fingerprint"] for name in names} == {
        name: committed["models"][name]["fingerprint"] for name in names
    }
