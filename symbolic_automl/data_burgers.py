"""Viscous Burgers' equation data, generated offline (the FNO benchmark's operator).

The map learned is u(., 0) -> u(., 1) for

    u_t + (u^2 / 2)_x = nu * u_xx   on the periodic domain (0, 2 pi),  nu = 0.1,

with initial conditions drawn from the Gaussian random field
N(0, 625 (-Delta + 25 I)^-2) (Li et al., "Fourier Neural Operator", ICLR 2021;
Kovachki et al., JMLR 2023, section 6.3). The solver is a pseudo-spectral split
step, as the papers describe: the heat part is solved exactly in Fourier space
and the nonlinear part is advanced by an explicit Runge-Kutta step (Heun's
RK2) with the 2/3 de-aliasing rule, Strang-split, dt = 5e-4 by default. It is numpy only and vectorized over samples.

Samples are drawn one seed per sample (`seed`, index), so the first n samples
do not depend on how many are asked for, and a cache file grows as needed.
Caches are plain `.npz` files (read without pickles) under `cache_dir`, the
`SYMBOLIC_AUTOML_CACHE` environment variable, or `~/.cache/symbolic_automl`.

Example::

    from symbolic_automl import data

    (x, y), (x_test, y_test) = data.load("burgers", resolution=256,
                                         n_train=1000, n_test=100)
    x.shape, y.shape     # (1000, 256, 2): a(x) and the grid x; (1000, 256): u(x, 1)
"""

import hashlib
import json
import os
import tempfile
from typing import Optional, Tuple

import numpy as np

VISCOSITY = 0.1
FINE_GRID = 8192
DT = 5e-4
LENGTH = 2 * np.pi
# N(0, sigma^2 (-Delta + tau^2 I)^-gamma): the FNO papers' sigma = 25, tau = 5, gamma = 2.
GRF_SIGMA, GRF_TAU, GRF_GAMMA = 25.0, 5.0, 2.0
CACHE_ENV = "SYMBOLIC_AUTOML_CACHE"
_CHUNK = 64  # Samples solved (vectorized) and cached at a time.
_FORMAT = 1  # Bump when the generator changes what a given key produces.

Arrays = Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]


