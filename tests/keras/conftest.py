"""Fixtures shared by the Keras mirror tests."""

import pytest


def _layer_configs(model):
    """(class name, config without the generated name) of each layer of a Keras model."""
    configs = []
    for layer in model.layers:
        config = layer.get_config()
        config.pop("name", None)
        configs.append((type(layer).__name__, config))
    return configs


@pytest.fixture
def layer_configs():
    """Compares built and hand-written Keras models layer by layer."""
    return _layer_configs
