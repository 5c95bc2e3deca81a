"""MNIST training with the compiled kernels against the array code and a float64 reference.

The fused update kernels (optimizers.kernels.update) are generated from the same rules as the array path,
and the step kernels (optimizers.kernels.mlp_step_code) do the forward/backward pass's elementwise
work, but both are code of their own, so whole training runs are compared: every record of a
run with the kernels must equal the run without them up to the order of sums (float64), and in
float32 both must stay as close to the float64 run as rounding allows. Both paths are also held
to torch.nn + torch.optim in test_mnist_train.py.
"""

import dataclasses

import numpy as np
import pytest

from mnist import data as mnist
from mnist.train import TrainConfig, train
from optimizers import get_optimizer, kernels
from optimizers.kernels.tracer import TraceError
from tests.test_compiled import SETTINGS

RECORDS = ("loss", "grad_norm", "val_loss", "val_acc", "eff_lr", "snapshots", "final_params", "final_val_loss")
# every setting the MNIST trainer takes (Adafactor runs on the 2-D surfaces only)
CONFIGS = tuple(c for c in (get_optimizer(name, **hp) for name, hp in SETTINGS) if not c.info.two_d_only)


@pytest.fixture(scope="module")
def embedded():
    return mnist.load_embedded()


def both_ways(config: TrainConfig, data):
    return train(config, data, use_kernels=True), train(config, data, use_kernels=False)


def test_every_optimizer_setting_matches_the_array_code_in_float64(embedded):
    config = TrainConfig(CONFIGS, hidden=16, batch_size=32, steps=40, dtype="float64", eval_every=10)
    fast, slow = both_ways(config, embedded)
    for name in RECORDS:
        np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-9, atol=1e-12, err_msg=name)
    assert np.all(fast.diverged_at == slow.diverged_at)


def test_float32_clipping_and_schedules_stay_within_rounding(embedded):
    configs = (get_optimizer("adam", lr=3e-3, schedule=("cosine", {"T_max": 30})),
               get_optimizer("sgd", lr=0.05, momentum=0.9, nesterov=True),
               get_optimizer("rmsprop", lr=1e-3, centered=True), get_optimizer("adagrad", lr=0.05))
    config = TrainConfig(configs, hidden=32, batch_size=64, steps=30, clip_norm=1.0, clip_value=0.05, eval_every=10)
    fast, slow = both_ways(config, embedded)
    exact = train(dataclasses.replace(config, dtype="float64"), embedded, use_kernels=False)
    for res in (fast, slow):
        np.testing.assert_allclose(res.final_params, exact.final_params, rtol=0, atol=1e-4)
        np.testing.assert_allclose(res.loss, exact.loss, rtol=1e-5)
        np.testing.assert_allclose(res.eff_lr, exact.eff_lr, rtol=1e-3)
    assert np.abs(fast.final_params - slow.snapshots[:, 0]).max() > 1e-3  # they did train


@pytest.mark.parametrize("name, hp", [("gnsgd", {"lr": 0.1}), ("nadam", {"lr": 1e-3})])
def test_rules_that_are_not_per_entry_keep_the_array_code(name, hp):
    """gnsgd scales by the norm of the whole gradient, NAdam keeps a scalar state: no fused kernel."""
    config = get_optimizer(name, **hp)
    with pytest.raises(TraceError):
        kernels.update_kernel(config)
    assert kernels.compiled_update(config, wait=True) is None


def test_hyperparameter_values_reuse_a_kernel_and_branches_do_not():
    source = kernels.update_kernel(get_optimizer("adam", lr=1e-3)).source
    assert kernels.update_kernel(get_optimizer("adam", lr=0.5, betas=(0.8, 0.99), eps=1e-6)).source == source
    assert kernels.update_kernel(get_optimizer("adam", lr=1e-3, weight_decay=0.1)).source != source


def test_automatic_choice_uses_only_compiled_kernels(embedded, tmp_path, monkeypatch):
    """use_kernels=None: a kernel not yet compiled is left to a background process; an
    unwritable cache keeps the array code. Either way the numbers are the array code's."""
    monkeypatch.setattr("optimizers.kernels.cache.AUTO", True)
    monkeypatch.setattr("optimizers.kernels.cache._LOADED", {})
    monkeypatch.setattr("optimizers.kernels.cache.submit", lambda kernels: None)
    monkeypatch.setenv("OPTVIS_KERNEL_DIR", str(tmp_path / "empty"))
    opt = get_optimizer("adamax", lr=0.0123)
    assert kernels.compiled_update(opt, wait=False) is None  # nothing on disk yet
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("OPTVIS_KERNEL_DIR", str(blocker / "kernels"))
    assert kernels.compiled_update(opt, wait=True) is None
    config = TrainConfig((opt,), hidden=16, batch_size=32, steps=10, dtype="float64")
    auto = train(config, embedded)
    np.testing.assert_array_equal(auto.final_params, train(config, embedded, use_kernels=False).final_params)
    assert kernels.AVAILABLE


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_with_kernels_is_marked_as_with_the_array_code(embedded, dtype):
    """SGD at lr 1000 blows up (overflow, then NaN through the compiled softmax); the others go on."""
    opts = (get_optimizer("adam", lr=1e-3), get_optimizer("sgd", lr=1e3), get_optimizer("rmsprop", lr=1e-3))
    config = TrainConfig(opts, hidden=32, batch_size=64, steps=60, dtype=dtype)
    fast, slow = both_ways(config, embedded)
    assert fast.diverged_at[1] >= 1 and fast.diverged_at[[0, 2]].tolist() == [-1, -1]
    assert fast.diverged_at[1] == slow.diverged_at[1]
    d = fast.diverged_at[1]
    assert np.all(np.isnan(fast.loss[1, d:])) and np.all(np.isfinite(fast.loss[[0, 2]]))
    assert np.all(np.isfinite(fast.final_params)) and np.isnan(fast.final_val_acc[1])
    np.testing.assert_allclose(fast.final_params[[0, 2]], slow.final_params[[0, 2]], rtol=0,
                               atol=1e-12 if dtype == "float64" else 1e-4)
