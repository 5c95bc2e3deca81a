"""The "Copy as PyTorch" script: one configuration's run on a surface, in plain PyTorch.

`torch_script(config, surface, start=..., steps=..., ...)` returns a complete script that runs as
pasted: its imports, the surface's loss as `loss_fn` (surfaces' TorchLoss), the start point,
the optimizer with exactly the chosen values, the lr scheduler (unless constant), `train(loss_fn,
steps)`, its call and a print of the end point. `torch_code(config, ...)` is the part without the
loss, the call and the print: executing it runs nothing.

train() is the loop that `optimizers.run` mirrors: one `optimizer.step()` then one
`scheduler.step()` per step (`optimizer.step(closure)` for LBFGS, whose closure computes the loss
and its gradient). The gradient passes what the app does to it, in the app's order
(optimizers.transforms): the L1 term, the gradient noise (the app's draws, from NumPy's
generator), clipping. An L1 penalty is written as torch users write it: `l1 * params.abs().sum()`
added to the loss (subgradient), or a soft-threshold of `params` after `optimizer.step()` by the lr
that step used (proximal). With `tol`, train() stops where the app does: at the first point whose
gradient norm (the surface's, without noise or L1) is below tol.
"""

from __future__ import annotations

from .registry import OptimizerConfig
from .schedules import SCHEDULES, ScheduleConfig

WIDTH = 100  # a call longer than this puts its arguments on their own lines

# Our schedule parameters use torch's names; these are passed through unchanged.
_SCHEDULERS = {
    "step": ("StepLR", ("step_size", "gamma")),
    "exponential": ("ExponentialLR", ("gamma",)),
    "polynomial": ("PolynomialLR", ("total_iters", "power")),
    "cosine": ("CosineAnnealingLR", ("T_max", "eta_min")),
    "warmup": ("LinearLR", ("start_factor", "end_factor", "total_iters")),
    "multistep": ("MultiStepLR", ("milestones", "gamma")),
    "constant_factor": ("ConstantLR", ("factor", "total_iters")),
    "cosine_restarts": ("CosineAnnealingWarmRestarts", ("T_0", "T_mult", "eta_min")),
    "plateau": ("ReduceLROnPlateau", ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown",
                                      "min_lr", "eps")),
}


# Schedules torch lacks, written as LambdaLR factors of the step count t (lr_t = lr * factor).
_LAMBDAS = {
    "inverse_sqrt": "lambda t: 1 / math.sqrt(1 + {alpha!r} * t)",
    "sawtooth": "lambda t: 1 - (t % {period!r}) / {period!r}",
}


def torch_script(
    config: OptimizerConfig,
    surface,
    *,
    start=(0.0, 0.0),
    steps: int = 500,
    clip_norm: float | None = None,
    clip_value: float | None = None,
    noise: float = 0.0,
    seed: int = 0,
    n_starts: int = 1,
    tol: float | None = None,
) -> str:
    """A complete script that runs `config` on `surface` from `start` for `steps` steps with
    torch, as `optimizers.run(surface, [config], starts, steps, ...)` runs it, and prints the end
    point ("end point: [x, y]").

    noise, seed: the run's gradient noise; n_starts: how many starts the run had (the noise is
    drawn for all at once), `start` being the first. tol: the run's convergence tolerance (None or
    0: off). surface: a surfaces.Surface (its torch_loss is the script's loss_fn).
    """
    loss = surface.torch_loss
    imports = [*loss.imports, *_imports(config, noise)]
    tol = tol or None
    label = " ".join(f"{config.label} on {surface.title}:".split())  # a label is one line
    lines = [f"# {label}", f"# {steps} steps from {_point(start)}, as the optimizer visualizer runs them.",
             *_import_lines(imports), "", *_DTYPE]
    if loss.setup:
        lines += ["", *loss.setup]
    signature = "p, t=None" if loss.per_step else "p"
    lines += ["", "", f"def loss_fn({signature}):",
              f'    """{surface.title}: the loss at p, a tensor [2]'
              + (" (over step t's mini-batch; None: every sample)." if loss.per_step else ".") + '"""',
              *("    " + line for line in loss.body)]
    if tol is not None and _tol_by_autograd(config, loss.per_step):
        lines += ["", "", "def gradient_norm(loss_fn, p):",
                  '    """The norm of the full gradient of loss_fn at p, as the app checks convergence."""',
                  "    return torch.autograd.grad(loss_fn(p), p)[0].norm()"]
    lines += ["", "", *_setup_lines(config, start, steps, noise, seed, n_starts),
              "", "", *_train_lines(config, steps, clip_norm, clip_value, noise, tol, loss.per_step),
              "", "", "train(loss_fn)", 'print("end point:", params.tolist())', ""]
    return "\n".join(lines)


