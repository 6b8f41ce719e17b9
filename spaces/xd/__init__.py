"""XD-operations (Roberts, Khodak, Dao, Li, Re, Talwalkar, "Rethinking Neural
Operations for Diverse Tasks", NeurIPS 2021; reference code mkhodak/relax).

`XD(x) = Real(K diag(L w) M x)`: a convolution computed in a learnable
"frequency domain" whose transforms K, L, M are Kaleidoscope (butterfly)
matrices initialized to the DFT. `XD.from_conv(conv)` computes exactly what the
convolution computes; training then learns the operation itself.

Example::

    from symbolic_automl.spaces import xd

    layer = xd.XD.from_conv(keras_conv1d)       # warm start, same function
    layer.arch_variables, layer.model_variables
"""

from symbolic_automl.spaces.xd.circular_conv import CircularConv1D, CircularConv2D
from symbolic_automl.spaces.xd.conversion import is_convolution, xd_arguments
from symbolic_automl.spaces.xd.geometry import AxisPlan, plan_axis
from symbolic_automl.spaces.xd import specs
from symbolic_automl.spaces.xd.optimizer import SplitOptimizer
from symbolic_automl.spaces.xd.layer import XD, XD1D, XD2D, is_arch_variable, xd_class
from symbolic_automl.spaces.xd.relax import (
    arch_variables,
    count_weights,
    is_conv_spec,
    model_variables,
    relax,
    transfer_weights,
    xd_spec,
)
from symbolic_automl.spaces.xd.training import XDTraining
