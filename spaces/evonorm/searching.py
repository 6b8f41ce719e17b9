"""`search`: EvoNorm's whole loop in one call, on `symbolic_automl.search`.

The space is `graph_space(num_nodes)`, the algorithm `GraphEvolution`
(Pareto tournaments over the K anchor accuracies, node mutation, rejected
candidates kept out), the evaluator `EvoNormEvaluator` (structural checks,
stability, quality, then training in every anchor). The trial store holds
every candidate's graph (its symbolic JSON), formula, stage and per-anchor
metrics; running the same call again with the same `root_dir` resumes.

Example::

    data = load_data("digits", image_size=16)
    result = search(anchors=tiny_anchors((16, 16, 1)), data=data, population_size=8,
                    tournament_size=3, max_trials=20, root_dir="runs/evonorm", groups=4)
    print(result.pareto_table())
    print(result.rejections())      # {'no_input': 12, 'non_finite': 30, ...}
"""

import collections
import os
from typing import Dict, Optional, Sequence

import numpy as np

import symbolic_automl
from symbolic_automl import storage
from symbolic_automl import trial as trial_lib

from . import checks
from .evaluator import EvoNormEvaluator
from .evolution import graph_evolution
from .graph import DEFAULT_NUM_NODES, graph_space
from .primitives import ALL_OPS


class EvoNormResult(trial_lib.Result):
    """A search `Result` that shows candidates as formulas with per-anchor accuracies."""

    def rejections(self) -> Dict[str, int]:
        """Rejected trials per stage (`checks.STAGES`), zeros included."""
        counts = collections.Counter(t.metrics.get("stage", "other") for t in self.trials
                                     if t.status == trial_lib.REJECTED)
        return {stage: counts.get(stage, 0) for stage in checks.STAGES} | {
            k: v for k, v in counts.items() if k not in checks.STAGES}

    def pareto_table(self, trials: Optional[Sequence[trial_lib.Trial]] = None) -> str:
        """A text table: trial id, one accuracy column per anchor, the formula."""
        return pareto_table(self.pareto_front() if trials is None else trials, self.objective)


def pareto_table(trials: Sequence[trial_lib.Trial], objective: Sequence[str]) -> str:
    """Rows `#id  acc_a  acc_b ...  formula` for `trials` (best first by mean accuracy)."""
    trials = sorted(trials, key=lambda t: -np.mean([t.metrics.get(m, 0.0) for m in objective]))
    header = "  trial  " + "  ".join(f"{m:>14}" for m in objective) + "  formula"
    rows = [header]
    for t in trials:
        accuracies = "  ".join(f"{t.metrics.get(m, float('nan')):>14.3f}" for m in objective)
        rows.append(f"  #{t.id:<5} {accuracies}  {t.metrics.get('formula', t.model)}")
    return "\n".join(rows)


def load_data(name: str = "digits", image_size: int = 16, limit: Optional[int] = None,
              seed: int = 0):
    """Images for the search: digits upsampled to `image_size` (offline), or a Keras set.

    Digits (8×8) are upsampled by pixel repetition to `image_size`
    (a multiple of 8); `cifar10` etc. come from `keras.datasets` (network).
    Images are standardized per channel with the training set's statistics.
    """
    (x, y), (x_val, y_val) = symbolic_automl.data.load(name, seed=seed, limit=limit)
    if name == "digits":
        if image_size % 8:
            raise ValueError(f"image_size for digits must be a multiple of 8, got {image_size}")
        factor = image_size // 8
        x = x.repeat(factor, axis=1).repeat(factor, axis=2)
        x_val = x_val.repeat(factor, axis=1).repeat(factor, axis=2)
    mean, std = x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2)) + 1e-6
    return ((x - mean) / std, y), ((x_val - mean) / std, y_val)


def search(anchors, data, *, population_size: int = 16, tournament_size: int = 4,
           max_trials: int = 50, root_dir: Optional[str] = None,
           num_nodes: int = DEFAULT_NUM_NODES, ops: Sequence[str] = ALL_OPS,
           groups: int = 32, seed: int = 0, max_rejections: Optional[int] = None,
           progress: bool = False, **evaluator_options) -> EvoNormResult:
    """Evolves normalization-activation layers across `anchors` (the paper's loop).

    Args:
        anchors: `Anchor`s (see `anchors.tiny_anchors`); K anchors = K objectives.
        data: `((x, y), (x_val, y_val))` images (see `load_data`).
        population_size, tournament_size: of the Pareto-tournament aging evolution.
        max_trials: candidates trained in every anchor (rejected ones do not count).
        root_dir: the trial store's directory (None: in memory); rerun to resume.
        num_nodes: intermediate nodes per graph.
        ops: primitives (`BATCH_INDEPENDENT_OPS` for an S-series search).
        groups: channel groups of the group aggregates.
        seed: of the algorithm and the evaluator.
        max_rejections: stop after this many rejections (default 100 × max_trials:
            most random graphs are rejected).
        progress: show a progress bar.
        **evaluator_options: passed to `EvoNormEvaluator` (quality_steps,
            train_steps, max_gradient_norm, ...).

    Returns:
        An `EvoNormResult`.
    """
    space = graph_space(num_nodes, ops=ops, groups=groups)
    evaluator = EvoNormEvaluator(anchors, data, seed=seed, **evaluator_options)
    if root_dir is not None and os.path.exists(os.path.join(root_dir, storage.FILENAME)):
        store = symbolic_automl.TrialStore.in_dir(root_dir)
        try:
            evaluator.restore(store.trials())
        finally:
            store.close()
    algorithm = graph_evolution(population_size, tournament_size, seed=seed)
    result = symbolic_automl.search(
        space, algorithm, evaluator, max_trials, root_dir, objective=evaluator.objective,
        max_rejections=100 * max_trials if max_rejections is None else max_rejections,
        max_consecutive_failures=10, progress=progress)
    return EvoNormResult(result.trials, result.objective, result.root_dir, result.space)
