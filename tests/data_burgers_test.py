"""Burgers' equation data: solver accuracy, the GRF's spectrum, seeding and caching."""

import os

import numpy as np
import pytest

from symbolic_automl import data
from symbolic_automl import data_burgers

NU = data_burgers.VISCOSITY


def _rel(x, y):
    return np.linalg.norm(x - y) / np.linalg.norm(y)


def _grid(n):
    return np.arange(n) * 2 * np.pi / n


def test_heat_equation_is_exact_without_the_nonlinear_term():
    x = _grid(128)
    u0 = 0.2 + np.sin(3 * x) + 0.5 * np.cos(5 * x)
    exact = 0.2 + np.exp(-9 * NU) * np.sin(3 * x) + 0.5 * np.exp(-25 * NU) * np.cos(5 * x)
    heat = data_burgers.solve_burgers(u0, nonlinear=False)
    np.testing.assert_allclose(heat, exact, atol=1e-12)
    # The nonlinear term matters for this data: the full solution is far from the heat one.
    assert _rel(data_burgers.solve_burgers(u0), heat) > 0.05


def test_matches_the_cole_hopf_solution():
    # u = -2 nu (log phi)_x with phi_t = nu phi_xx, phi(x, 0) = exp(-int_0^x u0 / (2 nu)):
    # for u0 = sin(x), phi(x, 0) = exp((cos(x) - 1) / (2 nu)), solved exactly in Fourier space.
    fine = 2048
    x = _grid(fine)
    k = np.arange(fine // 2 + 1)
    phi_hat = np.fft.rfft(np.exp((np.cos(x) - 1) / (2 * NU))) * np.exp(-NU * k ** 2 * 1.0)
    phi = np.fft.irfft(phi_hat, n=fine)
    phi_x = np.fft.irfft(1j * k * phi_hat, n=fine)
    exact = -2 * NU * phi_x / phi
    n = 256
    u = data_burgers.solve_burgers(np.sin(_grid(n)), t=1.0, dt=1e-3)
    assert _rel(u, exact[::fine // n]) < 1e-4
    assert _rel(np.sin(_grid(n)), exact[::fine // n]) > 0.1  # u(., 1) is not u0.


def test_converges_in_time_and_space():
    a = data_burgers.sample_grf(3, 1024, seed=3)
    u = data_burgers.solve_burgers(a[:, ::2], dt=1e-3)          # 512 points
    u_half_dt = data_burgers.solve_burgers(a[:, ::2], dt=5e-4)
    u_fine = data_burgers.solve_burgers(a, dt=1e-3)[:, ::2]      # 1024 points, subsampled
    assert _rel(u, u_half_dt) < 1e-3
    assert _rel(u, u_fine) < 1e-3
    # And the map is not trivial: u(., 1) differs from u0 by much more than those.
    assert _rel(u, a[:, ::2]) > 0.3


def test_blow_up_is_reported():
    with pytest.raises(FloatingPointError, match="smaller dt"):
        data_burgers.solve_burgers(40 * np.sin(_grid(64)), t=5.0, viscosity=0.0, dt=0.1)


def test_grf_spectrum_matches_the_covariance():
    n, count = 64, 4000
    samples = data_burgers.sample_grf(count, n, seed=0)
    # N(0, 625 (-Delta + 25)^-2) on (0, 2 pi): mode k of the L2-orthonormal basis has
    # variance 625 / (k^2 + 25)^2, so E|rfft(u)_k|^2 = n^2 * 625 / (k^2 + 25)^2 / (2 pi).
    power = np.mean(np.abs(np.fft.rfft(samples, axis=-1)) ** 2, axis=0)
    k = np.arange(1, 12)
    expected = n ** 2 * 625.0 / (k ** 2 + 25.0) ** 2 / (2 * np.pi)
    np.testing.assert_allclose(power[k], expected, rtol=0.1)
    # The mean mode: variance of the spatial mean is lambda_0 / (2 pi) = 1 / (2 pi).
    assert np.var(samples.mean(axis=1)) == pytest.approx(1 / (2 * np.pi), rel=0.1)
    # Pointwise variance sums the spectrum: (1 / 2 pi) sum_k 625 / (k^2 + 25)^2 over all k.
    all_k = np.arange(-(n // 2) + 1, n // 2)
    pointwise = np.sum(625.0 / (all_k ** 2 + 25.0) ** 2) / (2 * np.pi)
    assert np.var(samples) == pytest.approx(pointwise, rel=0.05)
    assert np.abs(np.mean(samples)) < 0.05


def test_seeding_is_per_sample():
    a = data_burgers.sample_grf(5, 128, seed=7)
    np.testing.assert_array_equal(a, data_burgers.sample_grf(5, 128, seed=7))
    assert not np.allclose(a, data_burgers.sample_grf(5, 128, seed=8))
    # Sample i depends on (seed, i) only: asking from `start` gives the same rows.
    np.testing.assert_array_equal(a[2:], data_burgers.sample_grf(3, 128, seed=7, start=2))
    # and its low modes do not depend on the grid: 128 points subsample a 256-point draw
    # up to the modes the coarse grid cannot hold.
    fine = data_burgers.sample_grf(5, 256, seed=7)
    low = np.fft.rfft(a, axis=-1)[:, :40]
    np.testing.assert_allclose(np.fft.rfft(fine, axis=-1)[:, :40] / 2, low, rtol=1e-9, atol=1e-9)


def test_cache_is_read_back_and_grows(tmp_path, monkeypatch):
    calls = []
    generate = data_burgers.generate

    def counting_generate(num_samples, *args, **kwargs):
        calls.append(num_samples)
        return generate(num_samples, *args, **kwargs)

    monkeypatch.setattr(data_burgers, "generate", counting_generate)
    settings = dict(seed=1, fine_grid=64, dt=2e-3, cache_dir=str(tmp_path))
    a, u = data_burgers.burgers(3, **settings)
    assert calls == [3] and a.shape == u.shape == (3, 64) and a.dtype == np.float32
    a_again, u_again = data_burgers.burgers(3, **settings)
    assert calls == [3]  # read from the cache, not solved again
    np.testing.assert_array_equal(u, u_again)
    a5, u5 = data_burgers.burgers(5, **settings)
    assert calls == [3, 2]  # only the two missing samples are solved
    np.testing.assert_array_equal(u5[:3], u)
    np.testing.assert_allclose(u5, data_burgers.burgers(5, **settings, cache=False)[1])
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].endswith(".npz")
    with np.load(tmp_path / files[0], allow_pickle=False) as stored:  # no pickles inside
        assert sorted(stored.files) == ["a", "u"]
        assert stored["u"].dtype == np.float32 and stored["u"].shape == (5, 64)
    # Other settings get another file.
    data_burgers.burgers(2, **{**settings, "seed": 2})
    assert len(os.listdir(tmp_path)) == 2


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(data_burgers.CACHE_ENV, str(tmp_path / "env_cache"))
    data_burgers.burgers(1, fine_grid=32, dt=2e-3)
    assert len(os.listdir(tmp_path / "env_cache")) == 1


def test_load_shapes_grid_and_split(tmp_path):
    (x, y), (x_test, y_test) = data.load("burgers", resolution=32, n_train=4, n_test=2,
                                         fine_grid=64, dt=2e-3, cache_dir=str(tmp_path))
    assert x.shape == (4, 32, 2) and y.shape == (4, 32)
    assert x_test.shape == (2, 32, 2) and y_test.shape == (2, 32)
    assert x.dtype == y.dtype == np.float32
    np.testing.assert_allclose(x[1, :, 1], np.linspace(0, 2 * np.pi, 32), rtol=1e-6)
    a, u = data_burgers.burgers(6, fine_grid=64, dt=2e-3, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(x[:, :, 0], a[:4, ::2])
    np.testing.assert_array_equal(y_test, u[4:, ::2])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="resolution=48 must divide fine_grid=64"):
        data_burgers.load_burgers(resolution=48, fine_grid=64, cache=False)
    with pytest.raises(ValueError, match="n_train must be an integer"):
        data_burgers.load_burgers(n_train=0, cache=False)
    with pytest.raises(TypeError, match="only 'burgers'"):
        data.load("digits", resolution=64)
    with pytest.raises(ValueError, match="u0 must be"):
        data_burgers.solve_burgers(np.zeros((2, 2, 8)))


def test_an_interrupted_run_keeps_its_finished_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(data_burgers, "_CHUNK", 2)
    generate = data_burgers.generate
    calls = []

    def failing_second_chunk(num_samples, *args, **kwargs):
        calls.append(num_samples)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return generate(num_samples, *args, **kwargs)

    monkeypatch.setattr(data_burgers, "generate", failing_second_chunk)
    settings = dict(seed=4, fine_grid=32, dt=2e-3, cache_dir=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        data_burgers.burgers(5, **settings)
    monkeypatch.setattr(data_burgers, "generate", generate)
    path = data_burgers.cache_path(seed=4, fine_grid=32, viscosity=NU, dt=2e-3,
                                   cache_dir=str(tmp_path))
    with np.load(path, allow_pickle=False) as stored:
        assert stored["a"].shape == (2, 32)  # the first chunk survived
    a, _ = data_burgers.burgers(5, **settings)
    np.testing.assert_array_equal(a, data_burgers.burgers(5, **settings, cache=False)[0])
