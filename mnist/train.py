"""Train K optimizer configurations of the MNIST MLP side by side, streaming partial results.

Every configuration starts from the same weights (`mlp.init_params(hidden, seed)`) and sees the
same mini-batches in the same order (`batch_indices`). Parameters are one array p [K, 1, P];
configurations sharing a rule and its non-lr hyperparameters form a group that one call of the
rule from optimizers/ advances, with the scheduled learning rates as a [k, 1, 1] array. Each
step: forward/backward of all K models on the batch, divergence check, the L1 subgradient and
clipping (global norm per model, or per entry), the rule per group (then its proximal L1 step),
and the records. A rule that evaluates the loss within its step (L-BFGS) gets a closure over
the step's mini-batch instead (mnist.closure_rule: torch's optimizer.step(closure)). A
ReduceLROnPlateau schedule lowers its configuration's lr from each validation evaluation on
(`_Plateaus`).

`train_stream(config, data)` is a generator: it yields a `TrainResult` after the first step, every
`every` steps, and a final one (`done=True`) holding the evaluation on the whole validation set.
`stop()` returning True ends training early; the final result then keeps everything computed
(`stopped=True`). `train(config, data)` runs to the end and returns the final result.

Divergence: a model whose training loss is not finite or above LOSS_BOUND is marked
(`diverged_at`), its parameters are held at their last finite values, and its records after
that step are NaN; the others go on.

Nothing here imports Streamlit or Plotly.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from optimizers import MAX_CONFIGS, OptimizerConfig, get_optimizer, kernels
from optimizers import stepper as st
from optimizers import transforms as tf
from optimizers.schedules import plateau_start, plateau_step

from .closure_rule import ClosureRule
from .mlp import DTYPES, Layout, eval_chunks, evaluate_chunks, init_params, make_model, one_thread

MAX_STEPS = 200_000
MAX_BATCH = 4096
LOSS_BOUND = 1e4  # cross-entropy; ln(10) ~ 2.3 at chance: far beyond any run still training
QUANTILES = (0.1, 0.5, 0.9)
N_RECORDS = 100  # effective-lr records over a run
SMALL_WEIGHT = 1e-3  # |w| below this counts as zero in the sparsity record (exactly 0 for proximal L1)
QUANTILE_SAMPLE = 8192  # parameters per layer the percentiles are taken over (all of a smaller layer)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; hashable, so it keys caches.

    optimizers: K configurations from optimizers.get_optimizer (their weight_decay applies).
    hidden: H; batch_size: B; steps: T optimizer steps (epochs * steps_per_epoch for whole epochs).
    seed: initial weights and batch order. clip_norm / clip_value: gradient clipping (None = off).
    backend: "numpy" (hand-written backprop) or "torch" (autograd); dtype: "float32" or "float64".
    eval_every: steps between validation evaluations (None: about 40 over the run, fewer when
        that would cost more than about a sixth of the training's products).
    eval_size: validation images used at those evaluations (a fixed seeded subset; 0 = all);
        the final evaluation always uses the whole validation set.
    snapshots: number of intervals between parameter snapshots (snapshots + 1 points).
    source: label of the data the run uses (keys caches; the arrays are passed to train_stream).
    bias_optimizer: the AdamW configuration (its lr, betas, eps, weight_decay and schedule) that steps
        the biases of every configuration whose rule takes matrices only (Muon, as it is used in
        practice: torch.optim.Muon on the weight matrices, torch.optim.AdamW on the biases);
        None: get_optimizer("adamw") (torch's defaults).
    """

    optimizers: tuple[OptimizerConfig, ...]
    hidden: int = 64
    batch_size: int = 64
    steps: int = 250
    seed: int = 0
    clip_norm: float | None = None
    clip_value: float | None = None
    backend: str = "numpy"
    dtype: str = "float32"
    eval_every: int | None = None
    eval_size: int = 1000
    snapshots: int = 25
    source: str = "embedded"
    bias_optimizer: OptimizerConfig | None = None

    def __post_init__(self):
        opts = self.optimizers
        if isinstance(opts, OptimizerConfig):
            opts = (opts,)
        object.__setattr__(self, "optimizers", tuple(opts))
        if not 1 <= len(self.optimizers) <= MAX_CONFIGS:
            raise ValueError(f"Invalid number of optimizers: {len(self.optimizers)} (allowed 1 to {MAX_CONFIGS})")
        for c in self.optimizers:
            if not isinstance(c, OptimizerConfig):
                raise ValueError(f"Invalid optimizer {c!r}: build one with optimizers.get_optimizer(...)")
            if c.info.two_d_only:
                raise ValueError(f"Invalid optimizer {c.name!r}: it runs on the 2-D surfaces only ({c.info.two_d_only})")
        if self.bias_optimizer is None:
            object.__setattr__(self, "bias_optimizer", get_optimizer("adamw"))
        if not isinstance(self.bias_optimizer, OptimizerConfig) or self.bias_optimizer.name != "adamw":
            raise ValueError(f"Invalid bias_optimizer {self.bias_optimizer!r}: an AdamW configuration, "
                             "optimizers.get_optimizer('adamw', ...), or None for its defaults")
        Layout(self.hidden)
        _check_int("batch_size", self.batch_size, 1, MAX_BATCH)
        _check_int("steps", self.steps, 1, MAX_STEPS)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("eval_size", self.eval_size, 0, 10**7)
        _check_int("snapshots", self.snapshots, 1, 1000)
        if self.eval_every is not None:
            _check_int("eval_every", self.eval_every, 1, MAX_STEPS)
        for name in ("clip_norm", "clip_value"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0 < value < math.inf):
                raise ValueError(f"Invalid {name}: {value!r} (must be a positive number, or None for off)")
        if self.backend not in ("numpy", "torch"):
            raise ValueError(f"Invalid backend: {self.backend!r} (allowed numpy, torch)")
        if self.dtype not in DTYPES:
            raise ValueError(f"Invalid dtype: {self.dtype!r} (allowed {', '.join(DTYPES)})")

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.optimizers)


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"Invalid {name}: {value!r} (must be a whole number in {low}..{high})")


