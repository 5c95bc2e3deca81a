"""The map component's data contract (plots.playback_data), in Python alone: what the browser
receives has the documented shapes and dtypes, holds the engine's values at every playable step,
and the drawn paths keep what a reader needs (first and last points, every sharp turn)."""

import base64
import json
import math

import numpy as np
import pytest

from optimizers import get_optimizer, run
from plots.playback_data import MAX_FRAMES, MAX_SWARM_POINTS, decimate, decimate_rows, frame_steps, playback_payload
from surfaces import get_surface


def typed(value) -> np.ndarray:
    assert set(value) >= {"dtype", "bdata"}, value
    return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))


CONFIGS = [get_optimizer("sgd", lr=1e-3, momentum=0.9), get_optimizer("adam", lr=0.05), get_optimizer("sgd", lr=0.5)]


@pytest.fixture(scope="module")
def single():
    surface = get_surface("rosenbrock")
    return run(surface, CONFIGS, [[-1.5, 2.0]], 300, compiled=False)


def test_frames_are_every_step_or_an_even_spread_with_both_ends():
    assert frame_steps(10).tolist() == list(range(11))
    f = frame_steps(20_000)
    assert f[0] == 0 and f[-1] == 20_000 and len(f) <= MAX_FRAMES and np.all(np.diff(f) > 0)
    assert np.diff(f).max() - np.diff(f).min() <= 1


def test_decimation_keeps_the_ends_and_every_sharp_turn():
    t = np.linspace(0, 1, 5000)
    line = np.stack([t, 2 * t], axis=-1)
    idx = decimate(line, 100)
    assert idx[0] == 0 and idx[-1] == 4999 and len(idx) <= 102
    zigzag = np.stack([np.arange(3000.0), np.where(np.arange(3000) % 2, 1.0, -1.0)], axis=-1)
    assert len(decimate(zigzag, 100)) == 3000  # every point is a corner: none may go
    spiral = np.stack([np.cos(np.linspace(0, 60, 4000)), np.sin(np.linspace(0, 60, 4000))], axis=-1)
    kept = decimate(spiral, 300)
    turn = np.degrees(np.abs(np.diff(np.arctan2(*np.diff(spiral[kept], axis=0).T[::-1]))))
    assert len(kept) <= 302 and np.all((turn < 25) | (turn > 335))  # the curve stays smooth where drawn


def test_runs_hold_the_engine_values_at_every_frame_in_float64(single):
    res = single
    data = json.loads(json.dumps(playback_payload(res)))  # what goes over the wire
    k, n, t, d = res.shape
    frames = typed(data["frames"])
    assert frames.tolist() == list(range(t + 1)) and data["steps"] == t and data["starts"] == 1
    for i, r in enumerate(data["runs"]):
        assert r["label"] == res.labels[i]
        assert r["path"]["dtype"] == "f8"
        np.testing.assert_array_equal(typed(r["path"]).reshape(-1, 2), res.path[i, 0])
        np.testing.assert_array_equal(typed(r["loss"]), res.loss[i, 0])
        np.testing.assert_array_equal(typed(r["grad"]).reshape(-1, 2), res.grad[i, 0])
        eff = typed(r["eff"]).reshape(-1, 2)
        np.testing.assert_array_equal(eff[:t], res.eff_lr[i, 0])
        assert np.all(np.isnan(eff[t]))  # no update from the final point
        update = typed(r["update"]).reshape(-1, 2)
        np.testing.assert_array_equal(update[:t], np.diff(res.path[i, 0], axis=0))
        assert (r["stop"], r["diverged_at"], r["converged_at"]) == (
            res.stop_index()[i, 0], res.diverged_at[i, 0], res.converged_at[i, 0])
    assert data["runs"][2]["diverged_at"] > 0  # lr 0.5 diverges: its outcome travels with it
    assert data["runs"][1]["first_name"] == "exp_avg" and data["runs"][1]["second_name"] == "exp_avg_sq"
    assert data["runs"][0]["first_name"] == "momentum_buffer" and data["runs"][0]["second"] is None
    assert set(data["arrows"]) == {"gradient", "first_moment", "update"}
    assert all(v > 0 and math.isfinite(v) for v in data["arrows"].values())
    roles = {(tr.get("meta") or {}).get("role") for tr in data["map"]["data"]}
    assert "path" in roles and "click" not in roles  # clicks are read from the pixel, exactly


