"""Small offline data shaped for each corpus model (scikit-learn digits or generated)."""

import numpy as np


def digits_images(size=16):
    """Digits upsampled from 8x8 to `size`x`size` (nearest), split train/validation."""
    from symbolic_automl import data  # pylint: disable=g-import-not-at-top

    (x, y), (xv, yv) = data.load("digits", limit=256)
    factor = size // 8
    up = lambda a: np.kron(a, np.ones((1, factor, factor, 1), dtype=a.dtype))
    return (up(x), y), (up(xv[:128]), yv[:128])


def tokens(n=192, length=20, vocab=200, classes=2, seed=0):
    """Token sequences whose label is whether token 7 occurs more than token 3."""
    rng = np.random.RandomState(seed)
    x = rng.randint(1, vocab, size=(n, length))
    y = ((x == 7).sum(1) > (x == 3).sum(1)).astype("int64") % classes
    split = n * 3 // 4
    return (x[:split], y[:split]), (x[split:], y[split:])


def tickets(n=192, length=12, vocab=100, num_tags=6, departments=4, seed=0):
    """The functional-API guide's ticket data: title and body tokens, tag flags."""
    rng = np.random.RandomState(seed)
    title = rng.randint(1, vocab, size=(n, length))
    body = rng.randint(1, vocab, size=(n, 2 * length))
    tags = rng.randint(0, 2, size=(n, num_tags)).astype("float32")
    y = (tags[:, :departments].argmax(1)).astype("int64")
    x = {"title": title, "body": body, "tags": tags}
    split = n * 3 // 4
    take = lambda d, s: {k: v[s] for k, v in d.items()}
    return (take(x, slice(0, split)), y[:split]), (take(x, slice(split, n)), y[split:])
