"""The MNIST MLP: gradients, training against torch.nn + torch.optim, accuracy, streaming, landscape.

References are independent of the code under test: torch.nn.Sequential(Linear, ReLU, Linear) with
autograd and torch.optim (and torch's lr_scheduler / clip_grad_norm_) for the model and the
training loop, np.linalg.svd for the PCA plane, and a plain forward pass for the landscape's loss.
The batch order and the initial weights are handed to the references, so only the arithmetic is
compared.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mnist import data as mnist
from mnist.landscape import loss_landscape, pca_plane, plane_loss
from mnist.mlp import Layout, NumpyMLP, TorchMLP, init_params
from mnist.train import (
    QUANTILE_SAMPLE,
    QUANTILES,
    TrainConfig,
    batch_indices,
    eff_quantiles,
    quantile_samples,
    steps_per_epoch,
    train,
    train_stream,
)
from optimizers import OPTIMIZERS, get_optimizer
from optimizers.kernels import mlp_step_kernels

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The torch references on one thread: on a busy 2-core machine two spinning threads are slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def embedded():
    return mnist.load_embedded()


def torch_net(layout: Layout, flat: np.ndarray) -> torch.nn.Sequential:
    """The reference model in float64 holding the flat parameter vector `flat`."""
    net = torch.nn.Sequential(torch.nn.Linear(784, layout.hidden), torch.nn.ReLU(),
                              torch.nn.Linear(layout.hidden, 10)).double()
    net.load_state_dict({k: torch.tensor(np.ascontiguousarray(v), dtype=torch.float64)
                         for k, v in layout.torch_state(flat).items()})
    return net


def flat_of(tensors) -> np.ndarray:
    """(W1 [H, 784], b1, W2 [10, H], b2) in torch's layout -> our flat vector."""
    w1, b1, w2, b2 = (t.detach().numpy() for t in tensors)
    return np.concatenate([w1.T.ravel(), b1, w2.T.ravel(), b2])


# --- model -----------------------------------------------------------------------------------


def test_layout_and_init_follow_torch_defaults():
    layout = Layout(64)
    assert layout.size == 784 * 64 + 64 + 64 * 10 + 10
    flat = init_params(64, seed=3, dtype="float64")
    parts = {name: flat[a:b] for name, (a, b) in layout.offsets.items()}
    # nn.Linear's default: weight and bias uniform in +-1/sqrt(fan_in)
    for name, fan_in in (("W1", 784), ("b1", 784), ("W2", 64), ("b2", 64)):
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(parts[name]).max() <= bound
        assert np.abs(parts[name]).max() > 0.9 * bound
        assert abs(parts[name].std() - bound / np.sqrt(3)) < 0.2 * bound
    np.testing.assert_array_equal(flat, init_params(64, seed=3, dtype="float64"))
    assert not np.array_equal(flat, init_params(64, seed=4, dtype="float64"))


@pytest.mark.parametrize("compiled", [False, True], ids=["array-code", "step-kernels"])
def test_numpy_backprop_matches_autograd(embedded, compiled):
    layout = Layout(32)
    rng = np.random.default_rng(0)
    p = np.stack([init_params(32, s, "float64") + 0.05 * rng.standard_normal(layout.size) for s in range(3)])[:, None]
    x, y = np.asarray(embedded.x_train[:100], np.float64), embedded.y_train[:100]
    kernels = mlp_step_kernels(wait=True) if compiled else None
    assert (kernels is not None) == compiled
    model = NumpyMLP(32, 3, "float64", kernels)
    loss, grad = model.loss_grad(p, x, y)
    np.testing.assert_allclose(model.evaluate(p, x, y)[0], loss, rtol=0, atol=1e-12)
    tm = TorchMLP(32, 3, "float64")
    t_loss, t_grad = tm.loss_grad(tm.asarray(p), tm.asarray(x), tm.asarray(y))
    for k in range(3):
        net = torch_net(layout, p[k, 0])
        ref = torch.nn.functional.cross_entropy(net(torch.tensor(x)), torch.tensor(y))
        ref.backward()
        ref_grad = flat_of(q.grad for q in net.parameters())
        assert abs(loss[k] - ref.item()) < 1e-12
        np.testing.assert_allclose(grad[k, 0], ref_grad, rtol=0, atol=1e-10)
        np.testing.assert_allclose(t_grad[k, 0].numpy(), ref_grad, rtol=0, atol=1e-10)
    np.testing.assert_allclose(t_loss, loss, rtol=0, atol=1e-12)


