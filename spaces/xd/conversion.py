"""Which Keras convolutions become XD-operations, and with which arguments.

One mapping serves both worlds: a built layer's `get_config()` and a symbolic
mirror spec's arguments are the same constructor arguments, so `xd_arguments`
turns either into the `XD` constructor's (the weights keep the conv's shapes).

Example::

    rank, kwargs = xd_arguments(keras.layers.Conv2D, conv.get_config())
"""

from typing import Any, Dict, Optional, Tuple

import keras
import pyglove as pg

from symbolic_automl.spaces.xd.circular_conv import CircularConv1D, CircularConv2D

# Convolution classes an XD-operation replaces, with their number of spatial axes.
_FULL = ((keras.layers.Conv1D, 1), (keras.layers.Conv2D, 2), (keras.layers.Conv3D, 3))
_DEPTHWISE = ((keras.layers.DepthwiseConv1D, 1), (keras.layers.DepthwiseConv2D, 2))
_CIRCULAR = (CircularConv1D, CircularConv2D)
# Arguments passed through unchanged (the rest are translated or must be defaults).
_SHARED = ("kernel_size", "strides", "dilation_rate", "activation", "use_bias",
           "bias_initializer", "bias_regularizer", "bias_constraint",
           "activity_regularizer", "name", "dtype", "trainable")


def conv_rank(conv_class) -> Optional[Tuple[int, bool]]:
    """(spatial rank, depthwise) of a convolution class XD replaces, else None."""
    for base, rank in _DEPTHWISE:
        if issubclass(conv_class, base):
            return rank, True
    for base, rank in _FULL:
        if issubclass(conv_class, base):
            return rank, False
    return None


def is_convolution(conv_class) -> bool:
    return isinstance(conv_class, type) and conv_rank(conv_class) is not None


def xd_arguments(conv_class, args: Dict[str, Any]) -> Tuple[int, Dict[str, Any]]:
    """(rank, XD constructor arguments) computing the same function as the conv.

    Raises:
      ValueError: for convolutions XD does not represent (grouped, causal,
        channels_first, transposed or separable), naming the argument.
    """
    found = conv_rank(conv_class) if isinstance(conv_class, type) else None
    if found is None:
        raise ValueError(
            f"{getattr(conv_class, '__name__', conv_class)!r} is not a convolution XD "
            "replaces; expected Conv1D/2D/3D, DepthwiseConv1D/2D or CircularConv1D/2D.")
    rank, depthwise = found
    name = conv_class.__name__
    # Hyper-values (in symbolic specs) are checked once materialized, by XD itself.
    args = dict(args)
    fixed = {k: v for k, v in args.items() if not isinstance(v, pg.hyper.HyperValue)}
    if fixed.get("data_format") not in (None, "channels_last"):
        raise ValueError(f"{name}: XD supports data_format='channels_last', got "
                         f"{args['data_format']!r}.")
    if int(fixed.get("groups", 1) or 1) != 1:
        raise ValueError(f"{name}: XD supports groups=1 (or depthwise layers), got "
                         f"groups={args['groups']!r}.")
    padding = "circular" if issubclass(conv_class, _CIRCULAR) else args.get("padding", "valid")
    if "padding" in fixed and padding not in ("valid", "same", "circular"):
        raise ValueError(f"{name}: XD supports padding 'valid', 'same' or circular, got "
                         f"{padding!r}.")
    kwargs = {k: args[k] for k in _SHARED if k in args}
    kwargs["padding"] = padding
    if depthwise:
        kwargs["depth_multiplier"] = args.get("depth_multiplier", 1)
        prefix = "depthwise"
    else:
        kwargs["filters"] = args["filters"]
        prefix = "kernel"
    for part in ("initializer", "regularizer", "constraint"):
        if f"{prefix}_{part}" in args:
            kwargs[f"kernel_{part}"] = args[f"{prefix}_{part}"]
    return rank, kwargs


def called_input_shape(conv) -> Optional[tuple]:
    """The input shape a Keras layer was built or called with, if it is known."""
    try:
        return tuple(conv.input.shape)
    except (AttributeError, ValueError, RuntimeError):
        pass
    shapes = getattr(conv, "_build_shapes_dict", None) or {}
    if len(shapes) == 1:
        shape = next(iter(shapes.values()))
        if shape is not None and not isinstance(shape, dict):
            return tuple(shape)
    return None