def test_path_hover_names_step_point_loss_gradient_and_eff_lr(single):
    data = playback_payload(single)
    (path,) = [tr for tr in data["map"]["data"] if (tr.get("meta") or {}).get("role") == "path"
               and tr["meta"]["config"] == 1]
    custom = typed(path["customdata"]).reshape(-1, 6)
    assert "gradient" in path["hovertemplate"] and "eff. lr" in path["hovertemplate"]
    s = 17
    row = custom[custom[:, 0] == s][0]
    np.testing.assert_allclose(row[1:], [single.loss[1, 0, s], *single.grad[1, 0, s], *single.eff_lr[1, 0, s]], rtol=1e-6)


def test_a_swarm_sends_every_start_in_float32_within_its_budget():
    surface = get_surface("himmelblau")
    starts = np.random.default_rng(1).uniform(-5, 5, size=(400, 2))
    res = run(surface, CONFIGS[:2], starts, 500, compiled=False)
    data = playback_payload(res)
    frames = typed(data["swarm_frames"])
    assert frames[0] == 0 and frames[-1] == 500
    for i, pos in enumerate(data["swarm"]):
        assert pos["dtype"] == "f4"
        arr = typed(pos).reshape(len(frames), 400, 2)
        np.testing.assert_array_equal(arr, res.path[i][:, frames].transpose(1, 0, 2).astype(np.float32))
    assert len(frames) * 400 * 2 <= MAX_SWARM_POINTS


def test_decimating_many_rows_keeps_the_ends_and_the_corners_of_each():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 2001)
    smooth = np.stack([t, t ** 2], axis=-1)
    zigzag = np.stack([t, np.where(np.arange(2001) % 2, 0.01, 0.0)], axis=-1)  # a corner at every point
    walk = np.cumsum(rng.normal(size=(2001, 2)), axis=0)
    stopped = smooth.copy()
    stopped[700:] = stopped[700]  # frozen after its stop
    rows = np.stack([smooth, zigzag, walk, stopped])
    stops = np.array([2000, 2000, 2000, 700])
    for row, stop, idx in zip(rows, stops, decimate_rows(rows, stops, 300)):
        assert idx[0] == 0 and idx[-1] == stop and np.all(np.diff(idx) > 0)
        assert set(decimate(row[: stop + 1], 300)) - set(idx) <= set(np.round(np.linspace(0, stop, 300)).astype(int))
    assert len(decimate_rows(rows, stops, 300)[0]) <= 302 and len(decimate_rows(rows, stops, 300)[1]) == 2001


