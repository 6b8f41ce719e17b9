"""Reusable search spaces from the literature, installed as `symbolic_automl.spaces`.

Each module is one family; import the one you need (most import Keras)::

    from symbolic_automl.spaces import darts            # DARTS cell (Liu et al. 2019)
    from symbolic_automl.spaces import nasbench101      # NAS-Bench-101 cell (Ying et al. 2019)
    from symbolic_automl.spaces import mobilenet        # MobileNetV2 / EfficientNet blocks
    from symbolic_automl.spaces import resnet           # pre-activation ResNets (CIFAR)
    from symbolic_automl.spaces import anchors          # EvoNorm's three CIFAR anchors
    from symbolic_automl.spaces import training         # training hyper-parameters
    from symbolic_automl.spaces import nasbench_graph   # NAS-Bench-Graph table (no Keras)
    from symbolic_automl.spaces import xd               # XD-operations (Roberts et al. 2021)
    from symbolic_automl.spaces import pde              # FNO-1d and its CNN backbone (PDEs)
    from symbolic_automl.spaces import evonorm          # EvoNorm layer graphs (Liu et al. 2020)

Every space is an ordinary symbolic object: rebind, restrict or nest it, and
pass it to `symbolic_automl.search`.
"""

import importlib

_MODULES = ("darts", "nasbench101", "mobilenet", "resnet", "anchors", "training",
            "nasbench_graph", "xd", "pde", "evonorm")


def __getattr__(name):
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}; "
                             f"spaces: {', '.join(_MODULES)}")
    module = importlib.import_module(f"{__name__}.{name}")
    globals()[name] = module
    return module
