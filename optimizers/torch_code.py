"""The "Copy as PyTorch" snippet: the source of a torch.optim optimizer and lr_scheduler for one configuration.

`torch_code(config, start=..., steps=...)` returns a self-contained Python snippet that builds
`params`, `optimizer` and (unless the schedule is constant) `scheduler` with exactly the chosen
values, and defines `train(loss_fn, steps)`, the loop that `optimizers.run` mirrors: one
`optimizer.step()` then one `scheduler.step()` per step (`optimizer.step(closure)` for LBFGS, whose closure
computes the loss and its gradient). Executing the snippet runs nothing.
An L1 penalty is written into the loop as torch users write it: `l1 * params.abs().sum()` added
to the loss (subgradient), or a soft-threshold of `params` after `optimizer.step()` by the lr that
step used (proximal).
"""

from __future__ import annotations

from .registry import OptimizerConfig
from .schedules import SCHEDULES, ScheduleConfig

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


def torch_code(
    config: OptimizerConfig,
    *,
    start=(0.0, 0.0),
    steps: int = 500,
    clip_norm: float | None = None,
    clip_value: float | None = None,
    noise: float = 0.0,
) -> str:
    """Python source that reproduces `config` with torch.optim, starting from `start`.

    The snippet defines `params` (a float64 leaf tensor [2]), `optimizer`, `scheduler` (absent
    for a constant schedule) and `train(loss_fn, steps)`; gradient clipping is written into the
    loop when given. Gradient noise has no torch.optim counterpart and is left as a comment.
    """
    hp = dict(config.hparams)
    lines = ["import math", ""] if _uses_math(config.schedule) else []
    # float64 throughout, as the app computes: torch keeps step counters and NAdam's momentum
    # product in the default dtype, which would otherwise be float32.
    lines += ["import torch", "", "torch.set_default_dtype(torch.float64)"]
    lines.append(f"params = torch.tensor([{float(start[0])!r}, {float(start[1])!r}], requires_grad=True)")
    lines += _optimizer_lines(config, hp)
    if config.l1 > 0:
        lines.append(f"l1 = {config.l1!r}  # L1 penalty ({config.l1_mode})")
    lines += _scheduler_lines(config)
    lines += ["", "", f"def train(loss_fn, steps={steps}):",
              '    """Minimise loss_fn(params) -> scalar tensor; returns the final params."""',
              "    for _ in range(steps):"]
    # an optimizer that evaluates the loss within its step (LBFGS) gets the gradient computation as
    # a closure, called as often as its step needs; the others get one gradient per step
    closure = config.info.closure_calls is not None
    pad = " " * (12 if closure else 8)
    loss = "(loss_fn(params) + l1 * params.abs().sum())" if config.l1_subgradient > 0 else "loss_fn(params)"
    if closure:
        lines += ["        def closure():"]
    lines += [pad + "optimizer.zero_grad()", pad + (f"loss = {loss}" if closure else f"{loss}.backward()")]
    if closure:
        lines.append(pad + "loss.backward()")
    if noise:
        lines.append(f"{pad}# the app also added Gaussian noise (std {noise!r}) to the gradient here")
    if clip_norm:
        lines.append(f"{pad}torch.nn.utils.clip_grad_norm_([params], max_norm={float(clip_norm)!r})")
    if clip_value:
        lines.append(f"{pad}torch.nn.utils.clip_grad_value_([params], clip_value={float(clip_value)!r})")
    if _matrices_only(config):
        lines += [pad + "matrix.grad, params.grad = params.grad.view(1, 2), None"]
    if config.info.torch_snippet is not None:
        lines += [pad + line for line in _filled(config, config.info.torch_snippet.loop)]
    if closure:
        lines += [pad + "return loss", "", "        optimizer.step(closure)"]
    else:
        lines.append("        optimizer.step()")
    if config.l1_proximal > 0:
        lines += ["        with torch.no_grad():  # the proximal L1 step, by the lr this step used",
                  "            lr = optimizer.param_groups[0]['lr']",
                  "            params.copy_(torch.sign(params) * torch.clamp(params.abs() - lr * l1, min=0.0))"]
    lines += _scheduler_step_lines(config)
    lines += ["    return params", ""]
    return "\n".join(lines)


def _matrices_only(config: OptimizerConfig) -> bool:
    """Whether the torch.optim class takes matrices only (Muon: its biases go to another optimizer)."""
    return config.info.torch_class is not None and config.info.vectors_to is not None


def _uses_math(schedule: ScheduleConfig) -> bool:
    """Whether the snippet's scheduler needs `import math` (a LambdaLR, alone or in a sequence)."""
    parts = SCHEDULES[schedule.name].parts
    children = parts(dict(schedule.params))[0] if parts else ()
    return schedule.name in _LAMBDAS or any(_uses_math(child) for child in children)


def _optimizer_lines(config: OptimizerConfig, hp: dict) -> list[str]:
    info = config.info
    if info.torch_class is None:  # the registry's source for a rule torch.optim lacks
        return ["", *_filled(config, info.torch_snippet.setup)]
    args = ", ".join(f"{name}={value!r}" for name, value in hp.items())
    if _matrices_only(config):
        return [f"# torch.optim.{info.torch_class} steps matrices only: it steps `matrix`, the 1 x 2 matrix holding",
                "# params' memory, on params' gradient. Its Newton-Schulz runs in bfloat16, the app's in float64:",
                "# one step differs by up to about 2 % (README).",
                "matrix = torch.nn.Parameter(params.detach().view(1, 2))",
                f"optimizer = torch.optim.{info.torch_class}([matrix], {args})"]
    return [f"optimizer = torch.optim.{info.torch_class}([params], {args})"]


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
