"""SPOS (Guo et al. 2020): uniform single-path supernet training, then black-box search.

Example::

    from symbolic_automl.algorithms.weight_sharing import SPOS
    outcome = SPOS(epochs=20, search_trials=100,
                   searcher=pg.evolution.regularized_evolution(population_size=20,
                                                               tournament_size=5)
                   ).search(space, evaluator)
"""

from typing import Dict

import numpy as np
import pyglove as pg

from symbolic_automl.algorithms.weight_sharing.darts_recipe import DARTSRecipe


@pg.members([
    ("search_trials", pg.typing.Int(min_value=1, default=50),
     "Architectures the black-box searcher evaluates with inherited weights."),
    ("searcher", pg.typing.Any(default=None),
     "A pg.DNAGenerator (any algorithm from `algorithms/`); None: regularized "
     "evolution (population 10, tournament 3)."),
    ("bn_recalibration_batches", pg.typing.Int(min_value=0, default=10),
     "Training batches on which each candidate's batch-norm statistics are "
     "recomputed before it is scored (the paper's recalibration); 0: off."),
])
class SPOS(DARTSRecipe):
    """Single-path one-shot: each step trains one uniformly sampled path.

    After supernet training the `searcher` proposes DNAs; each is scored by the
    supernet with inherited weights (validation accuracy, or −loss) on the
    architecture half of the data, a cheap evaluator; the best is derived. α is
    never trained; the evaluated candidates are in `outcome.extra["evaluated"]`.

    Batch-norm statistics shared by all paths fit none of them, so before
    scoring a candidate its path's statistics are recomputed on
    `bn_recalibration_batches` training batches, as in the paper; the returned
    supernet keeps the derived architecture's statistics.
    """

    arch_order = 0

    def sample_noise(self, rng, alphas, progress):
        noise = []
        for a in alphas:
            one_hot = np.zeros(a.shape, "float32")
            one_hot[rng.integers(len(a))] = 1.0
            noise.append(one_hot)
        return noise

    def mixing(self, alphas, noise):
        return list(noise)

    def _searcher(self):
        if self.searcher is not None:
            return self.searcher.clone(deep=True)
        return pg.evolution.regularized_evolution(
            population_size=10, tournament_size=3, seed=self.seed)

    def derive(self, run):
        searcher = self._searcher()
        searcher.setup(run.net.dna_spec)
        scores: Dict[str, float] = {}
        evaluated = []
        best_dna, best_reward = None, -np.inf
        for _ in range(self.search_trials):
            try:
                dna = searcher.propose()
            except StopIteration:
                break
            key = str(dna)
            if key not in scores:
                mixing = run.net.dna_to_mixing(dna)
                run.recalibrate_batch_norm(mixing, self.bn_recalibration_batches)
                metrics = run.evaluate(mixing)
                scores[key] = metrics.get("accuracy", -metrics["loss"])
                evaluated.append({"dna": key, **metrics})
            reward = scores[key]
            searcher.feedback(dna, reward)
            if reward > best_reward:
                best_dna, best_reward = dna, reward
        run.extra["evaluated"] = evaluated
        run.extra["best_reward"] = float(best_reward)
        if best_dna is not None:  # inherited metrics and the supernet use its statistics
            run.recalibrate_batch_norm(run.net.dna_to_mixing(best_dna),
                                       self.bn_recalibration_batches)
        return best_dna
