"""ENAS/TuNAS-style REINFORCE: a policy over the DNA, shared weights on sampled paths.

Example::

    from symbolic_automl.algorithms.weight_sharing import REINFORCE
    outcome = REINFORCE(epochs=20).search(space, evaluator)
"""

import numpy as np
import pyglove as pg

from symbolic_automl.algorithms.weight_sharing.darts_recipe import DARTSRecipe
from symbolic_automl.oneshot.base import softmax


def sample_one_hot(rng, probabilities):
    one_hot = np.zeros(probabilities.shape, "float32")
    one_hot[rng.choice(len(probabilities), p=probabilities)] = 1.0
    return one_hot


@pg.members([
    ("a_learning_rate", pg.typing.Float(min_value=0.0, default=0.05),
     "Adam learning rate of the policy logits."),
    ("a_weight_decay", pg.typing.Float(min_value=0.0, default=0.0), ""),
    ("baseline_decay", pg.typing.Float(min_value=0.0, max_value=1.0, default=0.95),
     "Moving-average decay of the reward baseline."),
    ("samples_per_step", pg.typing.Int(min_value=1, default=1),
     "Architectures sampled and rewarded per step."),
])
class REINFORCE(DARTSRecipe):
    """Policy-gradient search: independent categorical policy per choice point.

    Each step trains the shared weights on one architecture sampled from the
    policy softmax(α), then samples `samples_per_step` architectures, rewards each
    with the supernet's accuracy (or −loss for non-classification losses) on an
    architecture-half batch, and ascends (R − b) ∇α log π(a), b a moving average
    of R. Derivation: the policy's mode (argmax of α).
    """

    arch_order = 0

    def sample_noise(self, rng, alphas, progress):
        return [sample_one_hot(rng, softmax(a)) for a in alphas]

    def mixing(self, alphas, noise):
        return list(noise)

    def after_step(self, run, batch_val):
        x_val, y_val = batch_val
        alphas = run.stepper.alpha_values()
        probabilities = [softmax(a) for a in alphas]
        grads = [np.zeros_like(a) for a in alphas]
        rewards = []
        baseline = run.extra.get("baseline")
        for _ in range(self.samples_per_step):
            sample = [sample_one_hot(run.rng, p) for p in probabilities]
            metrics = run.evaluate(sample, x_val, y_val)
            reward = metrics.get("accuracy", -metrics["loss"])
            rewards.append(reward)
            if baseline is None:
                baseline = reward
            advantage = reward - baseline
            # ∇α log softmax(α)[a] = one_hot(a) − softmax(α); minimizing −(R − b) log π.
            for g, s, p in zip(grads, sample, probabilities):
                g -= advantage * (s - p) / self.samples_per_step
            baseline = self.baseline_decay * baseline + (1 - self.baseline_decay) * reward
        run.extra["baseline"] = float(baseline)
        run.stepper.apply_arch_gradients(grads)
        return {"reward": float(np.mean(rewards)), "baseline": float(baseline)}
