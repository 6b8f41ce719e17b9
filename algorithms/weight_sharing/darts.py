"""DARTS (Liu et al. 2019): softmax-relaxed choices, α learned by gradient.

The space may be a symbolic space or a define-by-run function (each named
`pg.oneof` over layers becomes a softmax-mixed op). The training recipe is the
paper's (`darts_recipe.py`); the second-order step is in `darts_unrolled.py`.

Example::

    from symbolic_automl.algorithms.weight_sharing import DARTS
    result = symbolic_automl.search(space, algorithm=DARTS(epochs=50, order=2), ...)
"""

import pyglove as pg

from symbolic_automl.algorithms.weight_sharing import darts_unrolled
from symbolic_automl.algorithms.weight_sharing.darts_recipe import DARTSRecipe


@pg.members([
    ("order", pg.typing.Enum(1, [1, 2]),
     "1: first-order DARTS; 2: the unrolled second-order step of the paper."),
    ("unrolled_lr", pg.typing.Float(min_value=0.0).noneable(),
     "ξ of the unrolled step; None: the weights' current learning rate (paper)."),
])
class DARTS(DARTSRecipe):
    """Differentiable architecture search with the paper's defaults.

    Every choice point mixes its candidates with softmax(α); α is trained by Adam
    (lr 3e-4, betas (0.5, 0.999), weight decay 1e-3) on the second half of the
    training data; weights by SGD (lr 0.025 cosine-decayed to 0.001, momentum
    0.9, weight decay 3e-4, gradient clip 5) on the first half. The second-order
    step unrolls the weights as the reference does, w' = w − ξ(μ·buf + ∇w L_train
    + wd·w) with SGD's momentum buffer, and takes the finite-difference
    Hessian-vector product with ε = 0.01/‖∇w′L_val‖. The derived
    architecture takes the argmax of α per choice (for the DARTS cell space: the
    two strongest non-`none` incoming edges per node).
    """

    @property
    def arch_order(self):
        return self.order

    def unrolled_learning_rate(self, current_lr):
        """ξ of this step: `unrolled_lr`, or the weights' current learning rate."""
        return current_lr if self.unrolled_lr is None else self.unrolled_lr

    def arch_gradient_rules(self, backend):
        # Order 2 is there whatever `order` says: a stepper can then compare orders.
        rule = darts_unrolled.RULES.get(backend)
        return {2: rule} if rule is not None else {}

    def arch_gradient_options(self, learning_rate):
        return {"unrolled_lr": self.unrolled_learning_rate(learning_rate),
                "learning_rate": learning_rate}
