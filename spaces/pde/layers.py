"""Symbolic stand-in of `SpectralConv1D`, for models written with our Keras mirror.

`layers.SpectralConv1D(64, 16)` is to `SpectralConv1D` what
`symbolic_automl.keras.layers.Conv1D` is to `keras.layers.Conv1D`: a symbolic
object (its arguments may be hyper-values) whose `to_keras()` builds the layer. The
circular convolution's stand-in is `symbolic_automl.spaces.xd.specs.CircularConv1D`.
"""

from symbolic_automl.keras import spec
from symbolic_automl.keras.tensor import LayerSpec
from symbolic_automl.spaces.pde.spectral_conv import SpectralConv1D as _SpectralConv1D

SpectralConv1D = spec.symbolic_class(_SpectralConv1D, base=LayerSpec, module=__name__)

