"""Evaluators turn a materialized model into metrics: `callable(model, context) -> dict`."""

from symbolic_automl.evaluators.keras_evaluator import KerasEvaluator
from symbolic_automl.evaluators.training import Trainable, Training