def torch_code(
    config: OptimizerConfig,
    *,
    start=(0.0, 0.0),
    steps: int = 500,
    clip_norm: float | None = None,
    clip_value: float | None = None,
    noise: float = 0.0,
    seed: int = 0,
    n_starts: int = 1,
) -> str:
    """The part of torch_script that reproduces `config`, without a loss: executing it defines
    `params` (a float64 leaf tensor [2]), `optimizer`, `scheduler` (absent for a constant
    schedule) and `train(loss_fn, steps)`, and runs nothing."""
    lines = [*_import_lines(_imports(config, noise)), "", *_DTYPE, "",
             *_setup_lines(config, start, steps, noise, seed, n_starts),
             "", "", *_train_lines(config, steps, clip_norm, clip_value, noise, None, False), ""]
    return "\n".join(lines)


# float64 throughout, as the app computes: torch keeps step counters and NAdam's momentum product
# in the default dtype, which would otherwise be float32.
_DTYPE = ["torch.set_default_dtype(torch.float64)  # as the app computes"]


def _point(start) -> str:
    return f"({float(start[0])!r}, {float(start[1])!r})"


def _imports(config: OptimizerConfig, noise: float) -> list[str]:
    """The import lines the optimizer part needs: math for a LambdaLR, NumPy for the noise, torch,
    the optimizer's package."""
    snippet = config.info.torch_snippet
    return [*(["import math"] if _uses_math(config.schedule) else []), *(["import numpy as np"] if noise else []),
            "import torch", *(snippet.imports if snippet else ())]


def _import_lines(imports: list[str]) -> list[str]:
    """The imports once each, the standard library's first, then `import` before `from` lines."""
    unique = list(dict.fromkeys(imports))
    stdlib = [line for line in unique if line == "import math"]
    others = sorted((line for line in unique if line not in stdlib), key=lambda line: (line.startswith("from"), line))
    return [*stdlib, *([""] if stdlib else []), *others]


def _setup_lines(config: OptimizerConfig, start, steps: int, noise: float, seed: int, n_starts: int) -> list[str]:
    """params, optimizer, the L1 strength, the scheduler and the noise table."""
    lines = [f"params = torch.tensor([{float(start[0])!r}, {float(start[1])!r}], requires_grad=True)",
             *_optimizer_lines(config)]
    if config.l1 > 0:
        lines.append(f"l1 = {config.l1!r}  # L1 penalty ({config.l1_mode})")
    lines += _scheduler_lines(config)
    if noise:
        lines += _noise_lines(noise, seed, steps, n_starts)
    return lines


def _noise_lines(noise: float, seed: int, steps: int, n_starts: int) -> list[str]:
    """grad_noise [steps, 2]: the app's noise table (optimizers.transforms.noise_table) of this start."""
    if n_starts == 1:
        return ["# the app's gradient noise: one N(0, noise^2) draw per step and coordinate",
                f"grad_noise = {noise!r} * torch.from_numpy(np.random.default_rng({seed!r}).standard_normal(({steps}, 2)))"]
    return [f"# the app's gradient noise, drawn for its {n_starts} starts at once: the first start's",
            f"grad_noise = {noise!r} * torch.from_numpy(np.random.default_rng({seed!r}).standard_normal("
            f"({steps}, {n_starts}, 2)))[:, 0]"]


def _tol_by_autograd(config: OptimizerConfig, per_step: bool) -> bool:
    """Whether the convergence check needs its own gradient: the one train() backpropagates is
    evaluated within the step (a closure) or holds the L1 term or a mini-batch's."""
    return config.info.closure_calls is not None or config.l1_subgradient > 0 or per_step


