"""Search algorithms, installed as `symbolic_automl.algorithms`."""
