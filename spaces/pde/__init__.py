"""PDE operator learning: the Fourier Neural Operator and the XD paper's CNN backbone.

Data come from `symbolic_automl.data.load("burgers", ...)`. Models are
symbolic Keras models (our mirror), so the CNN becomes the XD network by
`symbolic_automl.spaces.xd.relax(cnn)`, a symbolic rebinding.

Example::

    from symbolic_automl import data
    from symbolic_automl.spaces import pde

    (x, y), (x_test, y_test) = data.load("burgers", resolution=256, n_train=1000, n_test=100)
    model = pde.fno1d(resolution=256).to_keras()
    recipe = pde.fno_training(epochs=50)
    model.compile(recipe.make_optimizer(len(x) // 20), recipe.make_loss(),
                  metrics=recipe.make_metrics())
"""

from symbolic_automl.spaces.pde import layers
from symbolic_automl.spaces.pde.losses import RelativeL2, RelativeL2Error, relative_l2
from symbolic_automl.spaces.pde.models import (
    RelativeL2ErrorSpec,
    RelativeL2Spec,
    cnn1d,
    fno1d,
    fno_training,
    operator_network,
)
from symbolic_automl.spaces.pde.spectral_conv import SpectralConv1D
