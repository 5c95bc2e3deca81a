"""Optimizer registry: name -> rule, hyperparameter specs, formula, reference; and configs.

`get_optimizer(name, **hyperparameters, schedule=..., label=...)` validates everything up front
and returns a frozen, hashable `OptimizerConfig` that `optimizers.run` consumes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from hyperparams import Hyperparameter as H
from hyperparams import validate

from . import rules
from .schedules import ScheduleConfig, as_schedule

MAX_LR = 1e3


def _lr(default):
    return H("lr", default, low=0, high=MAX_LR, log=True, ui_low=1e-5, ui_high=10.0,
             help="learning rate (scheduled base value)")


def _eps(default):
    return H("eps", default, low=0, high=1, low_open=True, log=True, ui_low=1e-12, ui_high=1.0,
             help="added to the denominator for numerical stability")


WEIGHT_DECAY = H("weight_decay", 0.0, low=0, high=10, ui_high=1.0, help="L2 penalty added to the gradient")
BETAS = H("betas", (0.9, 0.999), kind="pair", low=0, high=1, high_open=True,
          help="decay rates of the first and second moment averages")
DECOUPLED = H("decoupled_weight_decay", False, kind="bool",
              help="decay the weights directly (AdamW style) instead of adding an L2 gradient")


@dataclass(frozen=True)
class OptimizerInfo:
    """Everything the engine and the app know about one optimizer."""

    name: str
    title: str
    rule: Callable
    init: Callable
    specs: tuple[H, ...]
    state_names: tuple[str, ...]  # per-parameter state recorded in Result.state (when present)
    latex: str  # the update exactly as implemented
    eff_lr: str  # LaTeX of the effective learning rate and the direction it multiplies
    reference: str
    torch_class: str | None  # None for rules torch lacks
    fixed: dict = field(default_factory=dict)  # hyperparameters fixed by this entry (AdamW)
    check: Callable | None = None  # cross-parameter rules, raise ValueError


def _check_sgd(hp):
    if hp["nesterov"] and (hp["momentum"] <= 0 or hp["dampening"] != 0):
        raise ValueError(
            f"sgd: nesterov=True requires momentum > 0 and dampening = 0 "
            f"(got momentum={hp['momentum']}, dampening={hp['dampening']})"
        )


_ADAM_LATEX = (
    r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2"
    r"\\ \hat m_t = \frac{m_t}{1-\beta_1^t},\quad \hat v_t = \frac{v_t}{1-\beta_2^t}"
    r"\\ \theta_t = \theta_{t-1} - \eta_t \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}"
)

OPTIMIZERS: dict[str, OptimizerInfo] = {
    o.name: o
    for o in [
        OptimizerInfo(
            "sgd", "SGD", rules.sgd, rules.init_sgd,
            (_lr(1e-3),
             H("momentum", 0.0, low=0, high=1, help="momentum factor"),
             H("dampening", 0.0, low=0, high=1, help="dampening for momentum"),
             WEIGHT_DECAY,
             H("nesterov", False, kind="bool", help="Nesterov momentum (needs momentum > 0, dampening 0)")),
            ("momentum_buffer",),
            r"b_t = \mu b_{t-1} + (1-\tau) g_t\ (b_1 = g_1),\quad d_t = \begin{cases} g_t + \mu b_t"
            r" & \text{nesterov} \\ b_t \end{cases}\\ \theta_t = \theta_{t-1} - \eta_t d_t",
            r"\eta_t \text{ on } d_t",
            "Robbins & Monro 1951; momentum: Polyak 1964; Nesterov: Sutskever et al. 2013",
            "SGD", check=_check_sgd,
        ),
        OptimizerInfo(
            "gnsgd", "Gradient-norm adaptive SGD", rules.gnsgd, rules.init_stateless,
            (_lr(1e-2), H("alpha", 1.0, low=0, high=1e6, log=True, ui_low=1e-3, ui_high=1e3,
                           help="sensitivity to the gradient norm"), WEIGHT_DECAY),
            (),
            r"\theta_t = \theta_{t-1} - \frac{\eta_t}{\sqrt{1 + \alpha \lVert g_t \rVert^2}} g_t",
            r"\eta_t / \sqrt{1 + \alpha \lVert g_t\rVert^2} \text{ on } g_t",
            "course material: step size shrinking with the gradient norm (cf. Duchi et al. 2011)",
            None,
        ),
        OptimizerInfo(
            "adagrad", "AdaGrad", rules.adagrad, rules.init_adagrad,
            (_lr(1e-2),
             H("lr_decay", 0.0, low=0, high=10, help="lr_t = lr / (1 + (t - 1) lr_decay)"),
             WEIGHT_DECAY,
             H("initial_accumulator_value", 0.0, low=0, high=1e3, help="initial value of the sum of squares"),
             _eps(1e-10)),
            ("sum",),
            r"G_t = G_{t-1} + g_t^2,\quad \tilde\eta_t = \frac{\eta_t}{1 + (t-1)\lambda}"
            r"\\ \theta_t = \theta_{t-1} - \tilde\eta_t \frac{g_t}{\sqrt{G_t} + \epsilon}",
            r"\tilde\eta_t / (\sqrt{G_t} + \epsilon) \text{ on } g_t",
            "Duchi, Hazan & Singer 2011", "Adagrad",
        ),
        OptimizerInfo(
            "rmsprop", "RMSProp", rules.rmsprop, rules.init_rmsprop,
            (_lr(1e-2),
             H("alpha", 0.99, low=0, high=1, help="smoothing constant of the squared-gradient average"),
             _eps(1e-8), WEIGHT_DECAY,
             H("momentum", 0.0, low=0, high=1, help="momentum factor"),
             H("centered", False, kind="bool", help="normalise by the estimated variance")),
            ("square_avg", "grad_avg", "momentum_buffer"),
            r"v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\quad a_t = \sqrt{v_t - \bar g_t^2\,[\text{centered}]} + \epsilon"
            r"\\ b_t = \mu b_{t-1} + g_t / a_t,\quad \theta_t = \theta_{t-1} - \eta_t b_t",
            r"\eta_t / a_t \text{ on } g_t",
            "Tieleman & Hinton 2012 (Coursera lecture 6.5); centered: Graves 2013", "RMSprop",
        ),
        OptimizerInfo(
            "adadelta", "Adadelta", rules.adadelta, rules.init_adadelta,
            (_lr(1.0),
             H("rho", 0.9, low=0, high=1, help="decay rate of the running averages"),
             _eps(1e-6), WEIGHT_DECAY),
            ("square_avg", "acc_delta"),
            r"v_t = \rho v_{t-1} + (1-\rho) g_t^2,\quad \Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}} g_t"
            r"\\ u_t = \rho u_{t-1} + (1-\rho)\Delta_t^2,\quad \theta_t = \theta_{t-1} - \eta_t \Delta_t",
            r"\eta_t \sqrt{u_{t-1}+\epsilon} / \sqrt{v_t + \epsilon} \text{ on } g_t",
            "Zeiler 2012", "Adadelta",
        ),
        OptimizerInfo(
            "adam", "Adam", rules.adam, rules.init_adam,
            (_lr(1e-3), BETAS, _eps(1e-8), WEIGHT_DECAY,
             H("amsgrad", False, kind="bool", help="use the running maximum of v_t (AMSGrad)"), DECOUPLED),
            ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
            _ADAM_LATEX + r"\quad(\text{amsgrad: } \hat v_t \text{ from } \max_{s \le t} v_s)",
            r"\eta_t / (\sqrt{\hat v_t} + \epsilon) \text{ on } \hat m_t",
            "Kingma & Ba 2015; AMSGrad: Reddi, Kale & Kumar 2018", "Adam",
        ),
        OptimizerInfo(
            "adamw", "AdamW", rules.adam, rules.init_adam,
            (_lr(1e-3), BETAS, _eps(1e-8),
             H("weight_decay", 1e-2, low=0, high=10, ui_high=1.0, help="decoupled weight decay coefficient"),
             H("amsgrad", False, kind="bool", help="use the running maximum of v_t (AMSGrad)")),
            ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
            r"\theta \leftarrow \theta (1 - \eta_t \lambda)\\ " + _ADAM_LATEX,
            r"\eta_t / (\sqrt{\hat v_t} + \epsilon) \text{ on } \hat m_t",
            "Loshchilov & Hutter 2019", "AdamW", fixed={"decoupled_weight_decay": True},
        ),
        OptimizerInfo(
            "adamax", "Adamax", rules.adamax, rules.init_adamax,
            (_lr(2e-3), BETAS, _eps(1e-8), WEIGHT_DECAY),
            ("exp_avg", "exp_inf"),
            r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon)"
            r"\\ \theta_t = \theta_{t-1} - \frac{\eta_t}{1-\beta_1^t} \frac{m_t}{u_t}",
            r"\eta_t / u_t \text{ on } \hat m_t",
            "Kingma & Ba 2015 (section 7)", "Adamax",
        ),
        OptimizerInfo(
            "nadam", "NAdam", rules.nadam, rules.init_nadam,
            (_lr(2e-3), BETAS, _eps(1e-8), WEIGHT_DECAY,
             H("momentum_decay", 4e-3, low=0, high=1, help="psi in mu_t = b1 (1 - 0.5 * 0.96^(t psi))"),
             DECOUPLED),
            ("exp_avg", "exp_avg_sq"),
            r"\mu_t = \beta_1 (1 - \tfrac12 0.96^{t\psi}),\quad m_t, v_t \text{ as Adam}"
            r"\\ \theta_t = \theta_{t-1} - \eta_t \frac{\frac{1-\mu_t}{1-\prod_{i\le t}\mu_i} g_t"
            r" + \frac{\mu_{t+1}}{1-\prod_{i\le t+1}\mu_i} m_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}",
            r"\eta_t / (\sqrt{\hat v_t} + \epsilon) \text{ on the Nesterov direction}",
            "Dozat 2016", "NAdam",
        ),
        OptimizerInfo(
            "radam", "RAdam", rules.radam, rules.init_radam,
            (_lr(1e-3), BETAS, _eps(1e-8), WEIGHT_DECAY, DECOUPLED),
            ("exp_avg", "exp_avg_sq"),
            r"\rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t},\quad r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}"
            r"\\ \theta_t = \theta_{t-1} - \eta_t \hat m_t \cdot \begin{cases} r_t \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t}+\epsilon} & \rho_t > 5"
            r"\\ 1 & \text{otherwise}\end{cases}",
            r"\eta_t r_t \sqrt{1-\beta_2^t} / (\sqrt{v_t}+\epsilon) \text{ on } \hat m_t",
            "Liu et al. 2020", "RAdam",
        ),
    ]
}


@dataclass(frozen=True)
class OptimizerConfig:
    """One validated optimizer configuration; hashable, so it can key caches.

    name: registry key; hparams: (name, value) pairs in spec order (torch.optim names);
    schedule: the lr schedule; label: legend text.
    """

    name: str
    hparams: tuple
    schedule: ScheduleConfig = ScheduleConfig()
    label: str = ""

    @property
    def info(self) -> OptimizerInfo:
        return OPTIMIZERS[self.name]

    @property
    def hp(self) -> dict:
        """All hyperparameters the rule reads, including fixed ones (AdamW's decoupling)."""
        return {**dict(self.hparams), **self.info.fixed}

    @property
    def lr(self) -> float:
        return dict(self.hparams)["lr"]


def get_optimizer(name: str, *, schedule=None, label: str | None = None, **hyperparameters) -> OptimizerConfig:
    """Validate an optimizer by name with torch.optim hyperparameter names.

    schedule: None (constant), a schedule name, a (name, params) pair or a ScheduleConfig.
    Raises ValueError naming the parameter, the value and the allowed range.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    info = OPTIMIZERS[name]
    hp = validate(name, info.specs, hyperparameters)
    if info.check:
        info.check(hp)
    sched = as_schedule(schedule)
    return OptimizerConfig(name, tuple(hp.items()), sched, label or default_label(info, hp, sched))


def default_label(info: OptimizerInfo, hp: dict, schedule: ScheduleConfig) -> str:
    """Short legend text: the title plus the hyperparameters that differ from their defaults."""
    parts = [f"lr={hp['lr']:g}"]
    for spec in info.specs:
        value = hp[spec.name]
        if spec.name != "lr" and value != spec.default:
            parts.append(f"{spec.name}={_short(value)}")
    if schedule.name != "constant":
        parts.append(schedule.name)
    return f"{info.title} ({', '.join(parts)})"


def _short(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:g}"
    return str(value)