@pytest.mark.parametrize("compiled", [False, True], ids=["array-code", "step-kernels"])
def test_evaluate_and_predict_match_torch(embedded, compiled):
    layout = Layout(16)
    flat = init_params(16, 1, "float64")
    flat.flags.writeable = False  # read-only parameters work too
    x, y = np.asarray(embedded.x_val[:300], np.float64), embedded.y_val[:300]
    model = NumpyMLP(16, 1, "float64", mlp_step_kernels(wait=True) if compiled else None)
    loss, acc = model.evaluate(flat[None, None], x, y)
    logits = torch_net(layout, flat)(torch.tensor(x))
    assert abs(loss[0] - torch.nn.functional.cross_entropy(logits, torch.tensor(y)).item()) < 1e-12
    assert acc[0] == (logits.argmax(1).numpy() == y).mean()
    np.testing.assert_array_equal(model.predict(flat[None, None], x)[0], logits.argmax(1).numpy())
    assert np.isfinite(model.loss_grad(flat[None, None], x, y)[0]).all()


# --- training against torch.optim --------------------------------------------------------------


def test_batch_order_is_a_reshuffle_per_epoch():
    n, b = 1000, 64
    per = steps_per_epoch(n, b)
    assert per == 16
    for epoch in range(2):
        seen = np.concatenate([batch_indices(n, b, 5, epoch * per + i) for i in range(per)])
        np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    assert len(batch_indices(n, b, 5, per - 1)) == n - 15 * b
    assert not np.array_equal(batch_indices(n, b, 5, 0), batch_indices(n, b, 5, per))


def torch_optim_run(data, hidden, batch_size, steps, seed, make_optimizer, *, clip_norm=None, scheduler=None):
    """Plain torch: nn.Sequential + torch.optim over the same batches; returns (losses [T], flat params)."""
    net = torch_net(Layout(hidden), init_params(hidden, seed, "float64"))
    opt = make_optimizer(net.parameters())
    sched = scheduler(opt) if scheduler else None
    x, y = torch.tensor(np.asarray(data.x_train, np.float64)), torch.tensor(data.y_train)
    losses = []
    for t in range(steps):
        idx = torch.as_tensor(batch_indices(len(x), batch_size, seed, t))
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip_norm)
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(loss.item())
    return np.array(losses), flat_of(net.parameters())


