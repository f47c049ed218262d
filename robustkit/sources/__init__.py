"""Where models and data come from: the digits default, files, Keras data sets, the model zoo."""
