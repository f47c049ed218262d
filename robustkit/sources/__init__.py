"""Where models and data come from: the digits default, files, Keras data sets, the model zoo.

Example:
    >>> from robustkit.sources import load_data, load_digits_split, load_model, load_zoo_model
    >>> load_digits_split().x_test.shape
    (360, 8, 8, 1)
"""

from typing import TYPE_CHECKING

from robustkit._facade import lazy_exports

_EXPORTS = {
    "DataSplit": "robustkit.sources.data",
    "ZOO": "robustkit.sources.zoo",
    "load_data": "robustkit.sources.data",
    "load_digits_split": "robustkit.sources.data",
    "load_image_folder": "robustkit.sources.folders",
    "load_keras_dataset": "robustkit.sources.data",
    "load_model": "robustkit.sources.models",
    "load_npz": "robustkit.sources.data",
    "load_onnx": "robustkit.sources.onnx_model",
    "load_table": "robustkit.sources.tables",
    "load_zoo_model": "robustkit.sources.zoo",
    "with_class_names": "robustkit.sources.classes",
}
__all__ = [
    "DataSplit",
    "ZOO",
    "load_data",
    "load_digits_split",
    "load_image_folder",
    "load_keras_dataset",
    "load_model",
    "load_npz",
    "load_onnx",
    "load_table",
    "load_zoo_model",
    "with_class_names",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from robustkit.sources.classes import with_class_names
    from robustkit.sources.data import DataSplit, load_data, load_digits_split, load_keras_dataset, load_npz
    from robustkit.sources.folders import load_image_folder
    from robustkit.sources.models import load_model
    from robustkit.sources.onnx_model import load_onnx
    from robustkit.sources.tables import load_table
    from robustkit.sources.zoo import ZOO, load_zoo_model