def wavenumbers(n: int) -> np.ndarray:
    """Integer wavenumbers 0..n/2 of `np.fft.rfft` on (0, 2 pi) with n points."""
    return np.arange(n // 2 + 1, dtype=np.float64)


def grf_eigenvalues(n: int, sigma: float = GRF_SIGMA, tau: float = GRF_TAU,
                    gamma: float = GRF_GAMMA) -> np.ndarray:
    """Eigenvalues sigma^2 (k^2 + tau^2)^-gamma of the covariance, per rfft wavenumber."""
    k = wavenumbers(n)
    return sigma ** 2 * (k ** 2 + tau ** 2) ** (-gamma)


def sample_grf(num_samples: int, n: int, seed: int = 0, start: int = 0,
               sigma: float = GRF_SIGMA, tau: float = GRF_TAU,
               gamma: float = GRF_GAMMA) -> np.ndarray:
    """Samples of N(0, sigma^2 (-Delta + tau^2)^-gamma) on n points of (0, 2 pi), periodic.

    The Karhunen-Loeve expansion in the L2(0, 2 pi)-orthonormal Fourier basis
    (1/sqrt(2 pi), cos(kx)/sqrt(pi), sin(kx)/sqrt(pi)): u = sum_k sqrt(lambda_k)
    xi_k phi_k with xi_k standard normal, truncated at the grid's Nyquist
    frequency (whose sine vanishes on the grid). Sample `start + i` draws its
    coefficients from seed `(seed, start + i)` alone.

    Returns:
      float64 array (num_samples, n).
    """
    _check_positive_int("num_samples", num_samples, allow_zero=True)
    _check_positive_int("n", n)
    half = n // 2 + 1
    xi = np.empty((num_samples, half), np.complex128)
    for i in range(num_samples):
        # (re, im) pairs per wavenumber: a sample's low modes do not depend on n.
        pairs = np.random.default_rng([seed, start + i]).standard_normal((half, 2))
        xi[i] = pairs[:, 0] + 1j * pairs[:, 1]
    root = np.sqrt(grf_eigenvalues(n, sigma, tau, gamma))
    # With u_hat = rfft(u): u = (1/n) sum_k u_hat_k e^{ikx}. A real mode k > 0
    # a cos(kx) + b sin(kx) with a, b ~ N(0, lambda/pi) has u_hat_k = (n/2)(a - ib);
    # the mean (k = 0) is ~ N(0, lambda/(2 pi)), u_hat_0 = n * mean.
    scale = root * (n / 2) / np.sqrt(np.pi)
    coefficients = xi * scale
    coefficients[:, 0] = xi[:, 0].real * root[0] * n / np.sqrt(2 * np.pi)
    if n % 2 == 0:  # Nyquist: cos(pi j) survives, sin vanishes; u_hat = n * a.
        coefficients[:, -1] = xi[:, -1].real * root[-1] * n / np.sqrt(np.pi)
    return np.fft.irfft(coefficients, n=n, axis=-1)


def solve_burgers(u0: np.ndarray, t: float = 1.0, viscosity: float = VISCOSITY,
                  dt: float = DT, nonlinear: bool = True, length: float = LENGTH) -> np.ndarray:
    """u(., t) for u_t + (u^2/2)_x = viscosity * u_xx, periodic, from rows of `u0`.

    Strang splitting: exact heat half steps in Fourier space around a Heun
    (RK2) step of the de-aliased nonlinear term, ceil(t / dt) equal steps.
    The explicit step need not satisfy the fine grid's CFL bound: the exact
    heat factor exp(-nu k^2 dt) damps every wavenumber at which it would be
    unstable (at dt = 1e-3, 8192 points, the result is stable and second order
    in dt: halving dt changes it by 7.5e-6, then 1.9e-6).

    Args:
      u0: (num_samples, n) or (n,) values on the grid j * length / n.
      t: final time.
      viscosity: nu.
      dt: largest time step.
      nonlinear: False drops the u u_x term, leaving the heat equation (whose
        exact solution this then is).
      length: the period.

    Returns:
      Array shaped like `u0`.

    Raises:
      FloatingPointError: the solution blew up (dt too large for this data).
    """
    u0 = np.asarray(u0, dtype=np.float64)
    if u0.ndim not in (1, 2) or u0.shape[-1] < 4:
        raise ValueError(f"u0 must be (num_samples, n) or (n,) with n >= 4; got shape {u0.shape}.")
    if not (t >= 0 and dt > 0 and viscosity >= 0):
        raise ValueError(f"Need t >= 0, dt > 0, viscosity >= 0; got t={t}, dt={dt}, "
                         f"viscosity={viscosity}.")
    squeeze = u0.ndim == 1
    u_hat = np.fft.rfft(np.atleast_2d(u0), axis=-1)
    n = u0.shape[-1]
    k = wavenumbers(n) * (2 * np.pi / length)
    if not nonlinear:
        u = np.fft.irfft(u_hat * np.exp(-viscosity * k ** 2 * t), n=n, axis=-1)
        return u[0] if squeeze else u
    steps = int(np.ceil(t / dt - 1e-9))
    dt = t / max(steps, 1)
    half_heat = np.exp(-viscosity * k ** 2 * dt / 2)
    # Fourier multiplier of -(1/2) d/dx, zero above 2/3 of the band (de-aliasing).
    derivative = -0.5j * k * (wavenumbers(n) < n / 3)

    def flux(v_hat):  # Fourier transform of -(u^2/2)_x.
        v = np.fft.irfft(v_hat, n=n, axis=-1)
        return derivative * np.fft.rfft(v * v, axis=-1)

    with np.errstate(over="ignore", invalid="ignore"):  # A blow-up raises below.
        for _ in range(steps):
            u_hat = u_hat * half_heat
            k1 = flux(u_hat)
            k2 = flux(u_hat + dt * k1)
            u_hat = (u_hat + dt / 2 * (k1 + k2)) * half_heat
        u = np.fft.irfft(u_hat, n=n, axis=-1)
    if not np.all(np.isfinite(u)):
        raise FloatingPointError(f"The Burgers solution blew up with dt={dt:g} on {n} points; "
                                 "use a smaller dt.")
    return u[0] if squeeze else u


def generate(num_samples: int, seed: int = 0, fine_grid: int = FINE_GRID,
             viscosity: float = VISCOSITY, dt: float = DT, start: int = 0,
             batch_size: int = 64) -> Tuple[np.ndarray, np.ndarray]:
    """(a, u): initial conditions and solutions at t = 1 on the fine grid, no cache.

    Returns:
      Two float64 arrays (num_samples, fine_grid).
    """
    a = sample_grf(num_samples, fine_grid, seed=seed, start=start)
    u = np.empty_like(a)
    for lo in range(0, num_samples, batch_size):
        u[lo:lo + batch_size] = solve_burgers(a[lo:lo + batch_size], viscosity=viscosity,
                                              dt=dt)
    return a, u


def burgers(num_samples: int, seed: int = 0, fine_grid: int = FINE_GRID,
            viscosity: float = VISCOSITY, dt: float = DT,
            cache_dir: Optional[str] = None, cache: bool = True,
            verbose: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """(a, u) on the fine grid, float32 (num_samples, fine_grid), cached on disk.

    The cache file is keyed by everything but `num_samples`; asking for more
    samples than it holds solves only the missing ones, rewriting the file
    after every 64.
    """
    _check_positive_int("num_samples", num_samples)
    _check_positive_int("fine_grid", fine_grid)
    if not cache:
        return tuple(v.astype(np.float32) for v in generate(
            num_samples, seed, fine_grid, viscosity, dt))
    path = cache_path(seed=seed, fine_grid=fine_grid, viscosity=viscosity, dt=dt,
                      cache_dir=cache_dir)
    a = u = np.zeros((0, fine_grid), np.float32)
    if os.path.exists(path):
        with np.load(path, allow_pickle=False) as stored:
            a, u = stored["a"], stored["u"]
        if a.shape[1:] != (fine_grid,) or a.shape != u.shape:
            raise ValueError(f"Burgers cache {path!r} holds arrays {a.shape} and {u.shape}; "
                             f"expected two (n, {fine_grid}) arrays. Delete it to regenerate.")
    if len(a) < num_samples and verbose:
        print(f"Solving Burgers' equation for samples {len(a)}..{num_samples - 1} "
              f"on {fine_grid} points (cache {path}).", flush=True)
    while len(a) < num_samples:  # Saved chunk by chunk: an interrupted run keeps its work.
        count = min(_CHUNK, num_samples - len(a))
        new_a, new_u = generate(count, seed, fine_grid, viscosity, dt, start=len(a))
        a = np.concatenate([a, new_a.astype(np.float32)])
        u = np.concatenate([u, new_u.astype(np.float32)])
        _save_atomically(path, a=a, u=u)
        if verbose:
            print(f"  {len(a)} of {num_samples} samples cached.", flush=True)
    return a[:num_samples], u[:num_samples]


def load_burgers(resolution: int = 1024, n_train: int = 1000, n_test: int = 100,
                 seed: int = 0, fine_grid: int = FINE_GRID, viscosity: float = VISCOSITY,
                 dt: float = DT, grid_channel: bool = True, cache_dir: Optional[str] = None, cache: bool = True,
                 verbose: bool = False) -> Arrays:
    """Train and test sets at `resolution` points, subsampled from the fine grid.

    As in the FNO reference (`fourier_1d.py`), inputs carry the grid
    coordinate linspace(0, 2 pi, s) as a second channel and targets are
    u(x, 1) on the same points: x (n, s, 2), y (n, s), float32. The first
    `n_train` samples train and the next `n_test` test.

    Args:
      resolution: s; must divide `fine_grid`.
      n_train, n_test: sample counts.
      seed: of the initial conditions.
      fine_grid: points the equation is solved on (8192 as in the papers;
        2048 is 4x cheaper and changes u by about 1e-5 relative).
      viscosity, dt: of the solver.
      grid_channel: False gives inputs (n, s, 1), a(x) alone.
      cache_dir: where the cache lives (default `cache_dir_default()`).
      cache: False solves afresh and writes nothing.
      verbose: print when solving.
    """
    _check_positive_int("resolution", resolution)
    _check_positive_int("n_train", n_train)
    _check_positive_int("n_test", n_test)
    if fine_grid % resolution:
        raise ValueError(f"resolution={resolution} must divide fine_grid={fine_grid} "
                         "(the data are subsampled from it).")
    a, u = burgers(n_train + n_test, seed=seed, fine_grid=fine_grid, viscosity=viscosity,
                   dt=dt, cache_dir=cache_dir, cache=cache, verbose=verbose)
    step = fine_grid // resolution
    a, u = a[:, ::step], u[:, ::step]
    x = a[..., None]
    if grid_channel:
        grid = np.broadcast_to(np.linspace(0, LENGTH, resolution, dtype=np.float32)[None, :, None],
                               x.shape)
        x = np.concatenate([x, grid], axis=-1)
    x, u = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(u, np.float32)
    return (x[:n_train], u[:n_train]), (x[n_train:], u[n_train:])


def cache_dir_default() -> str:
    """`$SYMBOLIC_AUTOML_CACHE`, else `~/.cache/symbolic_automl`."""
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache",
                                                      "symbolic_automl")


def cache_path(seed: int, fine_grid: int, viscosity: float, dt: float,
               cache_dir: Optional[str] = None) -> str:
    """The cache file for these generator settings."""
    key = json.dumps(dict(format=_FORMAT, seed=int(seed), fine_grid=int(fine_grid),
                          viscosity=float(viscosity), dt=float(dt),
                          grf=[GRF_SIGMA, GRF_TAU, GRF_GAMMA]), sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return os.path.join(cache_dir or cache_dir_default(),
                        f"burgers_s{fine_grid}_seed{seed}_{digest}.npz")


def _save_atomically(path: str, **arrays) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            np.savez(f, **arrays)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _check_positive_int(name: str, value, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (
            0 if allow_zero else 1):
        raise ValueError(f"{name} must be an integer >= {0 if allow_zero else 1}; got {value!r}.")
