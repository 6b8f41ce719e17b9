"""Symbolic stand-ins of the PDE layers, for models written with our Keras mirror.

`layers.SpectralConv1D(64, 16)` is to `SpectralConv1D` what
`symbolic_automl.keras.layers.Conv1D` is to `keras.layers.Conv1D`: a symbolic
object (its arguments may be hyper-values) whose `to_keras()` builds the layer.
"""

from symbolic_automl.keras import spec
from symbolic_automl.keras.tensor import LayerSpec
from symbolic_automl.spaces.pde.spectral_conv import SpectralConv1D as _SpectralConv1D

SpectralConv1D = spec.symbolic_class(_SpectralConv1D, base=LayerSpec, module=__name__)


def circular_conv1d_class():
    """The symbolic `CircularConv1D` of `symbolic_automl.spaces.xd` (made on first use)."""
    global _circular_conv1d
    if _circular_conv1d is None:
        from symbolic_automl.spaces import xd  # pylint: disable=g-import-not-at-top

        _circular_conv1d = spec.symbolic_class(xd.CircularConv1D, base=LayerSpec,
                                               module=__name__, name="CircularConv1D")
    return _circular_conv1d


_circular_conv1d = None
