"""Reusable search spaces from the literature, installed as `symbolic_automl.spaces`."""