def test_the_moments_recurrences_are_offered_only_where_torchs_state_follows_them():
    """b_t = mu b_{t-1} + (1 - tau) g_t and Adam's m_t, v_t, checked on torch.optim's own state;
    coupled weight decay folds into the gradient, so Adam with it has none."""
    import torch

    from plots.recurrences import recurrences

    surface = get_surface("rosenbrock")
    configs = [get_optimizer("sgd", lr=1e-3, momentum=0.9, dampening=0.3), get_optimizer("adam", lr=0.01),
               get_optimizer("adam", lr=0.01, weight_decay=0.1)]
    res = run(surface, configs, [(-1.5, 2.0)], 30, compiled=False)
    sgd, adam, decayed = (recurrences(res, k) for k in range(3))
    assert [(r["symbol"], r["coef"], r["gain"], r["state"]) for r in sgd] == [("b", 0.9, 0.7, "first")]
    assert [(r["symbol"], r["coef"], r["square"]) for r in adam] == [("m", 0.9, False), ("v", 0.999, True)]
    assert decayed == []
    # torch's buffers follow the same recurrences, and the Result holds torch's buffers
    p = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1e-3, momentum=0.9, dampening=0.3)
    buffers, grads = [], []
    for _ in range(5):
        opt.zero_grad()
        loss = (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2
        loss.backward()
        grads.append(p.grad.detach().clone().numpy())
        opt.step()
        buffers.append(opt.state[p]["momentum_buffer"].detach().clone().numpy())
    for t in range(1, 5):
        np.testing.assert_allclose(buffers[t], 0.9 * buffers[t - 1] + 0.7 * grads[t], rtol=1e-12)
        np.testing.assert_allclose(res.state["momentum_buffer"][0, 0, t], buffers[t], rtol=1e-12)


def test_second_moment_boxes_are_one_over_sqrt_v_of_torchs_adam_state_at_one_scale_per_run():
    """Each run's box half-sides are 1/sqrt(v) of its second moment (Adam: torch.optim.Adam's
    exp_avg_sq after each step of a torch loop on the same surface from the same start; RMSProp:
    the Result's square_avg), SGD has none, and the one scale of the run makes the largest
    half-side over every frame BOX_FRACTION of the shorter side of the map."""
    import torch

    from plots.internals import BOX_FRACTION

    surface = get_surface("rosenbrock")
    configs = [get_optimizer("sgd", lr=1e-3), get_optimizer("adam", lr=0.05, betas=(0.8, 0.99)),
               get_optimizer("rmsprop", lr=1e-2)]
    res = run(surface, configs, [(-1.5, 2.0)], 60, compiled=False)
    data = json.loads(json.dumps(playback_payload(res)))
    sgd, adam, rms = data["runs"]
    assert sgd["box"] is None
    adam_box = typed(adam["box"]).reshape(-1, 2)
    rms_box = typed(rms["box"]).reshape(-1, 2)
    assert np.all(np.isnan(adam_box[60])) and np.all(np.isnan(rms_box[60]))  # s = T: no update
    p = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.05, betas=(0.8, 0.99))
    for s in range(8):
        opt.zero_grad()
        surface.value(p, torch).backward()  # autograd's gradient, not the surface's own
        opt.step()
        v = opt.state[p]["exp_avg_sq"].detach().numpy()
        np.testing.assert_allclose(adam_box[s], 1 / np.sqrt(v), rtol=1e-9)
    np.testing.assert_allclose(rms_box[:60], 1 / np.sqrt(res.state["square_avg"][2, 0]), rtol=1e-12)
    (x0, x1), (y0, y1) = surface.bounds
    largest = max(np.nanmax(adam_box), np.nanmax(rms_box))  # every point stays inside the frame here
    assert np.all((res.path[..., 0] >= x0) & (res.path[..., 0] <= x1) & (res.path[..., 1] >= y0) & (res.path[..., 1] <= y1))
    assert data["boxes"]["fraction"] == BOX_FRACTION
    assert data["boxes"]["scale"] * largest == pytest.approx(BOX_FRACTION * min(x1 - x0, y1 - y0), rel=1e-12)


def test_a_zero_or_missing_second_moment_draws_no_box():
    """v = 0 (a start at the minimum: the gradient is 0, so is v) and NaN give NaN half-sides, and
    a run whose boxes are all undefined has no box scale."""
    from plots.internals import step_scale

    np.testing.assert_array_equal(np.isnan(step_scale(np.array([[0.0, 4.0], [np.nan, -1.0]]))),
                                  [[True, False], [True, True]])
    assert step_scale(np.array([4.0]))[0] == 0.5
    res = run(get_surface("rosenbrock"), [get_optimizer("adam", lr=0.01)], [(1.0, 1.0)], 5, compiled=False)
    data = playback_payload(res)
    assert np.all(np.isnan(typed(data["runs"][0]["box"])))
    assert data["boxes"]["scale"] is None


def test_each_arrow_kind_has_its_own_head_and_dash():
    """Colour is the optimizer's: the three kinds differ in their line (dash) and their head."""
    kinds = playback_payload(run(get_surface("rosenbrock"), [get_optimizer("adam", lr=0.01)], [(-1.5, 2.0)], 3,
                                 compiled=False))["arrow_kinds"]
    assert [k["key"] for k in kinds] == ["gradient", "first_moment", "update"]
    assert len({(k["line"].get("dash"), k["head"]) for k in kinds}) == 3
    assert len({k["head"] for k in kinds}) == 3 and len({k["line"].get("dash") for k in kinds}) == 3
