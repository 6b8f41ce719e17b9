"""Symbolic stand-ins (mirror specs) of this package's Keras layers.

Use them in symbolic models as you use `symbolic_automl.keras.layers`: their
arguments may be hyper-values, and `xd.relax` rebinds convolution specs
(these circular ones included) into `XD` specs.

Example::

    from symbolic_automl import keras as sk
    from symbolic_automl.spaces.xd import specs

    model = sk.Sequential([sk.Input(shape=(256, 2)),
                           specs.CircularConv1D(64, 17, use_bias=False), ...])
"""

from symbolic_automl.keras import spec
from symbolic_automl.keras.tensor import LayerSpec
from symbolic_automl.spaces.xd import circular_conv
from symbolic_automl.spaces.xd import layer


def _mirror(keras_class):
    return spec.symbolic_class(keras_class, base=LayerSpec, module=__name__)


CircularConv1D = _mirror(circular_conv.CircularConv1D)
CircularConv2D = _mirror(circular_conv.CircularConv2D)
XD = _mirror(layer.XD)
XD1D = _mirror(layer.XD1D)
XD2D = _mirror(layer.XD2D)