TORCH_CASES = {
    "adam": (get_optimizer("adam", lr=1e-3), lambda ps: torch.optim.Adam(ps, lr=1e-3), {}),
    "sgd-momentum": (get_optimizer("sgd", lr=0.05, momentum=0.9),
                     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9), {}),
    "adagrad": (get_optimizer("adagrad", lr=0.1), lambda ps: torch.optim.Adagrad(ps, lr=0.1), {}),
    # weight decay, global-norm clipping and a schedule go through the same loop
    "adamw-clipped": (get_optimizer("adamw", lr=2e-3, weight_decay=0.1),
                      lambda ps: torch.optim.AdamW(ps, lr=2e-3, weight_decay=0.1), {"clip_norm": 0.5}),
    "sgd-steplr": (get_optimizer("sgd", lr=0.1, momentum=0.5, weight_decay=1e-3,
                                 schedule=("step", {"step_size": 50, "gamma": 0.5})),
                   lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.5, weight_decay=1e-3),
                   {"scheduler": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=50, gamma=0.5)}),
    # a sign method: every parameter moves by exactly lr a step, so a rounding difference that flipped
    # one sign would show as a 2 lr jump
    "lion": (get_optimizer("lion", lr=1e-4, weight_decay=0.1, schedule=("warmup_cosine", {"warmup_steps": 20})),
             lambda ps: _lion(ps, lr=1e-4, weight_decay=0.1),
             {"scheduler": lambda o: torch.optim.lr_scheduler.SequentialLR(o, [
                 torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=20),
                 torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=450)], milestones=[20])}),
    # per-parameter step sizes, and a gradient zeroed after each sign flip
    "rprop": (get_optimizer("rprop", lr=1e-4, etas=(0.4, 1.1), step_sizes=(1e-6, 1e-2)),
              lambda ps: torch.optim.Rprop(ps, lr=1e-4, etas=(0.4, 1.1), step_sizes=(1e-6, 1e-2)), {}),
    # a step size computed from the previous step's lr (the schedule's drop shows one step late),
    # the weights shrunk by lambd * eta and averaging from step 50 on
    "asgd": (get_optimizer("asgd", lr=0.1, lambd=0.01, t0=50.0, weight_decay=1e-3,
                           schedule=("step", {"step_size": 60, "gamma": 0.5})),
             lambda ps: torch.optim.ASGD(ps, lr=0.1, lambd=0.01, t0=50.0, weight_decay=1e-3),
             {"scheduler": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=60, gamma=0.5)}),
    # one d estimate for the whole model (the package's one param group): the rule's sums over the
    # trainer's flat vector are the package's sums over every tensor
    "prodigy": (get_optimizer("prodigy", weight_decay=0.01, use_bias_correction=True),
                lambda ps: _prodigy(ps, weight_decay=0.01, use_bias_correction=True), {}),
    # the schedule-free pair, per parameter: the trainer's parameters are y, where gradients are taken
    "sgd_schedule_free": (get_optimizer("sgd_schedule_free", lr=0.1, weight_decay=1e-3, warmup_steps=20),
                          lambda ps: _schedule_free("SGDScheduleFree", ps, lr=0.1, weight_decay=1e-3, warmup_steps=20),
                          {}),
    "adamw_schedule_free": (get_optimizer("adamw_schedule_free", lr=2e-3, r=0.5),
                            lambda ps: _schedule_free("AdamWScheduleFree", ps, lr=2e-3, r=0.5), {}),
}


def _schedule_free(cls, params, **kw):
    opt = getattr(pytest.importorskip("schedulefree"), cls)(params, **kw)
    opt.train()
    return opt


def _prodigy(params, **kw):
    prodigyopt = pytest.importorskip("prodigyopt")
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a note for decoupled weight decay
        return prodigyopt.Prodigy(params, **kw)


def _lion(params, **kw):
    return pytest.importorskip("lion_pytorch").Lion(params, **kw)


@pytest.mark.parametrize("backend", ["torch", "numpy", "numpy-compiled"])
@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_matches_torch_optim_over_200_steps(embedded, float64, case, backend):
    """numpy-compiled: the NumPy backend with the fused update kernels (optimizers.fused)."""
    optimizer, make_optimizer, extra = TORCH_CASES[case]
    hidden, batch_size, steps, seed = 32, 64, 200, 1
    ref_loss, ref_params = torch_optim_run(embedded, hidden, batch_size, steps, seed, make_optimizer, **extra)
    config = TrainConfig((optimizer,), hidden=hidden, batch_size=batch_size, steps=steps, seed=seed,
                         backend=backend.split("-")[0], dtype="float64", clip_norm=extra.get("clip_norm"),
                         snapshots=2)
    res = train(config, embedded, use_kernels=backend.endswith("compiled"))
    np.testing.assert_allclose(res.loss[0], ref_loss, rtol=0, atol=1e-6)
    np.testing.assert_allclose(res.final_params[0], ref_params, rtol=0, atol=1e-6)
    assert np.abs(res.final_params[0] - init_params(hidden, seed, "float64")).max() > 1e-2  # it did train


