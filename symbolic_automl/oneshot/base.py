"""`WeightSharingAlgorithm`: search a space by training its supernet once.

A weight-sharing algorithm is a small symbolic object (so it is stored and
printed like any other search setting) that decides a few things; the
supernet training loop in `run.SupernetRun` does the rest:

* how the weights and α are optimized (`optimizers`: the optimizers, the
  weights' learning-rate schedule, gradient clipping and weight decay) and
  how α starts (`initial_alpha`);
* how each choice point mixes its candidates during training (`mixing`):
  softmax(α) for DARTS, a straight-through Gumbel one-hot for GDAS, a sampled
  one-hot for SPOS and REINFORCE;
* how α learns (`arch_order`: 0 none, 1 first-order gradient ∇α L_val(w, α),
  a higher order from a rule the algorithm supplies per backend in
  `arch_gradient_rules`, as DARTS does its unrolled second order; or
  `after_step` for REINFORCE's policy gradient);
* how the final architecture is read off (`derive`: argmax per choice by
  default; the DARTS cell keeps the two strongest edges per node).

The algorithms themselves, and the DARTS paper's training recipe most of them
share, live in `symbolic_automl.algorithms.weight_sharing`.

`search(space, evaluator)` returns a `SearchOutcome` with the derived `pg.DNA`
for the space's `pg.DNASpec` and a per-epoch history (losses, softmax(α) per
choice point), which `symbolic_automl.search` stores and then materializes,
optionally retrains with the evaluator (`retrain=True`) and records as an
ordinary trial. The space may be symbolic or a define-by-run function (then
the DNA fits `pg.hyper.trace(fn, require_hyper_name=True).dna_spec`, and the
function re-run under that DNA builds the model); see `supernet.py` for what
can be relaxed.

Example::

    from symbolic_automl.algorithms.weight_sharing import DARTS
    outcome = DARTS(epochs=5).search(space, evaluator)   # or via symbolic_automl.search
    model = pg.materialize(space, outcome.dna)
    model = symbolic_automl.space.Space(build).materialize(outcome.dna)  # define-by-run
"""

import dataclasses
from typing import Any, Callable, Dict, List, Optional, Sequence

import keras
import numpy as np
import pyglove as pg

from symbolic_automl.oneshot.network import Supernet
from symbolic_automl.oneshot.run import SupernetRun, backend_module, softmax

__all__ = ["SearchOutcome", "SupernetOptimizers", "SupernetRun", "WeightSharingAlgorithm",
           "backend_module", "softmax"]


@dataclasses.dataclass
class SearchOutcome:
    """What a weight-sharing search returns.

    Attributes:
      dna: the derived architecture, a `pg.DNA` of `pg.dna_spec(space)`.
      history: one JSON-able dict per epoch (losses, architecture weights).
      supernet: the trained supernet (weights can be inherited).
      alphas: final architecture parameters, one array per choice point.
      metrics: the derived architecture's `val_loss` (and `val_accuracy`) with
        the supernet's inherited weights, on the evaluator's validation data if
        it has any, else on the architecture half of the training data.
      extra: algorithm-specific results (e.g. SPOS's evaluated candidates).
    """

    dna: pg.DNA
    history: List[Dict[str, Any]]
    supernet: Optional[Supernet] = None
    alphas: Optional[List[np.ndarray]] = None
    metrics: Dict[str, float] = dataclasses.field(default_factory=dict)
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SupernetOptimizers:
    """How a supernet run updates the weights and α: an algorithm's training recipe.

    Attributes:
      weights: the Keras optimizer of the supernet's weights.
      learning_rate: the weights' learning rate at a global step (a Keras
        schedule, or any `step -> float`); what `arch_gradient_options` sees.
      architecture: the Keras optimizer of α.
      grad_clip: global-norm clip of the weights' gradients; None: no clip.
      weight_decay: L2 decay added to the weights' gradients, after clipping.
      arch_weight_decay: L2 decay added to α's gradients.
    """

    weights: keras.optimizers.Optimizer
    learning_rate: Callable[[int], Any]
    architecture: keras.optimizers.Optimizer
    grad_clip: Optional[float] = None
    weight_decay: float = 0.0
    arch_weight_decay: float = 0.0


