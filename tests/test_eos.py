"""mnist.eos against independent references: torch.nn's initialisation, model and SGD; the dense
Hessian's top eigenvalue (torch.autograd.functional.hessian, np.linalg.eigvalsh); and the edge of
stability as Cohen et al. (ICLR 2021) report it, on 1,000 MNIST training images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mnist import data as mnist
from mnist import eos
from mnist.mlp import one_thread

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(autouse=True)
def one_core():
    """torch on one thread, as the app runs these (a second thread slows a busy 2-core machine ten-fold)."""
    with one_thread(torch_too=True):
        yield


def reference_net(n_in: int, hidden: int, seed: int, dtype=torch.float64) -> torch.nn.Sequential:
    """The paper-style model as torch.nn builds it, initialised after torch.manual_seed(seed)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 10))
    return net.to(dtype)


def squared_loss(out: torch.Tensor, y) -> torch.Tensor:
    """1/(2n) sum_i ||out_i - onehot(y_i)||^2, written with torch.nn.functional."""
    target = torch.nn.functional.one_hot(torch.as_tensor(np.array(y)), 10).to(out.dtype)
    return torch.nn.functional.mse_loss(out, target, reduction="sum") / (2 * len(out))


def flat(net: torch.nn.Sequential) -> torch.Tensor:
    """The documented layout W1 [d, H] | b1 | W2 [H, 10] | b2 of a reference net."""
    first, last = net[0], net[2]
    return torch.cat([first.weight.T.reshape(-1), first.bias, last.weight.T.reshape(-1), last.bias]).detach()


def load_net(p: torch.Tensor, n_in: int, hidden: int) -> torch.nn.Sequential:
    """A reference net holding the flat parameters p [P] (documented layout)."""
    net = reference_net(n_in, hidden, 0, p.dtype)
    cuts = np.cumsum([0, n_in * hidden, hidden, hidden * 10, 10])
    w1, b1, w2, b2 = (p[a:b] for a, b in zip(cuts[:-1], cuts[1:]))
    with torch.no_grad():
        net[0].weight.copy_(w1.reshape(n_in, hidden).T)
        net[0].bias.copy_(b1)
        net[2].weight.copy_(w2.reshape(hidden, 10).T)
        net[2].bias.copy_(b2)
    return net


def dense_top_eigenvalue(p: torch.Tensor, x: torch.Tensor, y, n_in: int, hidden: int) -> tuple[float, float]:
    """(largest, smallest) eigenvalue of the full Hessian of the reference loss at p [P], float64."""
    cuts = np.cumsum([0, n_in * hidden, hidden, hidden * 10, 10])

    def loss(q):
        w1, b1, w2, b2 = (q[a:b] for a, b in zip(cuts[:-1], cuts[1:]))
        hid = torch.tanh(x @ w1.reshape(n_in, hidden) + b1)
        return squared_loss(hid @ w2.reshape(hidden, 10) + b2, y)

    h = torch.autograd.functional.hessian(loss, p.double()).numpy()
    values = np.linalg.eigvalsh(h)
    return float(values[-1]), float(values[0])


def tiny_problem(seed: int = 0, n: int = 40, n_in: int = 12, hidden: int = 8):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, n_in))
    x[:, [3, 7]] = 0  # blank "pixels": left out by run_stream, zero rows of the dense Hessian
    return x, rng.integers(0, 10, n)


# --- the model ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 7])
def test_initial_weights_are_torch_nn_linear_defaults(seed):
    expected = flat(reference_net(784, 64, seed, torch.float32))
    got = eos.init_params(784, 64, seed)
    assert got.shape == (784 * 64 + 64 + 64 * 10 + 10,)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_losses_follow_torch_sgd_on_the_reference_net(dtype):
    """GD steps of run_stream (blank pixels left out) against torch.optim.SGD on nn.Sequential."""
    data = mnist.load_embedded()
    x, y = data.x_train[:200], data.y_train[:200]
    lrs, steps = (0.02, 0.1), 20
    res = list(eos.run_stream(eos.EosConfig(lrs, steps=steps, n_train=200, every=steps, dtype=dtype), x, y))[-1]
    assert res.done and res.loss.shape == (2, steps + 1) and res.n_pixels < 784
    xt = torch.as_tensor(np.array(x), dtype=torch.float64)
    for k, lr in enumerate(lrs):
        net = reference_net(784, 64, 0)
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        losses = []
        for _ in range(steps + 1):
            opt.zero_grad()
            loss = squared_loss(net(xt), y)
            losses.append(loss.item())
            loss.backward()
            opt.step()
        np.testing.assert_allclose(res.loss[k], losses, rtol=1e-9 if dtype == "float64" else 2e-5)
    assert 0.5 < res.loss[0, 0] < 0.6  # outputs near 0 at the start: about 1/2 ||onehot||^2


# --- sharpness ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_lanczos_matches_the_dense_hessian(dtype):
    """Two models at once (rows of p), each against its own dense Hessian, 194 parameters each."""
    n_in, hidden = 12, 8
    x, y = tiny_problem()
    xt = torch.as_tensor(x, dtype=dtype)
    net = eos.TanhMLP(n_in, hidden)
    rng = np.random.default_rng(1)
    p = torch.stack([eos.init_params(n_in, hidden, 0, dtype),
                     torch.as_tensor(rng.normal(0, 0.6, net.size), dtype=dtype)])
    assert net.size == 194
    target = eos.onehot(y, dtype)
    _, _, hvp = eos.hessian_vector_product(lambda q: net.loss(q, xt, target), p)
    v0 = torch.as_tensor(rng.normal(size=p.shape), dtype=dtype)
    estimate, vector, products = eos.top_eigenvalue(hvp, v0, iters=194, tol=1e-6)
    assert vector.shape == p.shape and products < 194
    for k in range(2):
        top, _ = dense_top_eigenvalue(p[k].double(), torch.as_tensor(x), y, n_in, hidden)
        assert estimate[k] == pytest.approx(top, rel=1e-3), (k, estimate[k], top)
        assert estimate[k] == pytest.approx(top, rel=1e-5 if dtype == torch.float64 else 1e-4)