@dataclass
class TrainResult:
    """Records of a run so far (shapes for K configurations, T steps done, L = 2 layers).

    loss:       [K, T] training loss of each step's mini-batch (at the parameters before the step;
                the cross-entropy, without the L1 term)
    grad_norm:  [K, L, T] per-layer norm of that mini-batch gradient (before the L1 term and clipping)
    eval_steps: [E] steps at which the validation subset was evaluated (parameters after s steps;
                0, 1, 2, 4, ... then every eval_every steps, see cadence)
    val_loss, val_acc: [K, E] on the validation subset
    record_steps: [R] steps whose update the effective lr records belong to (1-based step t;
                1, 2, 4, ... then every T / N_RECORDS steps)
    eff_lr:     [K, L, 3, R] per-layer 10th, 50th, 90th percentile of the effective lr, over the
                layer's parameters (a fixed sample of QUANTILE_SAMPLE for larger layers, see
                quantile_samples)
    sparsity:   [K, L, R] fraction of the layer's weights (W1, W2; not the biases) that are exactly
                0 (a proximal L1 configuration) or below SMALL_WEIGHT in size (any other), after
                the record_steps' updates
    lr:         [K, T] the lr each step used (float64): the schedule's, lowered by ReduceLROnPlateau
                from each evaluation on; filled ahead of steps_done with the lr planned so far
    n_evals:    [K, T] the mini-batch loss-and-gradient evaluations each step made (float64): 1 for
                a rule taking one gradient a step, the closure calls of L-BFGS's step(closure)
                (its first at the step's start, up to max_eval + 1 with the line search)
    snapshot_steps: [S]; snapshots: [K, S, P] parameters after s steps (for the landscape)
    diverged_at: [K] first step whose loss was not finite (or above LOSS_BOUND), -1 if none
    final_params: [K, P] parameters at the end (held at the last finite values when diverged)
    final_val_loss, final_val_acc: [K] on the whole validation set (only when done)
    elapsed: seconds since the run started (training, records, evaluations); eval_seconds: the
    part of it spent evaluating on validation images; total_steps: T planned.
    NaN marks records after a divergence. Arrays are NumPy (float64 records, params in the
    run's dtype). A streamed (not done) result's arrays are views of buffers still being filled
    past its `steps_done`.
    """

    config: TrainConfig
    steps_done: int
    total_steps: int
    loss: np.ndarray
    grad_norm: np.ndarray
    eval_steps: np.ndarray
    val_loss: np.ndarray
    val_acc: np.ndarray
    record_steps: np.ndarray
    eff_lr: np.ndarray
    snapshot_steps: np.ndarray
    snapshots: np.ndarray
    diverged_at: np.ndarray
    elapsed: float
    eval_seconds: float
    layer_names: tuple[str, ...]
    sparsity: np.ndarray | None = None
    lr: np.ndarray | None = None
    n_evals: np.ndarray | None = None
    done: bool = False
    stopped: bool = False
    final_params: np.ndarray | None = None
    final_val_loss: np.ndarray | None = None
    final_val_acc: np.ndarray | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    @property
    def steps_per_second(self) -> float:
        return self.steps_done / self.elapsed if self.elapsed > 0 else 0.0


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Mini-batches in one pass over n examples (the last one may be smaller, as DataLoader)."""
    return -(-n // batch_size)


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Example indices of the mini-batch of 0-based `step`: a seeded reshuffle per epoch.

    Epoch e uses np.random.default_rng([seed, e]).permutation(n), cut into consecutive batches
    of batch_size (the last one smaller when batch_size does not divide n).
    """
    per = steps_per_epoch(n, batch_size)
    epoch, i = divmod(step, per)
    perm = _permutation(n, seed, epoch)
    return perm[i * batch_size:(i + 1) * batch_size]


