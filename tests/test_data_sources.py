"""Each data source people have, on small data the test makes: image folders, tables, tf.data, TFDS."""

from __future__ import annotations

import json
import sys

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from robustkit.cli import main
from robustkit.errors import DataError
from robustkit.sources.data import load_data
from tests.extras import require


def _images(root, n_per_class=6, size=(10, 12)):
    rng = np.random.default_rng(0)
    for label, level in (("bright", 200), ("dark", 40)):
        (root / label).mkdir(parents=True)
        for i in range(n_per_class):
            pixels = np.clip(level + rng.integers(-30, 30, (*size, 3)), 0, 255).astype("uint8")
            keras.utils.save_img(root / label / f"{i}.png", pixels)
    return root


@pytest.mark.slow
def test_an_image_folder_and_a_model_are_all_a_user_needs(tmp_path, capsys):
    folder = _images(tmp_path / "photos")
    data = load_data(str(folder))
    assert data.x_test.shape == (12, 10, 12, 3) and data.bounds == (0.0, 255.0)
    assert data.y_test.tolist() == [0] * 6 + [1] * 6 and data.info["class_names"] == ["bright", "dark"]
    assert float(data.x_test.max()) > 150 and float(data.x_test.min()) < 80  # pixel values, not rescaled
    resized = load_data(f"{folder}?size=5x6")
    assert resized.x_test.shape == (12, 5, 6, 3)
    # a [0, 255] model: Rescaling inside it, softmax at the end, as users save them
    model = keras.Sequential(
        [
            keras.Input((10, 12, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(seed=0)),
            keras.layers.Softmax(),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_test, data.y_test, epochs=30, verbose=0)
    model.save(tmp_path / "my.keras")
    out = tmp_path / "report"
    code = main(["bench", "--model", str(tmp_path / "my.keras"), "--data", str(folder), "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "robustkit: warning: The model ends in a softmax" in err and "RobustkitWarning" not in err  # one line
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["bounds"] == [0.0, 255.0] and results["data"]["n"] == 12
    assert (out / "report.html").exists()


def test_an_empty_or_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no class subfolders"):
        load_data(str(tmp_path))
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        load_data(str(tmp_path))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_with_a_named_label_column_and_per_feature_bounds(tmp_path, suffix):
    frame = pd.DataFrame(
        {"age": [20.0, 35.0, 50.0, 65.0], "income": [1e4, 5e4, 2e4, 9e4], "kind": ["b", "a", "b", "c"]}
    )
    path = tmp_path / f"people{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    data = load_data(f"{path}?label=kind")
    assert data.x_test.shape == (4, 2) and data.y_test.tolist() == [1, 0, 1, 2] and data.num_classes == 3
    assert [b.tolist() for b in data.bounds] == [[20.0, 1e4], [65.0, 9e4]]
    only_age = load_data(f"{path}?label=kind&features=age")
    assert only_age.x_test.shape == (4, 1)
    with pytest.raises(DataError, match="no label column 'label'"):
        load_data(str(path))


def test_a_table_with_text_features_or_gaps_is_refused(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"city": ["x", "y"], "label": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="not numeric"):
        load_data(str(path))
    pd.DataFrame({"a": [1.0, None], "label": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="NaN"):
        load_data(str(path))


def test_a_tf_data_pipeline_from_a_module_function(tmp_path, monkeypatch):
    (tmp_path / "my_pipeline.py").write_text(
        "import numpy as np, tensorflow as tf\n"
        "def make():\n"
        "    x = np.linspace(0, 1, 40, dtype='float32').reshape(10, 4)\n"
        "    return tf.data.Dataset.from_tensor_slices((x, np.arange(10) % 3)).batch(4)\n"
        "def wrong():\n"
        "    return 42\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = load_data("my_pipeline:make")
    assert data.x_test.shape == (10, 4) and data.y_test.tolist() == [i % 3 for i in range(10)]
    with pytest.raises(DataError, match="returned int"):
        load_data("my_pipeline:wrong")
    sys.modules.pop("my_pipeline", None)


def test_tfds_reads_a_local_copy_and_never_downloads(tmp_path):
    tfds = require("tensorflow_datasets", "tfds")
    images = np.random.default_rng(0).integers(0, 256, (15, 8, 8, 1), dtype=np.uint8)
    builder = tfds.dataset_builders.TfDataBuilder(
        name="tiny_digits",
        config="default",
        version="1.0.0",
        data_dir=str(tmp_path),
        split_datasets={"test": tf.data.Dataset.from_tensor_slices({"image": images, "label": np.arange(15) % 3})},
        features=tfds.features.FeaturesDict(
            {"image": tfds.features.Image(shape=(8, 8, 1)), "label": tfds.features.ClassLabel(num_classes=3)}
        ),
        description="a tiny local data set",
        release_notes={"1.0.0": "made by the test"},
    )
    builder.download_and_prepare()  # writes the local copy; there is nothing to download for this builder
    data = load_data(f"tfds:tiny_digits?data_dir={tmp_path}")
    assert data.x_test.shape == (15, 8, 8, 1) and data.num_classes == 3 and data.bounds == (0.0, 255.0)
    assert sorted(data.x_test.reshape(15, -1).sum(axis=1).tolist()) == sorted(
        images.reshape(15, -1).sum(axis=1).astype(float).tolist()
    )
    with pytest.raises(DataError, match="No local copy"):
        load_data(f"tfds:no_such_set_here?data_dir={tmp_path}")


def test_tfds_reads_a_named_configuration_as_the_corrupted_data_sets_are_published(tmp_path):
    """``cifar10_corrupted/fog_3`` and ``mnist_corrupted/shot_noise`` are a data set and one of its
    configurations (a corruption, at a severity): the same NAME/CONFIG reads a local copy."""
    tfds = require("tensorflow_datasets", "tfds")
    images = np.random.default_rng(1).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    builder = tfds.dataset_builders.TfDataBuilder(
        name="tiny_corrupted",
        config="fog_3",
        version="1.0.0",
        data_dir=str(tmp_path),
        split_datasets={"test": tf.data.Dataset.from_tensor_slices({"image": images, "label": np.arange(6) % 2})},
        features=tfds.features.FeaturesDict(
            {"image": tfds.features.Image(shape=(8, 8, 3)), "label": tfds.features.ClassLabel(num_classes=2)}
        ),
        description="a corrupted data set's configuration",
        release_notes={"1.0.0": "made by the test"},
    )
    builder.download_and_prepare()
    data = load_data(f"tfds:tiny_corrupted/fog_3?data_dir={tmp_path}")
    assert data.x_test.shape == (6, 8, 8, 3) and data.info["source"] == "tfds:tiny_corrupted/fog_3"
