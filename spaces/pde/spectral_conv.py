"""`SpectralConv1D`: the Fourier layer of the Fourier Neural Operator (Li et al. 2021).

    y = irfft( W . rfft(x)[:modes] ),   (W . X)[o, m] = sum_i W[i, o, m] X[i, m]

on channels-last tensors (batch, length, channels): the lowest `modes`
frequencies of each input channel are mixed into `filters` output channels by
complex weights, one (in, out) matrix per frequency, and all higher frequencies
are dropped. `keras.ops` only (`rfft` / `irfft` take and return (real, imag)
pairs), so it runs on every Keras backend.

Example::

    layer = SpectralConv1D(64, modes=16)
    y = layer(keras.random.normal((2, 256, 64)))       # (2, 256, 64)
    layer.count_params()                               # 2 * 64 * 64 * 16 = 131072
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="symbolic_automl.pde")
class SpectralConv1D(keras.layers.Layer):
    """Spectral convolution over the last-but-one axis, truncated to `modes` frequencies.

    Weights are initialized as in the FNO reference (`fourier_1d.py`):
    real and imaginary parts uniform on [0, 1 / (in_channels * filters)).

    Args:
      filters: output channels.
      modes: frequencies kept, at most length // 2 + 1.
      kernel_initializer: of the real and imaginary weights; None for the
        reference's uniform.
    """

    def __init__(self, filters: int, modes: int, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("filters", filters), ("modes", modes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SpectralConv1D {name} must be a positive integer; "
                                 f"got {value!r}.")
        self.filters = filters
        self.modes = modes
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError("SpectralConv1D expects (batch, length, channels) inputs with "
                             f"known channels; got shape {input_shape}.")
        length = input_shape[1]
        if length is not None and self.modes > length // 2 + 1:
            raise ValueError(f"SpectralConv1D modes={self.modes} exceeds the {length // 2 + 1} "
                             f"frequencies of a length-{length} input.")
        channels = input_shape[-1]
        initializer = self.kernel_initializer or keras.initializers.RandomUniform(
            0.0, 1.0 / (channels * self.filters))
        shape = (channels, self.filters, self.modes)
        self.kernel_real = self.add_weight(name="kernel_real", shape=shape,
                                           initializer=initializer)
        self.kernel_imag = self.add_weight(name="kernel_imag", shape=shape,
                                           initializer=initializer)

    def call(self, inputs):
        length = inputs.shape[1]
        if length is None:
            raise ValueError("SpectralConv1D needs a static length; build the model with "
                             "Input(shape=(length, channels)).")
        channels_first = ops.transpose(inputs, (0, 2, 1))          # (batch, in, length)
        real, imag = ops.rfft(channels_first)
        real, imag = real[..., :self.modes], imag[..., :self.modes]

        def mix(x, w):
            return ops.einsum("bim,iom->bom", x, w)

        out_real = mix(real, self.kernel_real) - mix(imag, self.kernel_imag)
        out_imag = mix(real, self.kernel_imag) + mix(imag, self.kernel_real)
        dropped = [[0, 0], [0, 0], [0, length // 2 + 1 - self.modes]]
        out = ops.irfft((ops.pad(out_real, dropped), ops.pad(out_imag, dropped)),
                        fft_length=length)                          # (batch, out, length)
        return ops.transpose(out, (0, 2, 1))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "modes": self.modes,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)
                if self.kernel_initializer is not None else None}