_PERM_CACHE: dict = {}


def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    key = (n, seed, epoch)
    if key not in _PERM_CACHE:
        if len(_PERM_CACHE) > 64:
            _PERM_CACHE.clear()
        _PERM_CACHE[key] = np.random.default_rng([seed, epoch]).permutation(n)
    return _PERM_CACHE[key]


def eval_subset(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of the validation images evaluated during training (all when size is 0 or >= n)."""
    if size == 0 or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 1_000_003]).choice(n, size, replace=False))


def quantile_samples(layout: Layout, seed: int) -> list[np.ndarray]:
    """Per layer, the indices (into the flat vector) whose effective lr the percentiles are taken over.

    Exact percentiles of ~100k values cost ~1.5 ms per model and record; a fixed random sample of
    QUANTILE_SAMPLE of them (same for every configuration and step) puts the 10th percentile
    within about +-0.3 percentile points for ~1/12 of that. Layers up to that size: all indices.
    """
    rng = np.random.default_rng([seed, 2])
    out = []
    for sl in layout.layers.values():
        idx = np.arange(sl.start, sl.stop)
        out.append(idx if len(idx) <= QUANTILE_SAMPLE else np.sort(rng.choice(idx, QUANTILE_SAMPLE, replace=False)))
    return out


def eff_quantiles(eff: np.ndarray, samples: list[np.ndarray]) -> np.ndarray:
    """[k, L, 3] float64 10th, 50th, 90th percentiles of eff [k, P] over each layer's sampled entries.

    np.quantile's default ("linear") method on a sorted sample: NumPy's vectorised sort is several
    times faster than np.quantile's partition for three percentiles, and this runs on a hundred
    steps of a run.
    """
    out = np.empty((eff.shape[0], len(samples), len(QUANTILES)))
    for layer, idx in enumerate(samples):
        values = np.sort(eff[:, idx], axis=1)
        pos = np.array(QUANTILES) * (values.shape[1] - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, values.shape[1] - 1)
        a, b, frac = values[:, lo].astype(np.float64), values[:, hi].astype(np.float64), pos - lo
        out[:, layer] = np.where(frac >= 0.5, b - (b - a) * (1 - frac), a + (b - a) * frac)
        out[np.isnan(values[:, -1]), layer] = np.nan  # sorting puts NaN last; np.quantile gives NaN
    return out


def cadence(total: int, every: int) -> np.ndarray:
    """Steps 0, 1, 2, 4, 8, ... below `every`, then every `every`-th step, and `total`.

    Records planned for a long run come early too, where most happens (and a run stopped early
    or watched live has points to show).
    """
    early = [0] + [2**i for i in range(every.bit_length()) if 2**i < every]
    return np.unique(np.r_[early, np.arange(0, total + 1, every), total])


def schedule_steps(total: int, count: int) -> np.ndarray:
    """About `count` + 1 distinct steps from 0 to total, evenly spaced, both ends included."""
    return np.unique(np.round(np.linspace(0, total, min(count, total) + 1)).astype(np.int64))


def warm_kernels(config: TrainConfig) -> None:
    """Load the compiled kernels a run of `config` uses, and start compiling (in a background
    process) those this machine lacks, so that a run started later finds them ready.

    Nothing happens for the torch backend or with OPTVIS_COMPILE=0.
    """
    if config.backend != "numpy" or not kernels.cache.AUTO:
        return
    kernels.mlp_step_kernels(wait=False)
    for optimizer in config.optimizers:
        kernels.compiled_update(optimizer, wait=False)


def train(config: TrainConfig, data, **kwargs) -> TrainResult:
    """Run `train_stream` to the end and return its final result."""
    return collections.deque(train_stream(config, data, **kwargs), maxlen=1)[0]


def train_stream(
    config: TrainConfig,
    data,
    *,
    stop: Callable[[], bool] | None = None,
    every: int = 10,
    device: str = "cpu",
    init: np.ndarray | None = None,
    workers: int | None = None,
    use_kernels: bool | None = None,
) -> Iterator[TrainResult]:
    """Train every configuration of `config` on `data`, yielding partial results as it goes.

    data: anything with x_train [n, 784] float32 in [0, 1], y_train [n] int, x_val, y_val
        (mnist.data.MnistData).
    stop: polled after the first step and then every `every` steps (the shards meet only there);
        True ends training, keeping what was computed.
    every: steps between yielded partial results (one is yielded after the first step).
    init: one model's initial parameters [P] (default: init_params(hidden, seed)).
    workers: threads the K models are split over (default: up to 2, one per core); the numbers
        do not depend on it.
    use_kernels: the NumPy backend's compiled kernels (optimizers.kernels): the rules fused into
        one loop each and the elementwise steps of the forward/backward pass.
        True compiles what is missing first, False keeps the array code, None (default) uses the
        kernels already compiled on this machine and compiles the others in the background for
        later runs (OPTVIS_COMPILE=0: the array code).
    Raises ValueError for a batch size larger than the training set.
    """
    x_train, y_train = np.asarray(data.x_train), np.asarray(data.y_train)
    n = len(x_train)
    if config.batch_size > n:
        raise ValueError(f"Invalid batch_size: {config.batch_size} (the training set has {n:,} images)")
    _check_int("every", every, 1, MAX_STEPS)
    started = time.perf_counter()
    k, total = len(config.optimizers), config.steps
    order, groups = st.group_configs(config.optimizers)  # internal row r is configuration order[r]
    use_compiled = config.backend == "numpy" and (use_kernels if use_kernels is not None else kernels.cache.AUTO)
    wait = bool(use_kernels)
    steps_compiled = kernels.mlp_step_kernels(wait=wait) if use_compiled else None
    shards = _Shards(config, groups, workers or min(2, os.cpu_count() or 1), device, steps_compiled)
    model, xp = shards.models[0], shards.models[0].xp
    lr64 = st.lr_table(config.optimizers, total, metric=True)  # [K, T] float64, caller order (the record)
    lr_table = lr64[order].astype(model.dtype)  # internal rows: what the array code steps with
    chain = tf.chain(False, config.clip_norm, config.clip_value, tf.uses_l1_subgradient(config.optimizers))
    bounds = {"clip_norm": config.clip_norm, "clip_value": config.clip_value}
    l1 = model.asarray(st.l1_rows(shards.groups))  # [K, 1, 1] internal rows

    flat = init_params(config.hidden, config.seed, config.dtype) if init is None else np.asarray(init, model.dtype)
    if flat.shape != (model.layout.size,):
        raise ValueError(f"Invalid init: shape {flat.shape}, expected ({model.layout.size},)")
    # two parameter buffers [K, 1, P]: step t reads one and writes the other
    buffers = [model.asarray(np.broadcast_to(flat, (k, 1, model.layout.size)).copy()) for _ in range(2)]
    p = buffers[0]
    layered = [_LayerRule(grp.config, model.layout, config.bias_optimizer, total, model) if grp.config.info.matrix_rule
               else None for grp in shards.groups]
    closures = {j: ClosureRule(shards.groups[j], config, shards.models[i], chain, bounds, device)
                for i, ids in enumerate(shards.members) for j in ids
                if shards.groups[j].config.info.closure_calls is not None}
    own_rules = [layered[j] or closures.get(j) for j in range(len(shards.groups))]
    states = [rule.init(p[grp.start:grp.stop], xp) if rule else st.init_states([grp], p, xp)[0]
              for grp, rule in zip(shards.groups, own_rules)]
    updates = _FusedUpdates(shards.groups, states, lr_table, use_compiled, wait)
    rec = _Recorder(config, data, model, shards, order, started, lr64)

    def set_lr(row: int, step: int, lr: float) -> None:
        """Internal row `row` steps with `lr` from 0-based step `step` on, in every lr table."""
        if step >= total:
            return
        lr64[order[row], step:] = lr
        lr_table[row, step:] = lr
        updates.lr[step:, row] = lr_table[row, step]

    plateaus = _Plateaus([config.optimizers[i] for i in order], set_lr)

    def advance(i: int, t: int, p, out, xb, yb, record: bool):
        """Shard i's rows: loss and gradient, clipping, the rule of each of its groups into out.
        Returns (loss [k], layer norms [k, L], eff-lr quantiles or None, loss evaluations [k])."""
        a, b = shards.spans[i]
        loss, raw = shards.models[i].loss_grad(p[a:b], xb, yb)
        norms = shards.models[i].layer_norms(raw)
        g = tf.apply(chain, raw, {**bounds, "l1": (p[a:b], l1[a:b])}, xp)
        effs, evals = [], np.ones(b - a)
        for j in shards.members[i]:
            grp = shards.groups[j]
            lr = model.asarray(lr_table[grp.start:grp.stop, t].reshape(-1, 1, 1))
            if j in closures:  # step(closure): its first call is at p, computed above with the shard
                own = slice(grp.start - a, grp.stop - a)
                out[grp.start:grp.stop], states[j], eff, n = closures[j].step(
                    p[grp.start:grp.stop], (loss[own], raw[own]), xb, yb, states[j], t + 1, lr, xp)
                evals[own] = shards.models[i].to_numpy(n).reshape(-1)
                effs.append(eff)
                continue
            if updates.kernels[j] is not None:
                effs.append(updates.apply(j, t, p, g[grp.start - a:grp.stop - a], out, record))
                if grp.config.l1_proximal > 0:
                    out[grp.start:grp.stop] = st.proximal(grp, out[grp.start:grp.stop], lr, xp)
                continue
            rows, grad = p[grp.start:grp.stop], g[grp.start - a:grp.stop - a]
            if layered[j] is not None:
                out[grp.start:grp.stop], states[j], eff = layered[j].step(rows, grad, states[j], t + 1, lr, xp)
            else:
                out[grp.start:grp.stop], states[j], eff = st.step(grp, rows, grad, states[j], t + 1, lr, xp)
            effs.append(eff)
        quantiles = None
        if record:  # here, so the two shards share the work
            eff = np.concatenate([shards.models[i].to_numpy(e) for e in effs], axis=0)[:, 0]
            quantiles = eff_quantiles(eff, rec.samples)
        return loss, norms, quantiles, evals

    def run(i: int, t0: int, t1: int) -> None:
        """Shard i trains its rows from step t0 to t1 (0-based, t1 excluded) and records them.

        The shards share nothing but the read-only inputs and disjoint rows of the buffers and
        the records, so they only meet at the ends of these chunks.
        """
        a, b = shards.spans[i]
        rows, shard = slice(a, b), shards.models[i]
        batch_buffers: dict[int, np.ndarray] = {}
        for t in range(t0, t1):
            idx = batch_indices(n, config.batch_size, config.seed, t)
            xb = batch_buffers.setdefault(len(idx), np.empty((len(idx), x_train.shape[1]), x_train.dtype))
            np.take(x_train, idx, axis=0, out=xb)
            p, out = buffers[t % 2], buffers[(t + 1) % 2]
            loss, norms, quantiles, evals = advance(i, t, p, out, shard.prepare_batch(xb), shard.asarray(y_train[idx]),
                                                    t + 1 in rec.record_col)
            rec.step(t, rows, loss, norms, evals)
            frozen = rec.frozen[rows]
            if frozen.any():  # diverged models stay at their last finite parameters
                held = frozen if model.backend == "numpy" else model.asarray(frozen)
                out[rows][held] = p[rows][held]
            val_loss = rec.after_update(i, rows, t + 1, out[rows], quantiles)
            if val_loss is not None:
                plateaus.observe(a, t + 1, val_loss)

    stopped, t = False, 0
    try:
        with np.errstate(all="ignore"), one_thread(config.backend == "torch"):
            shards.map(lambda i: rec.start(i, slice(*shards.spans[i]), buffers[0][slice(*shards.spans[i])]))
            while t < total:
                if stop is not None and stop():
                    stopped = True
                    break
                t1 = 1 if t == 0 else min(total, (t // every + 1) * every)  # yields after step 1, then every
                shards.map(functools.partial(run, t0=t, t1=t1))
                t = rec.steps_done = t1
                if t < total:
                    yield rec.result()
            p = buffers[t % 2]
            val = eval_chunks(model, rec.x_val, rec.y_val)
            shards.map(lambda i: rec.finish(i, slice(*shards.spans[i]), p[slice(*shards.spans[i])], val))
            yield rec.final_result(p, stopped)
    finally:
        shards.close()


class _Plateaus:
    """ReduceLROnPlateau for every internal row whose schedule is `plateau`, stepped with the row's
    validation loss at each evaluation after a training step (step 0's is not one): the row's
    lr from the next step on goes to `set_lr(row, step, lr)`.

    Each row has its own scheduler (torch's with one param group), so shards update their own
    rows without meeting.
    """

    def __init__(self, configs, set_lr: Callable[[int, int, float], None]):
        self.params = {r: dict(c.schedule.params) for r, c in enumerate(configs) if c.schedule.name == "plateau"}
        self.states = {r: plateau_start(configs[r].lr, params) for r, params in self.params.items()}
        self.set_lr = set_lr

    def observe(self, first: int, steps_done: int, val_loss: np.ndarray) -> None:
        """Internal rows first, first + 1, ... were evaluated after `steps_done` steps: val_loss [k]."""
        for offset, metric in enumerate(val_loss):
            row = first + offset
            if row in self.states:
                before = self.states[row].lr
                self.states[row] = plateau_step(self.states[row], float(metric), self.params[row])
                if self.states[row].lr != before:
                    self.set_lr(row, steps_done, self.states[row].lr)


class _FusedUpdates:
    """The fused kernel of each group (None: the group runs its rule through the array code).

    A fused group's states are updated in place; the effective lr is written to a buffer of
    the group's shape only on steps that record it.
    """

    def __init__(self, groups, states: list[dict], lr_table: np.ndarray, use: bool, wait: bool):
        # a matrix rule's group runs its layers through the array code (_LayerRule), a closure rule's
        # its step(closure) (ClosureRule)
        self.kernels = [kernels.compiled_update(g.config, wait=wait)
                        if use and not g.config.info.matrix_rule and g.config.info.closure_calls is None else None
                        for g in groups]
        self.groups, self.states = groups, states
        self.lr = np.ascontiguousarray(lr_table.T, dtype=np.float64)  # [T, K]: a step's lrs are contiguous
        self.names, self.hpv, self.eff = [], [], []
        for j, g in enumerate(groups):
            traced = kernels.update_kernel(g.config) if self.kernels[j] is not None else None
            self.names.append(traced.state_names if traced else ())
            self.hpv.append(np.array(kernels.hp_values(g.config, traced.hp_names) if traced else [], np.float64))
            if traced:
                for name in traced.state_names:
                    states[j][name] = np.ascontiguousarray(states[j][name])
            self.eff.append(None)

    def apply(self, j: int, t: int, p, g, out, record: bool):
        """Group j's update at 0-based step t: p [K, 1, P] -> out; returns its eff [k, 1, P] or None."""
        grp = self.groups[j]
        rows = slice(grp.start, grp.stop)
        if record and self.eff[j] is None:
            self.eff[j] = np.empty_like(p[rows])
        eff = self.eff[j] if record else out[rows]  # not written unless recording
        self.kernels[j](p[rows, 0], g[:, 0], out[rows, 0], eff[:, 0], record, self.lr[t, rows], self.hpv[j],
                        float(t + 1), *[self.states[j][name][:, 0] for name in self.names[j]])
        return eff if record else None


class _LayerRule:
    """A group whose rule takes matrices (OptimizerInfo.matrix_rule), layer by layer on the array code.

    Each model's W1 and W2 go through the matrix rule as [k, out, in] (torch.nn.Linear's
    orientation, Layout.tensors), b1 and b2 [k, 1, out] through the rule's vector form, or through
    `bias_optimizer` where the rule sends its vectors elsewhere (Muon: AdamW, with its own lr
    schedule). Every tensor has its own state, as in a torch.optim optimizer over net.parameters().
    A proximal L1 penalty soft-thresholds each tensor by the lr that stepped it times l1 (the
    biases of Muon by AdamW's lr: each optimizer's own step, then its own proximal step).
    """

    def __init__(self, config: OptimizerConfig, layout: Layout, bias_optimizer: OptimizerConfig, steps: int, model):
        info = config.info
        self.config, self.layout, self.model = config, layout, model
        self.bias = bias_optimizer if info.vectors_to else config
        self.bias_lr = st.lr_table([self.bias], steps)[0] if info.vectors_to else None  # [T]

    def _rule(self, name: str):
        info = self.config.info
        if name[0] == "W":
            return info.matrix_rule, info.matrix_init, self.config.hp
        return self.bias.info.rule, self.bias.info.init, self.bias.hp

    def init(self, p, xp) -> dict:
        """{tensor name: its state} for the group's rows p [k, 1, P]."""
        return {name: self._rule(name)[1](x, self._rule(name)[2], xp) for name, x in self.layout.tensors(p, xp).items()}

    def step(self, p, g, state: dict, t: int, lr, xp) -> tuple:
        """(p_new [k, 1, P], state_new, eff_lr [k, 1, P]) for p, g [k, 1, P]; t 1-based, lr [k, 1, 1];
        p_new after the proximal L1 step, if any."""
        params, grads = self.layout.tensors(p, xp), self.layout.tensors(g, xp)
        if self.bias_lr is not None:
            bias_lr = self.model.asarray(np.full((p.shape[0], 1, 1), self.bias_lr[t - 1]))
        new, effs, new_state = {}, {}, {}
        strength = self.config.l1_proximal
        for name, x in params.items():
            rule, _, hp = self._rule(name)
            rate = bias_lr if name[0] == "b" and self.bias_lr is not None else lr
            new[name], new_state[name], effs[name] = rule(x, grads[name], state[name], t, rate, hp, xp)
            if strength > 0:
                new[name] = tf.soft_threshold(new[name], rate * strength, xp)
        return self.layout.flatten(new, xp), new_state, self.layout.flatten(effs, xp)


def _quietly(fn, *args):
    with np.errstate(all="ignore"):
        return fn(*args)


class _Shards:
    """The K internal rows split into contiguous shards, one thread each, with a model per shard.

    Rows are independent (each model has its own parameters; the rules are elementwise per row,
    norms run over the last axis), so a shard's forward/backward and updates give the same
    numbers as one batched call. A group crossing a shard boundary is split in two (each half
    then keeps its own optimizer state).
    """

    def __init__(self, config: TrainConfig, groups, workers: int, device: str, kernels=None):
        k = len(config.optimizers)
        n = max(1, min(workers, k))
        bounds = [round(i * k / n) for i in range(n + 1)]
        self.spans = list(zip(bounds[:-1], bounds[1:]))
        self.groups = []
        self.members: list[list[int]] = []
        for a, b in self.spans:
            ids = []
            for grp in groups:
                lo, hi = max(grp.start, a), min(grp.stop, b)
                if lo < hi:
                    ids.append(len(self.groups))
                    self.groups.append(dataclasses.replace(grp, start=lo, stop=hi))
            self.members.append(ids)
        self.models = [make_model(config.backend, config.hidden, b - a, config.dtype, device, kernels)
                       for a, b in self.spans]
        self.pool = ThreadPoolExecutor(n - 1, thread_name_prefix="mnist-shard") if n > 1 else None

    def map(self, fn) -> list:
        """[fn(i) for every shard i], the first in this thread, the others in the pool.

        NumPy's error state is per thread: the pool's calls get the same `all="ignore"` as the
        training loop (a diverging model overflows on purpose until it is caught).
        """
        futures = [self.pool.submit(_quietly, fn, i) for i in range(1, len(self.spans))] if self.pool else []
        first = fn(0)
        return [first] + [f.result() for f in futures]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False)


class _Recorder:
    """The records of one run in preallocated arrays, in the caller's configuration order.

    Internal arrays (parameters, losses from the model) have row r = configuration order[r]; each
    shard writes the rows of its internal slice, at `order[rows]`. The step of every record
    column is fixed up front (eval_at, record_at, snap_at), so the shards need no shared counter;
    a run that stops early evaluates and snapshots its last step in the first column left over.
    """

    def __init__(self, config: TrainConfig, data, model, shards: _Shards, order: np.ndarray, started: float,
                 lr: np.ndarray):
        self.config, self.model, self.shards, self.started = config, model, shards, started
        self.order = order
        self.lr = lr  # [K, T] float64, caller order: the lr each step uses
        k, total = len(config.optimizers), config.steps
        self.layers = tuple(model.layout.layers)
        n_layers = len(self.layers)
        self.x_val, self.y_val = np.asarray(data.x_val), np.asarray(data.y_val)
        subset = eval_subset(len(self.x_val), config.eval_size, config.seed)
        self.eval_chunks = eval_chunks(model, self.x_val[subset], self.y_val[subset])
        # an evaluation of n images costs the first layer's products of about n / (2 B) training steps
        # (a step has two: the forward pass and the weight gradient): every 3 n / B steps is a sixth
        every = config.eval_every or max(1, round(total / 40), -(-3 * len(subset) // config.batch_size))
        self.eval_at = cadence(total, every)
        self.record_at = cadence(total, max(1, round(total / N_RECORDS)))[1:]
        self.snap_at = schedule_steps(total, config.snapshots)
        self.eval_col = {int(s): c for c, s in enumerate(self.eval_at)}
        self.record_col = {int(s): c for c, s in enumerate(self.record_at)}
        self.snap_col = {int(s): c for c, s in enumerate(self.snap_at)}
        self.samples = quantile_samples(model.layout, config.seed)

        self.loss = np.full((k, total), np.nan)
        self.n_evals = np.full((k, total), np.nan)
        self.grad_norm = np.full((k, n_layers, total), np.nan)
        self.eval_steps = np.r_[self.eval_at, 0].astype(np.int64)  # one column spare, for a stop
        self.val_loss = np.full((k, len(self.eval_steps)), np.nan)
        self.val_acc = np.full((k, len(self.eval_steps)), np.nan)
        self.record_steps = self.record_at.astype(np.int64)
        self.eff_lr = np.full((k, n_layers, len(QUANTILES), len(self.record_steps)), np.nan)
        self.sparsity = np.full((k, n_layers, len(self.record_steps)), np.nan)
        offsets = model.layout.offsets
        self.weights = [slice(*offsets["W1"]), slice(*offsets["W2"])]  # per layer, in the flat vector
        self.exact_zero = np.array([c.l1_proximal > 0 for c in config.optimizers])[order]  # internal rows
        self.snapshot_steps = np.r_[self.snap_at, 0].astype(np.int64)
        self.snapshots = np.zeros((k, len(self.snapshot_steps), model.layout.size), model.dtype)
        self.final_val = np.full((2, k), np.nan)  # loss, accuracy on the whole validation set
        self.steps_done = 0
        self.eval_seconds = [0.0] * len(shards.spans)
        self.diverged_at = np.full(k, -1)
        self.frozen = np.zeros(k, dtype=bool)  # internal order
        self.extra_eval = self.extra_snap = False  # a stopped run's last step took a spare column

    def start(self, i: int, rows: slice, p) -> None:
        """Shard i's records of the initial parameters p [k, 1, P] (its rows)."""
        self.evaluate(i, rows, p, self.eval_col[0])
        self.snapshot(rows, p, self.snap_col[0])

    def step(self, t: int, rows: slice, loss: np.ndarray, norms: np.ndarray, evals: np.ndarray) -> None:
        """Step t's (0-based) mini-batch loss [k], layer gradient norms [k, L] and loss evaluations
        [k] of internal rows; marks divergence."""
        frozen = self.frozen[rows]
        bad = ~(np.abs(loss) <= LOSS_BOUND) & ~frozen
        if bad.any():
            frozen |= bad
            self.frozen[rows] = frozen
            self.diverged_at[self.order[rows][bad]] = t
        caller = self.order[rows]
        self.loss[caller, t] = np.where(frozen, np.nan, loss)
        self.n_evals[caller, t] = np.where(frozen, np.nan, evals)
        self.grad_norm[caller, :, t] = np.where(frozen[:, None], np.nan, norms)

    def after_update(self, i: int, rows: slice, steps_done: int, p, quantiles: np.ndarray | None) -> None:
        """Records of internal rows after `steps_done` updates (p [k, 1, P] their parameters):
        effective lr quantiles [k, L, 3] (given on the steps in record_at) and sparsity,
        evaluation, snapshot. Returns the validation losses [k] when it evaluated, else None."""
        col = self.record_col.get(steps_done)
        if col is not None:
            self.eff_lr[self.order[rows], :, :, col] = np.where(self.frozen[rows, None, None], np.nan, quantiles)
            self.sparsity[self.order[rows], :, col] = np.where(self.frozen[rows, None], np.nan, self._sparsity(rows, p))
        val_loss = None
        col = self.eval_col.get(steps_done)
        if col is not None:
            val_loss, _ = self.evaluate(i, rows, p, col)
        col = self.snap_col.get(steps_done)
        if col is not None:
            self.snapshot(rows, p, col)
        return val_loss

    def _sparsity(self, rows: slice, p) -> np.ndarray:
        """[k, L] fraction of each layer's weights at zero (see TrainResult.sparsity) in p [k, 1, P]."""
        flat = self.model.to_numpy(p)[:, 0]
        exact = self.exact_zero[rows, None]
        return np.stack([np.where(exact, flat[:, w] == 0, np.abs(flat[:, w]) < SMALL_WEIGHT).mean(axis=1)
                         for w in self.weights], axis=1)

    def evaluate(self, i: int, rows: slice, p, col: int, chunks: list | None = None) -> tuple:
        """Shard i's rows on the validation subset (or `chunks`) into column `col`; (loss, acc)."""
        started = time.perf_counter()
        loss, acc = evaluate_chunks(self.shards.models[i], p, self.eval_chunks if chunks is None else chunks)
        self.eval_seconds[i] += time.perf_counter() - started
        frozen = self.frozen[rows]
        loss, acc = np.where(frozen, np.nan, loss), np.where(frozen, np.nan, acc)
        if col is not None:
            self.val_loss[self.order[rows], col] = loss
            self.val_acc[self.order[rows], col] = acc
        return loss, acc

    def snapshot(self, rows: slice, p, col: int) -> None:
        self.snapshots[self.order[rows], col] = self.model.to_numpy(p)[:, 0]

    def _counts(self) -> tuple[int, int, int]:
        """Columns filled so far: evaluations, records, snapshots."""
        s = self.steps_done
        e = int(np.searchsorted(self.eval_at, s, side="right")) + self.extra_eval
        r = int(np.searchsorted(self.record_at, s, side="right"))
        m = int(np.searchsorted(self.snap_at, s, side="right")) + self.extra_snap
        return e, r, m

    def result(self, **final) -> TrainResult:
        s = self.steps_done
        e, r, m = self._counts()
        return TrainResult(
            config=self.config, steps_done=s, total_steps=self.config.steps,
            loss=self.loss[:, :s], n_evals=self.n_evals[:, :s], grad_norm=self.grad_norm[:, :, :s],
            eval_steps=self.eval_steps[:e], val_loss=self.val_loss[:, :e], val_acc=self.val_acc[:, :e],
            record_steps=self.record_steps[:r], eff_lr=self.eff_lr[..., :r], sparsity=self.sparsity[..., :r],
            lr=self.lr,
            snapshot_steps=self.snapshot_steps[:m], snapshots=self.snapshots[:, :m],
            diverged_at=self.diverged_at.copy(), elapsed=time.perf_counter() - self.started,
            eval_seconds=max(self.eval_seconds), layer_names=self.layers, **final,
        )

    def finish(self, i: int, rows: slice, p, val_chunks: list) -> None:
        """Shard i's final records: the last step's evaluation and snapshot when a stop left them
        out, and the whole validation set (`val_chunks`, mlp.eval_chunks of it)."""
        s = self.steps_done
        if s not in self.eval_col:  # stopped between evaluations: the first column not yet used
            col = int(np.searchsorted(self.eval_at, s, side="right"))
            self.eval_steps[col] = s
            self.evaluate(i, rows, p, col)
        if s not in self.snap_col:
            col = int(np.searchsorted(self.snap_at, s, side="right"))
            self.snapshot_steps[col] = s
            self.snapshot(rows, p, col)
        self.final_val[:, self.order[rows]] = self.evaluate(i, rows, p, None, val_chunks)

    def final_result(self, p, stopped: bool) -> TrainResult:
        """The final result, after every shard's `finish`."""
        s = self.steps_done
        self.extra_eval, self.extra_snap = s not in self.eval_col, s not in self.snap_col
        return self.result(
            done=True, stopped=stopped, final_params=self.model.to_numpy(p)[self.order.argsort(), 0].copy(),
            final_val_loss=self.final_val[0].copy(), final_val_acc=self.final_val[1].copy(),
        )