def _train_lines(config: OptimizerConfig, steps: int, clip_norm, clip_value, noise: float, tol,
                 per_step: bool) -> list[str]:
    """def train(loss_fn, steps): the loop of optimizers.run for one trajectory."""
    lines = [f"def train(loss_fn, steps={steps}):",
             '    """Minimise loss_fn(params) -> scalar tensor; returns the final params."""',
             "    for t in range(steps):"]
    stop = ["if {} < " + repr(tol) + ":  # converged: the app stops here",
            "    break"]
    # an optimizer that evaluates the loss within its step (LBFGS) gets the gradient computation as
    # a closure, called as often as its step needs; the others get one gradient per step
    closure = config.info.closure_calls is not None
    at_t = "loss_fn(params, t)" if per_step else "loss_fn(params)"
    l1 = " + l1 * params.abs().sum()" if config.l1_subgradient > 0 else ""
    by_autograd = tol is not None and _tol_by_autograd(config, per_step)
    if by_autograd:
        lines += ["        " + line for line in (stop[0].format("gradient_norm(loss_fn, params)"), stop[1])]
        lines += [""] if closure else []
    if closure:
        # LBFGS sees the surface's loss, as the app's: full-batch, without the L1 term
        lines += ["        def closure():", "            optimizer.zero_grad()"]
        if per_step:
            body = [f"({at_t}{l1}).backward()  # step t's mini-batch gradient" if l1 else
                    f"{at_t}.backward()  # step t's mini-batch gradient"]
        else:
            body = ["loss = loss_fn(params)", f"(loss{l1}).backward()" if l1 else "loss.backward()"]
    else:
        lines.append("        optimizer.zero_grad()")
        body = [f"({at_t}{l1}).backward()" if l1 else f"{at_t}.backward()"]
    if tol is not None and not by_autograd:
        body += [stop[0].format("params.grad.norm()"), stop[1]]
    if noise:
        body.append("params.grad += grad_noise[t]")
    if clip_norm:
        body.append(f"torch.nn.utils.clip_grad_norm_([params], max_norm={float(clip_norm)!r})")
    if clip_value:
        body.append(f"torch.nn.utils.clip_grad_value_([params], clip_value={float(clip_value)!r})")
    if _matrices_only(config):
        body.append("matrix.grad, params.grad = params.grad.view(1, 2), None")
    if config.info.torch_snippet is not None:
        body += _filled(config, config.info.torch_snippet.loop)
    if closure:
        body.append("return loss_fn(params)  # the full-batch loss" if per_step else "return loss")
        lines += ["            " + line for line in body] + ["", "        optimizer.step(closure)"]
    else:
        lines += ["        " + line for line in body] + ["        optimizer.step()"]
    if config.l1_proximal > 0:
        lines += ["        with torch.no_grad():  # the proximal L1 step, by the lr this step used",
                  "            lr = optimizer.param_groups[0]['lr']",
                  "            params.copy_(torch.sign(params) * torch.clamp(params.abs() - lr * l1, min=0.0))"]
    lines += _scheduler_step_lines(config)
    return [*lines, "    return params"]


def _matrices_only(config: OptimizerConfig) -> bool:
    """Whether the torch.optim class takes matrices only (Muon: its biases go to another optimizer)."""
    return config.info.torch_class is not None and config.info.vectors_to is not None


def _uses_math(schedule: ScheduleConfig) -> bool:
    """Whether the snippet's scheduler needs `import math` (a LambdaLR, alone or in a sequence)."""
    parts = SCHEDULES[schedule.name].parts
    children = parts(dict(schedule.params))[0] if parts else ()
    return schedule.name in _LAMBDAS or any(_uses_math(child) for child in children)


def _optimizer_lines(config: OptimizerConfig) -> list[str]:
    info = config.info
    if info.torch_class is None:  # the registry's source for a rule torch.optim lacks
        return _filled(config, info.torch_snippet.setup)
    args = [f"{name}={value!r}" for name, value in config.hparams]
    if _matrices_only(config):
        return [f"# torch.optim.{info.torch_class} steps matrices only: it steps `matrix`, the 1 x 2 matrix holding",
                "# params' memory, on params' gradient. Its Newton-Schulz runs in bfloat16, the app's in float64:",
                "# one step differs by up to about 2 % (README).",
                "matrix = torch.nn.Parameter(params.detach().view(1, 2))",
                *_call(f"optimizer = torch.optim.{info.torch_class}", ["[matrix]", *args])]
    return _call(f"optimizer = torch.optim.{info.torch_class}", ["[params]", *args])