@pg.members([
    ("epochs", pg.typing.Int(min_value=1, default=10), "Supernet training epochs."),
    ("batch_size", pg.typing.Int(min_value=1).noneable(),
     "Batch size; None: the evaluator's, else 64."),
    ("steps_per_epoch", pg.typing.Int(min_value=1).noneable(),
     "Cap on steps per epoch; None: one pass over the weights' half of the data."),
    ("train_portion", pg.typing.Float(min_value=0.05, max_value=0.95, default=0.5),
     "Share of the training data for weights; the rest trains the architecture."),
    ("retrain", pg.typing.Bool(default=False),
     "Retrain the derived architecture from scratch with the evaluator."),
    ("seed", pg.typing.Int(default=0), "Seed of α's initialization, splits and sampling."),
    ("loss", pg.typing.Any(default=None),
     "Loss (name or callable); None: the evaluator's training loss."),
])
class WeightSharingAlgorithm(pg.Object):
    """Base of weight-sharing algorithms; see the module docstring.

    Subclasses that train a supernet implement `optimizers` (or inherit a recipe, e.g.
    `symbolic_automl.algorithms.weight_sharing.DARTSRecipe`) and override the
    hooks they need. Invariants the loop relies on: `mixing` is written in
    `keras.ops` and is differentiable in α; `sample_noise` draws on the host
    from the given generator only (so a seed fixes the search); `derive`
    returns a DNA of `run.net.dna_spec`.
    """

    # 0: α gets no gradient update; 1: first order; higher: `arch_gradient_rules`.
    arch_order = 1

    # -- hooks ----------------------------------------------------------------

    def optimizers(self, total_steps: int) -> SupernetOptimizers:
        """The optimizers of one search of `total_steps` weight steps (fresh each call).

        An algorithm that trains a supernet implements it or inherits a recipe;
        one that overrides `search` without training one needs none.
        """
        raise TypeError(
            f"{type(self).__name__} trains a supernet but defines no optimizers: "
            "implement `optimizers(total_steps)` returning `SupernetOptimizers`, or "
            "inherit `symbolic_automl.algorithms.weight_sharing.DARTSRecipe` (the DARTS "
            "paper's SGD + Adam).")

    def initial_alpha(self, rng: np.random.Generator, num_candidates: int) -> np.ndarray:
        """α of one choice point at the start: zeros (a uniform mixture) by default."""
        return np.zeros((num_candidates,), "float32")

    def mixing(self, alphas, noise):
        """Mixing weights per choice point from α and this step's noise (keras.ops)."""
        return [keras.ops.softmax(a) for a in alphas]

    def sample_noise(self, rng: np.random.Generator, alphas: Sequence[np.ndarray],
                     progress: float):
        """Per-choice noise for one forward pass, drawn on the host.

        `progress` runs from 0 to 1 over the training (for annealing).
        """
        return [np.zeros(a.shape, "float32") for a in alphas]

    def arch_gradient_rules(self, backend: str) -> Dict[int, Callable]:
        """Architecture-gradient rules for orders above 1, on a Keras backend.

        Returns `{order: factory}`, `factory(stepper) -> rule` as the
        `symbolic_automl.oneshot.backend_<backend>` module states. None by default.
        """
        return {}

    def arch_gradient_options(self, learning_rate: float) -> Dict[str, Any]:
        """Keyword options of this step's architecture-gradient rule.

        `learning_rate` is the weights' current learning rate.
        """
        return {}

    def after_step(self, run: SupernetRun, batch_val) -> Dict[str, float]:
        """Called after each step; REINFORCE updates its policy here."""
        return {}

    def architecture_weights(self, alphas: Sequence[np.ndarray]) -> List[np.ndarray]:
        """What the history records per choice point: softmax(α) by default."""
        return [softmax(a) for a in alphas]

    def derive(self, run: SupernetRun) -> pg.DNA:
        return run.net.derive(self.architecture_weights(run.stepper.alpha_values()))

    # -- the search -------------------------------------------------------------

    def search(self, space, evaluator) -> SearchOutcome:
        """Trains the space's supernet on the evaluator's data; derives a DNA.

        Args:
          space: a symbolic space, a define-by-run function, or a `Space`.
          evaluator: a `KerasEvaluator` (its `x`, `y`, `validation_data` and
            training loss/batch size are used) or an `(x, y[, validation])` tuple.

        Returns:
          A `SearchOutcome`.
        """
        run = SupernetRun(self, space, evaluator)
        run.train()
        dna = self.derive(run)
        run.stepper.sync()
        return SearchOutcome(dna=dna, history=run.history, supernet=run.net,
                             alphas=run.stepper.alpha_values(),
                             metrics=run.inherited_metrics(dna), extra=run.extra)
