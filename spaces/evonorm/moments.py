"""Means and variances over the three index sets, in `keras.ops` (channels last).

Each returns `(mean, variance)` shaped to broadcast against the 4-D input:
batch (b,w,h) -> (1,1,1,C), instance (w,h) -> (B,1,1,C), group (w,h,c/g) ->
(B,1,1,C) with each group's value repeated over its channels. Variances are
biased (divide by n), as `tf.nn.moments` in the reference implementation.
"""

from keras import ops


def batch_moments(x):
    return ops.moments(x, axes=(0, 1, 2), keepdims=True)


def instance_moments(x):
    return ops.moments(x, axes=(1, 2), keepdims=True)


def group_moments(x, groups: int):
    """Moments over (h, w, channels of a group); `groups` must divide C."""
    shape = ops.shape(x)
    channels = x.shape[-1]
    grouped = ops.reshape(x, (-1, shape[1], shape[2], groups, channels // groups))
    mean, variance = ops.moments(grouped, axes=(1, 2, 4), keepdims=True)
    # (B,1,1,G,1) -> (B,1,1,G,C/G) -> (B,1,1,C): channel c belongs to group c // (C/G).
    spread = ops.zeros((1, 1, 1, groups, channels // groups), dtype=x.dtype)
    mean = ops.reshape(mean + spread, (-1, 1, 1, channels))
    variance = ops.reshape(variance + spread, (-1, 1, 1, channels))
    return mean, variance