def _call(head: str, args: list[str]) -> list[str]:
    """`head(args)` on one line, or with the arguments on lines of their own when it is long."""
    line = f"{head}({', '.join(args)})"
    if len(line) <= WIDTH:
        return [line]
    rows, row = [], ""
    for arg in args:
        if row and len(row) + len(arg) + 6 > WIDTH:
            rows.append(row)
            row = ""
        row = f"{row} {arg}," if row else f"{arg},"
    return [f"{head}(", *(f"    {r}" for r in [*rows, row]), ")"]


def _filled(config: OptimizerConfig, templates: tuple[str, ...]) -> list[str]:
    """TorchSnippet template lines filled with the optimizer's title and hyperparameter values."""
    return [line.format(title=config.info.title, **dict(config.hparams)) for line in templates]


def _scheduler_lines(config: OptimizerConfig) -> list[str]:
    if config.schedule.name == "constant":
        return ["# constant learning rate: no scheduler"]
    comments, (first, *rest) = _scheduler(config.schedule, config.lr)
    return [*comments, f"scheduler = {first}", *rest]


def _scheduler(schedule: ScheduleConfig, lr: float) -> tuple[list[str], list[str]]:
    """(comment lines, the lines of the expression constructing the torch scheduler) of one schedule."""
    name, p = schedule.name, dict(schedule.params)
    sched = "torch.optim.lr_scheduler"
    if name in _SCHEDULERS:
        cls, keys = _SCHEDULERS[name]
        args = ", ".join(f"{k}={_literal(p[k])}" for k in keys)
        return [], [f"{sched}.{cls}(optimizer, {args})"]
    if name == "constant":  # inside a sequence
        return [], [f"{sched}.ConstantLR(optimizer, factor=1.0)"]
    if name == "cyclic":
        down = p["step_size_down"] or None  # 0 means "same as up", torch spells it None
        return [], [
            f"{sched}.CyclicLR(",
            f"    optimizer, base_lr={lr!r}, max_lr={p['max_lr']!r}, step_size_up={p['step_size_up']!r},",
            f"    step_size_down={down!r}, mode='triangular', cycle_momentum=False)",
        ]
    if name == "onecycle":
        return ["# the app's one-cycle peaks at the optimizer's lr (max_lr = lr)"], [
            f"{sched}.OneCycleLR(",
            f"    optimizer, max_lr={lr!r}, total_steps={p['total_steps']!r}, pct_start={p['pct_start']!r},",
            f"    anneal_strategy={p['anneal_strategy']!r}, div_factor={p['div_factor']!r},",
            f"    final_div_factor={p['final_div_factor']!r}, three_phase={p['three_phase']!r}, "
            "cycle_momentum=False)",
        ]
    if name in _LAMBDAS:
        title = name.replace("_", " ")
        return ([f"# {title} has no torch class: LambdaLR with the same factor of the step count t"],
                [f"{sched}.LambdaLR(optimizer, lr_lambda={_LAMBDAS[name].format(**p)})"])
    if SCHEDULES[name].parts:
        children, milestones = SCHEDULES[name].parts(p)
        comments, lines = [], [f"{sched}.SequentialLR(", "    optimizer,", "    schedulers=["]
        for child in children:
            child_comments, child_lines = _scheduler(child, lr)
            comments += child_comments
            child_lines[-1] += ","
            lines += ["        " + line for line in child_lines]
        return comments, [*lines, "    ],", f"    milestones={list(milestones)!r},", ")"]
    raise ValueError(f"no PyTorch equivalent written for schedule {name!r}")  # pragma: no cover


def _literal(value) -> str:
    """Python source of a schedule parameter: milestones as the list torch documents."""
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def _scheduler_step_lines(config: OptimizerConfig) -> list[str]:
    name = config.schedule.name
    if name == "constant":
        return []
    if name == "plateau":  # needs the metric; a surface has no validation loss
        return ["        # ReduceLROnPlateau steps with the validation loss after each evaluation:",
                "        # scheduler.step(val_loss)"]
    if name == "onecycle":  # torch refuses to step past total_steps; the engine holds the final lr
        total = dict(config.schedule.params)["total_steps"]
        return [f"        if scheduler.last_epoch < {total - 1!r}:", "            scheduler.step()"]
    return ["        scheduler.step()"]