def test_recorded_sharpness_matches_the_dense_hessian_at_the_start():
    """run_stream's first measurement (blank inputs left out, default iteration budget) in float32
    against the float64 dense Hessian of the full 12-input network at its initial weights."""
    x, y = tiny_problem(seed=3, n_in=12, hidden=8)
    res = list(eos.run_stream(eos.EosConfig((0.1,), steps=1, n_train=len(x), hidden=8, every=1), x, y))[-1]
    assert res.n_pixels == 10
    top, _ = dense_top_eigenvalue(eos.init_params(12, 8, 0, torch.float64), torch.as_tensor(x), y, 12, 8)
    assert res.sharpness[0, 0] == pytest.approx(top, rel=1e-3)


# --- the edge of stability -------------------------------------------------------------------------------------


def training_images() -> tuple[mnist.MnistData, str]:
    """The full set from ../shared/data/mnist when present (its first 1,000 of the 60,000 official
    training images), else the embedded set (its first 1,000 training images)."""
    if all((SHARED / name).is_file() for name in mnist.FULL_FILES):
        return mnist.load_full(SHARED), "full"
    return mnist.load_embedded(), "embedded"


@pytest.mark.slow
def test_sharpness_hovers_at_two_over_lr_on_1000_images():
    """Cohen et al.: once the sharpness reaches 2 / lr it stays at or just above it. Every 25 steps
    up to step 800; from step 500 on within [0.95, 1.15] x 2 / lr at lr 0.08 and 0.1, while the loss
    falls. Measured (float32, seed 0), steps 500-800: full set's first 1,000 images, lr 0.08 at
    25.5-26.5 (2/lr 25), lr 0.1 at 20.7-21.4 (2/lr 20); embedded set 25.1-26.7 and 20.6-21.5.
    lr 0.2 diverges; lr 0.05 is still sharpening (22.4 to 28.7 by step 800, 2/lr 40)."""
    data, source = training_images()
    config = eos.EosConfig((0.08, 0.1), steps=800, n_train=1000, every=25, source=source)
    res = list(eos.run_stream(config, data.x_train, data.y_train))[-1]
    assert (res.diverged_at < 0).all()
    late = res.sharp_steps >= 500
    ratio = res.sharpness[:, late] / config.thresholds[:, None]
    assert ratio.shape == (2, 13)
    assert ((0.95 <= ratio) & (ratio <= 1.15)).all(), (source, np.round(res.sharpness, 2).tolist())
    assert (res.loss[:, -1] < 0.5 * res.loss[:, 0]).all(), (source, res.loss[:, [0, -1]])


# --- bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, words", [
    ({"lrs": ()}, ["lrs", "1 to 6"]),
    ({"lrs": (0.1,) * 7}, ["lrs", "1 to 6"]),
    ({"lrs": (0.0,)}, ["lr", "(0, 2]"]),
    ({"lrs": (3.0,)}, ["lr", "(0, 2]"]),
    ({"lrs": (float("nan"),)}, ["lr", "(0, 2]"]),
    ({"lrs": ("0.1",)}, ["lr", "(0, 2]"]),
    ({"lrs": (0.1,), "steps": 0}, ["steps", "1..20,000"]),
    ({"lrs": (0.1,), "steps": 1.5}, ["steps", "whole number"]),
    ({"lrs": (0.1,), "n_train": 0}, ["n_train", "1..10,000"]),
    ({"lrs": (0.1,), "every": 0}, ["every"]),
    ({"lrs": (0.1,), "dtype": "float16"}, ["dtype", "float32"]),
])
def test_bad_configuration_names_the_parameter_and_its_range(kwargs, words):
    with pytest.raises(ValueError) as err:
        eos.EosConfig(**kwargs)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_more_images_than_the_data_set_is_refused():
    x, y = tiny_problem(n=30)
    with pytest.raises(ValueError, match=r"n_train: 31 .*30 training images"):
        next(eos.run_stream(eos.EosConfig((0.1,), n_train=31), x, y))


def test_a_diverging_learning_rate_is_marked_and_the_others_go_on():
    data = mnist.load_embedded()
    res = list(eos.run_stream(eos.EosConfig((0.1, 2.0), steps=60, n_train=200, every=20),
                              data.x_train, data.y_train))[-1]
    assert res.diverged_at[0] == -1 and res.diverged_at[1] > 0
    assert np.isfinite(res.loss[0]).all() and np.isnan(res.loss[1, res.diverged_at[1]:]).all()
    assert np.isfinite(res.sharpness[0]).all() and np.isnan(res.sharpness[1, -1])


def test_stop_ends_the_run_early():
    data = mnist.load_embedded()
    calls = []
    res = list(eos.run_stream(eos.EosConfig((0.1,), steps=500, n_train=100), data.x_train, data.y_train,
                              stop=lambda: calls.append(1) or len(calls) >= 10))[-1]
    assert res.stopped and res.steps_done == 10 and not res.done