@pytest.mark.parametrize("name", [n for n, info in OPTIMIZERS.items() if info.two_d_only])
def test_two_d_only_rules_are_refused(name):
    """Newton needs the surface's closed-form Hessian, which the MLP has not."""
    with pytest.raises(ValueError, match=f"{name}.*2-D surfaces only"):
        TrainConfig((get_optimizer(name),))


def test_backends_agree(embedded):
    opts = (get_optimizer("adam", lr=1e-3), get_optimizer("sgd", lr=0.05, momentum=0.9), get_optimizer("rmsprop", lr=1e-3))
    runs = [train(TrainConfig(opts, hidden=16, batch_size=32, steps=40, backend=b, dtype="float64", eval_every=10),
                  embedded) for b in ("numpy", "torch")]
    for name in ("loss", "grad_norm", "val_loss", "val_acc", "eff_lr", "snapshots", "final_params", "final_val_acc"):
        np.testing.assert_allclose(getattr(runs[0], name), getattr(runs[1], name), rtol=1e-9, atol=1e-12, err_msg=name)


def test_side_by_side_equals_separate_runs(embedded):
    """Same start, same batches: training K configurations together changes nothing for each."""
    opts = (get_optimizer("sgd", lr=0.05, momentum=0.9), get_optimizer("adam", lr=1e-3), get_optimizer("adam", lr=3e-3))
    common = dict(hidden=16, batch_size=32, steps=30, dtype="float64")
    together = train(TrainConfig(opts, **common), embedded)
    for k, opt in enumerate(opts):
        alone = train(TrainConfig((opt,), **common), embedded)
        np.testing.assert_allclose(together.loss[k], alone.loss[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(together.final_params[k], alone.final_params[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(together.snapshots[:, 0], together.snapshots[:1, 0].repeat(3, axis=0))


def test_records_shapes_and_effective_lr(embedded):
    opts = (get_optimizer("sgd", lr=0.05), get_optimizer("adam", lr=1e-3))
    res = train(TrainConfig(opts, hidden=16, batch_size=32, steps=60, eval_every=20), embedded)
    assert res.done and not res.stopped and res.steps_done == 60
    assert res.loss.shape == (2, 60) and res.grad_norm.shape == (2, 2, 60)
    np.testing.assert_array_equal(res.eval_steps, [0, 1, 2, 4, 8, 16, 20, 40, 60])  # early ones, then every 20
    assert res.val_acc.shape == res.val_loss.shape == (2, 9)
    assert res.eff_lr.shape == (2, 2, 3, len(res.record_steps)) and res.record_steps[0] == 1
    np.testing.assert_allclose(res.eff_lr[0], 0.05, rtol=1e-6)  # SGD: lr itself, every layer and percentile
    lo, mid, hi = res.eff_lr[1, :, 0], res.eff_lr[1, :, 1], res.eff_lr[1, :, 2]
    assert np.all(lo <= mid) and np.all(mid <= hi) and np.all(lo > 0)
    # Adam's first step: eff = lr / (|g| + eps) per parameter, so the median follows the gradient
    res1 = train(TrainConfig((opts[1],), hidden=16, batch_size=32, steps=1, dtype="float64"), embedded)
    _, g = NumpyMLP(16, 1, "float64").loss_grad(init_params(16, 0, "float64")[None, None],
                                                np.asarray(embedded.x_train[batch_indices(8000, 32, 0, 0)], np.float64),
                                                embedded.y_train[batch_indices(8000, 32, 0, 0)])
    eff = 1e-3 / (np.abs(g[0, 0]) + 1e-8)
    for i, (sl, sample) in enumerate(zip(Layout(16).layers.values(), quantile_samples(Layout(16), 0))):
        assert sample.min() >= sl.start and sample.max() < sl.stop
        assert len(sample) == min(QUANTILE_SAMPLE, sl.stop - sl.start) == len(np.unique(sample))
        np.testing.assert_allclose(res1.eff_lr[0, i, :, 0], np.quantile(eff[sample], [0.1, 0.5, 0.9]), rtol=1e-9)
        # the sample's percentiles sit within half a percentile point of the whole layer's (ties: blank
        # pixels have zero gradient, so eff = lr / eps for many of them)
        layer = np.sort(eff[sl])
        below = np.searchsorted(layer, res1.eff_lr[0, i, :, 0], side="left") / len(layer)
        upto = np.searchsorted(layer, res1.eff_lr[0, i, :, 0], side="right") / len(layer)
        assert np.all(below - 0.005 <= np.array([0.1, 0.5, 0.9])) and np.all(np.array([0.1, 0.5, 0.9]) <= upto + 0.005)
        np.testing.assert_allclose(res1.grad_norm[0, i, 0], np.linalg.norm(g[0, 0, sl]), rtol=1e-9)
    assert np.all(np.isfinite(res.final_val_acc)) and res.final_val_acc.shape == (2,)
    assert res.snapshots.shape == (2, len(res.snapshot_steps), Layout(16).size)
    assert res.snapshot_steps[0] == 0 and res.snapshot_steps[-1] == 60


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_eff_quantiles_equal_numpy_quantile(dtype):
    rng = np.random.default_rng(5)
    eff = rng.lognormal(size=(4, 3000)).astype(dtype)
    eff[1, 7] = np.nan  # a row holding NaN gives NaN, as np.quantile does
    eff[2, :] = 0.25  # ties
    samples = [np.sort(rng.choice(2000, 777, replace=False)), np.arange(2000, 3000), np.array([5])]
    expected = np.stack([np.quantile(eff[:, idx].astype(np.float64), QUANTILES, axis=1).T for idx in samples], axis=1)
    np.testing.assert_array_equal(eff_quantiles(eff, samples), expected)


# --- accuracy (the targets, measured against plain torch on this machine) --------------


@pytest.fixture(scope="module")
def full():
    return mnist.load_full(SHARED)


@pytest.mark.slow
def test_adam_three_epochs_full_mnist(full):
    """784-128-10, Adam lr 1e-3, batch 128, 3 epochs: >= 96% test accuracy (seeds 0-7 here: 96.0-96.5%)."""
    steps = 3 * steps_per_epoch(len(full.x_train), 128)
    res = train(TrainConfig((get_optimizer("adam", lr=1e-3),), hidden=128, batch_size=128, steps=steps,
                            eval_size=500, snapshots=1), full)
    assert res.final_val_acc[0] >= 0.96


@pytest.mark.slow
def test_adagrad_one_epoch_full_mnist(full):
    """The source material's Adagrad lr 0.1, batch 32, 1 epoch: >= 95% (seeds 0-7 here: 95.4-96.2%)."""
    steps = steps_per_epoch(len(full.x_train), 32)
    res = train(TrainConfig((get_optimizer("adagrad", lr=0.1),), hidden=128, batch_size=32, steps=steps,
                            eval_size=500, snapshots=1), full)
    assert res.final_val_acc[0] >= 0.95


@pytest.mark.slow
def test_adam_two_epochs_embedded():
    """Adam lr 1e-3, batch 64, 2 epochs on the embedded 10k set as the app splits it, 8,000 / 2,000
    in file order: >= 92% (the issue's reference 93.8%; here 93.1-93.7% over seeds)."""
    data = mnist.load_embedded()
    assert data.x_train.shape[0] == 8000 and data.x_val.shape[0] == 2000
    res = train(TrainConfig((get_optimizer("adam", lr=1e-3),), hidden=128, batch_size=64,
                            steps=2 * steps_per_epoch(8000, 64), snapshots=1), data)
    assert res.final_val_acc[0] >= 0.92


# --- streaming, stop, divergence ----------------------------------------------------------------


def test_streaming_yields_growing_prefixes(embedded):
    opts = (get_optimizer("sgd", lr=0.05), get_optimizer("adam", lr=1e-3))
    config = TrainConfig(opts, hidden=16, batch_size=32, steps=47, eval_every=10)
    seen = [(r.steps_done, r.done, r.loss.copy(), len(r.eval_steps)) for r in train_stream(config, embedded, every=10)]
    steps = [s for s, *_ in seen]
    assert steps == [1, 10, 20, 30, 40, 47]
    assert [d for _, d, *_ in seen] == [False] * 5 + [True]
    final = seen[-1][2]
    for s, _, loss, n_eval in seen:
        assert loss.shape == (2, s)
        np.testing.assert_array_equal(loss, final[:, :s])
        assert n_eval == len([e for e in (0, 1, 2, 4, 8, 10, 20, 30, 40, 47) if e <= s])
    assert all(a < b for a, b in zip(steps, steps[1:]))


def test_stop_keeps_what_was_computed(embedded):
    opts = (get_optimizer("sgd", lr=0.05), get_optimizer("adam", lr=1e-3))
    config = TrainConfig(opts, hidden=16, batch_size=32, steps=500, eval_every=10)
    asked = {"stop": False}
    results = []
    for r in train_stream(config, embedded, stop=lambda: asked["stop"], every=5):
        results.append(r)
        if r.steps_done >= 15:
            asked["stop"] = True
    final = results[-1]
    assert final.done and final.stopped and final.steps_done == 15 and final.total_steps == 500
    assert final.loss.shape == (2, 15) and np.all(np.isfinite(final.loss))
    np.testing.assert_array_equal(final.eval_steps, [0, 1, 2, 4, 8, 10, 15])  # and one where it stopped
    assert final.snapshot_steps[-1] == 15
    assert np.all((final.final_val_acc > 0) & (final.final_val_acc <= 1))
    full = train(TrainConfig(opts, hidden=16, batch_size=32, steps=15, eval_every=10), embedded)
    np.testing.assert_array_equal(final.loss, full.loss)
    np.testing.assert_array_equal(final.final_params, full.final_params)


@pytest.fixture(scope="module")
def diverging(embedded):
    opts = (get_optimizer("adam", lr=1e-3), get_optimizer("sgd", lr=1e3), get_optimizer("sgd", lr=0.05, momentum=0.9))
    return train(TrainConfig(opts, hidden=32, batch_size=64, steps=80, dtype="float64"), embedded)


def test_divergence_is_marked_and_others_finish(diverging):
    res = diverging
    assert res.done and res.steps_done == 80
    assert res.diverged_at[1] >= 1 and res.diverged_at[0] == -1 and res.diverged_at[2] == -1
    d = res.diverged_at[1]
    assert np.all(np.isnan(res.loss[1, d:])) and np.all(np.isfinite(res.loss[1, :d]))
    assert np.all(np.isfinite(res.loss[[0, 2]])) and np.all(np.isfinite(res.eff_lr[[0, 2]]))
    assert np.isnan(res.final_val_acc[1]) and np.all(res.final_val_acc[[0, 2]] > 0.8)
    assert np.all(np.isfinite(res.final_params)) and np.all(np.isfinite(res.snapshots))
    np.testing.assert_array_equal(res.final_params[1], res.snapshots[1, -1])


def test_config_errors_name_the_value(embedded):
    adam = get_optimizer("adam")
    for kwargs, text in (({"hidden": 0}, "hidden size"), ({"batch_size": 0}, "batch_size"), ({"steps": 0}, "steps"),
                         ({"clip_norm": -1.0}, "clip_norm"), ({"backend": "jax"}, "backend"),
                         ({"dtype": "float16"}, "dtype")):
        with pytest.raises(ValueError, match=text):
            TrainConfig((adam,), **kwargs)
    with pytest.raises(ValueError, match="optimizers"):
        TrainConfig(())
    small = SimpleNamespace(x_train=embedded.x_train[:100], y_train=embedded.y_train[:100],
                            x_val=embedded.x_val[:10], y_val=embedded.y_val[:10])
    with pytest.raises(ValueError, match="training set has 100 images"):
        train(TrainConfig((adam,), batch_size=128), small)


# --- landscape -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def landscape(diverging, embedded):
    return loss_landscape(diverging, embedded.x_val, embedded.y_val, resolution=9, n_images=200)


def test_plane_explains_the_reported_variance(diverging, landscape):
    fitted = diverging.snapshots[[0, 2]].reshape(-1, diverging.snapshots.shape[-1])
    np.testing.assert_array_equal(landscape.fitted, [True, False, True])
    m = fitted - fitted.mean(axis=0)
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    assert landscape.explained == pytest.approx((s[0] ** 2 + s[1] ** 2) / (s**2).sum(), rel=1e-9)
    np.testing.assert_allclose(landscape.plane.variance_ratio, s[:2] ** 2 / (s**2).sum(), rtol=1e-9)
    d = landscape.plane.directions
    np.testing.assert_allclose(d @ d.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(d * vt[:2], axis=1)), 1.0, atol=1e-9)
    np.testing.assert_allclose(landscape.plane.centre, fitted.mean(axis=0), atol=1e-12)


def test_projection_and_reconstruction_are_consistent(diverging, landscape):
    plane = landscape.plane
    theta = diverging.snapshots[2, 5]
    coords = plane.project(theta)
    np.testing.assert_allclose(landscape.paths[2, 5], coords, atol=1e-12)
    back = plane.point(coords)
    np.testing.assert_allclose(plane.project(back), coords, atol=1e-9)
    np.testing.assert_allclose(plane.directions @ (theta - back), 0.0, atol=1e-9)  # residual is orthogonal
    assert np.all(landscape.paths[:, 0] == landscape.paths[0, 0])  # one common start
    assert np.all(landscape.paths[0, 0] <= 0)  # sign convention: paths start bottom left


def test_grid_loss_is_the_model_loss(diverging, landscape, embedded):
    layout = Layout(32)
    x, y = np.asarray(embedded.x_val[landscape.images], np.float64), embedded.y_val[landscape.images]
    model = NumpyMLP(32, 1, "float64")
    plane = landscape.plane
    at_centre = plane_loss(layout, plane, [[0.0, 0.0]], x, y)[0]
    assert at_centre == pytest.approx(model.evaluate(plane.centre[None, None], x, y)[0][0], rel=1e-10)
    for i, j in ((0, 0), (4, 7), (8, 3)):
        theta = plane.point([landscape.a[j], landscape.b[i]])
        assert landscape.loss[i, j] == pytest.approx(model.evaluate(theta[None, None], x, y)[0][0], rel=1e-10)
    lo, hi = landscape.paths[[0, 2]].reshape(-1, 2).min(0), landscape.paths[[0, 2]].reshape(-1, 2).max(0)
    assert landscape.a[0] < lo[0] and landscape.a[-1] > hi[0] and landscape.b[0] < lo[1] and landscape.b[-1] > hi[1]


def test_pca_plane_of_a_straight_path_is_completed():
    line = np.outer(np.linspace(0, 1, 5), np.arange(1.0, 7.0))
    plane = pca_plane(line)
    assert plane.explained == pytest.approx(1.0)
    np.testing.assert_allclose(plane.variance_ratio, [1.0, 0.0])
    np.testing.assert_allclose(plane.directions @ plane.directions.T, np.eye(2), atol=1e-12)
