"""Optimizer registry: name -> OptimizerInfo (rule, hyperparameter specs, formulas, reference); and configs.

`get_optimizer(name, **hyperparameters, schedule=..., label=...)` validates everything up front
and returns a frozen, hashable `OptimizerConfig` that `optimizers.run` consumes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hyperparams import Hyperparameter as H
from hyperparams import validate

from . import lbfgs, rules
from .info import (
    BETA1,
    BETA2,
    EPS,
    ETA,
    G_T,
    GRAD,
    LBFGS_DIRECTION,
    M_HAT,
    M_T,
    MUON,
    NESTEROV,
    NEWTON,
    SGD_DIRECTION,
    SIGN,
    SIGN_GRAD,
    THETA,
    THETA_NOW,
    OptimizerInfo,
    Symbol,
    TorchSnippet,
)
from .schedules import ScheduleConfig, as_schedule
from .transforms import L1_SPECS

MAX_LR = 1e3
FLOAT64_EPS = 2.220446049250313e-16  # torch.finfo(torch.float64).eps, Adafactor's eps1 when None


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
AMSGRAD = H("amsgrad", False, kind="bool", help="use the running maximum of v_t (AMSGrad)")


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
_ADAM_TEXT = ("m_t = b1 m_{t-1} + (1-b1) g_t, v_t = b2 v_{t-1} + (1-b2) g_t^2; m_hat = m_t/(1-b1^t), "
              "v_hat = v_t/(1-b2^t); theta -= eta_t m_hat / (sqrt(v_hat) + eps)")
# what Adam and AdamW share: one rule, its state and its effective learning rate
_ADAM_RULE = {
    "rule": rules.adam, "init": rules.init_adam, "state_names": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    "first_moment": ("exp_avg",), "second_moment": ("exp_avg_sq", "max_exp_avg_sq"),
    "eff_lr_latex": r"\eta_t / (\sqrt{\hat v_t} + \epsilon)", "eff_lr_text": "eta_t / (sqrt(v_hat) + eps)",
    "direction": M_HAT,
}
_ADAM_SYMBOLS = (G_T, THETA, ETA, EPS, BETA1, BETA2, Symbol(r"\hat m_t", "the bias-corrected first moment"),
                 Symbol(r"\hat v_t", "the bias-corrected second moment"))


def _check_rprop(hp):
    (minus, plus), (low, high) = hp["etas"], hp["step_sizes"]
    if not 0 < minus < 1 < plus:
        raise ValueError(f"rprop: etas={hp['etas']!r} must satisfy 0 < etas[0] < 1 < etas[1]")
    if low > high:
        raise ValueError(f"rprop: step_sizes={hp['step_sizes']!r} must satisfy step_sizes[0] <= step_sizes[1]")


# what the two schedule-free rules share: their averaging hyperparameters and the update of y, z, x
_SCHEDULE_FREE = (
    H("weight_decay", 0.0, low=0, high=10, ui_high=1.0, help="L2 penalty, added to u at y"),
    H("warmup_steps", 0, low=0, high=100_000, kind="int", help="linear lr warm-up over this many steps"),
    H("r", 0.0, low=0, high=10, ui_high=2.0, help="the average weighs step t by t^r"),
    H("weight_lr_power", 2.0, low=0, high=10, ui_high=4.0, help="the average weighs step t by lr_max^power"),
)
_SF_LATEX = (r"\eta'_t = \eta_t \min(1, t / T_w),\quad c_t = \frac{{t^r \eta_{{max}}^p}}{{\sum_{{i \le t}} i^r"
             r" \eta_{{max,i}}^p}}\\ u_t = {u}"
             r"\\ y_t = (1 - c_t) y_{{t-1}} + c_t z_{{t-1}} + \eta'_t ({beta} (1 - c_t) - 1) u_t"
             r"\\ z_t = z_{{t-1}} - \eta'_t u_t"
             r"\\ x_t = y_t + (1 - 1/{beta}) (z_t - y_t)\\ (\text{{the averaged point; the path is }} y)")
_SF_SYMBOLS = (G_T, ETA, Symbol(r"\eta'_t", "the warmed-up lr"), Symbol("T_w", "", "warmup_steps"),
               Symbol("r", "", "r"), Symbol("p", "", "weight_lr_power"),
               Symbol(r"\eta_{max}", "the largest lr so far"), Symbol(r"\eta_{max,i}", "the largest lr up to step i"),
               Symbol(r"\lambda", "coupled: added to u at y", "weight_decay"))
_SF_TEXT = ("eta'_t = eta_t min(1, t / warmup_steps); c_t = t^r lr_max^p / sum_i i^r lr_max,i^p; u_t = {u}; "
            "y_t = (1 - c_t) y + c_t z + eta'_t ({beta} (1 - c_t) - 1) u_t; z_t = z - eta'_t u_t; "
            "x_t = y_t + (1 - 1/{beta}) (z_t - y_t) (x: the averaged point, the path is y)")


# gnsgd in torch: plain SGD stepping the gradient rescaled in the training loop.
_GNSGD_TORCH = TorchSnippet(
    setup=("# {title} has no torch.optim class: plain SGD on the gradient rescaled in train()",
           "# by 1 / sqrt(1 + alpha * ||g||^2) (weight decay is added to g before the norm).",
           "alpha, weight_decay = {alpha!r}, {weight_decay!r}",
           "optimizer = torch.optim.SGD([params], lr={lr!r})"),
    loop=("with torch.no_grad():",
          "    g = params.grad + weight_decay * params if weight_decay else params.grad",
          "    params.grad = g / torch.sqrt(1 + alpha * torch.sum(g * g))"),
)

# Lion in torch: the reference package's optimizer (Chen et al. 2023).
_LION_TORCH = TorchSnippet(
    imports=("from lion_pytorch import Lion  # pip install lion-pytorch==0.2.3",),
    setup=("optimizer = Lion([params], lr={lr!r}, betas={betas!r}, weight_decay={weight_decay!r})",),
    loop=(),
)

# Newton in torch: plain SGD stepping the Newton direction, solved from autograd's Hessian in the loop.
_NEWTON_TORCH = TorchSnippet(
    setup=("# {title} has no torch.optim class: plain SGD on d_t = (H + damping I)^-1 g_t, written into",
           "# the gradient in train(); H is autograd's Hessian of loss_fn at params.",
           "damping = {damping!r}",
           "optimizer = torch.optim.SGD([params], lr={lr!r})"),
    loop=("with torch.no_grad():",
          "    hessian = torch.autograd.functional.hessian(loss_fn, params.detach())",
          "    params.grad = torch.linalg.solve(hessian + damping * torch.eye(2), params.grad)"),
)

# Prodigy in torch: the package's own optimizer (beta3=None: sqrt(betas[1]); growth_rate: inf).
_PRODIGY_TORCH = TorchSnippet(
    imports=("from prodigyopt import Prodigy  # pip install prodigyopt==1.1.2",),
    setup=("optimizer = Prodigy([params], lr={lr!r}, betas={betas!r}, eps={eps!r}, weight_decay={weight_decay!r},",
           "                    decouple={decouple!r}, use_bias_correction={use_bias_correction!r},",
           "                    safeguard_warmup={safeguard_warmup!r}, d0={d0!r}, d_coef={d_coef!r})"),
    loop=(),
)

# Schedule-free in torch: the package's optimizers, stepped in train mode (eval() moves params to x).
def _schedule_free_torch(cls: str, args: str) -> TorchSnippet:
    return TorchSnippet(
        imports=(f"from schedulefree import {cls}  # pip install schedulefree==1.4.1",),
        setup=(f"optimizer = {cls}([params], {args}, weight_decay={{weight_decay!r}},",
               "    warmup_steps={warmup_steps!r}, r={r!r}, weight_lr_power={weight_lr_power!r})",
               "optimizer.train()  # params hold y, where gradients are taken; optimizer.eval() sets them to x"),
        loop=(),
    )


OPTIMIZERS: dict[str, OptimizerInfo] = {
    o.name: o
    for o in [
        OptimizerInfo(
            name="sgd", title="SGD", rule=rules.sgd, init=rules.init_sgd,
            symbols=(G_T, THETA, ETA, Symbol(r"\mu", "", "momentum"), Symbol(r"\tau", "", "dampening"),
                     Symbol("b_t", "the momentum buffer"), Symbol("d_t", "the step direction")),
            specs=(_lr(1e-3),
                   H("momentum", 0.0, low=0, high=1, help="momentum factor"),
                   H("dampening", 0.0, low=0, high=1, help="dampening for momentum"),
                   WEIGHT_DECAY,
                   H("nesterov", False, kind="bool", help="Nesterov momentum (needs momentum > 0, dampening 0)")),
            state_names=("momentum_buffer",), first_moment=("momentum_buffer",),
            latex=r"b_t = \mu b_{t-1} + (1-\tau) g_t\ (b_1 = g_1),\quad d_t = \begin{cases} g_t + \mu b_t"
                  r" & \text{nesterov} \\ b_t \end{cases}\\ \theta_t = \theta_{t-1} - \eta_t d_t",
            text="b_t = mu b_{t-1} + (1 - dampening) g_t (b_1 = g_1); d_t = g_t + mu b_t (nesterov) or b_t; "
                 "theta -= eta_t d_t",
            eff_lr_latex=r"\eta_t", eff_lr_text="eta_t", direction=SGD_DIRECTION,
            reference="Robbins & Monro 1951; momentum: Polyak 1964; Nesterov: Nesterov 1983, Sutskever et al. 2013",
            torch_class="SGD", check=_check_sgd,
        ),
        OptimizerInfo(
            name="gnsgd", title="Gradient-norm adaptive SGD", rule=rules.gnsgd, init=rules.init_stateless,
            symbols=(G_T, THETA, ETA, Symbol(r"\alpha", "", "alpha")),
            specs=(_lr(1e-2), H("alpha", 1.0, low=0, high=1e6, log=True, ui_low=1e-3, ui_high=1e3,
                                help="sensitivity to the gradient norm"), WEIGHT_DECAY),
            state_names=(),
            latex=r"\theta_t = \theta_{t-1} - \frac{\eta_t}{\sqrt{1 + \alpha \lVert g_t \rVert^2}} g_t",
            text="theta -= eta_t / sqrt(1 + alpha ||g_t||^2) g_t",
            eff_lr_latex=r"\eta_t / \sqrt{1 + \alpha \lVert g_t\rVert^2}",
            eff_lr_text="eta_t / sqrt(1 + alpha ||g_t||^2)", direction=GRAD,
            reference="smoothed normalized gradient descent: normalized GD (Hazan, Levy & Shalev-Shwartz "
                      "2015) where alpha ||g||^2 is large, SGD where small; cf. gradient clipping (Zhang et al. 2020)",
            torch_snippet=_GNSGD_TORCH,
        ),
        OptimizerInfo(
            name="adagrad", title="AdaGrad", rule=rules.adagrad, init=rules.init_adagrad,
            symbols=(G_T, THETA, ETA, EPS, Symbol("G_t", "the sum of squared gradients"),
                     Symbol(r"\kappa", "", "lr_decay"), Symbol(r"\tilde\eta_t", "the decayed lr")),
            specs=(_lr(1e-2),
                   H("lr_decay", 0.0, low=0, high=10, help="lr_t = lr / (1 + (t - 1) lr_decay)"),
                   WEIGHT_DECAY,
                   H("initial_accumulator_value", 0.0, low=0, high=1e3, help="initial value of the sum of squares"),
                   _eps(1e-10)),
            state_names=("sum",), second_moment=("sum",),
            latex=r"G_t = G_{t-1} + g_t^2,\quad \tilde\eta_t = \frac{\eta_t}{1 + (t-1)\kappa}"
                  r"\\ \theta_t = \theta_{t-1} - \tilde\eta_t \frac{g_t}{\sqrt{G_t} + \epsilon}",
            text="G_t = G_{t-1} + g_t^2; theta -= eta_t/(1 + (t-1) lr_decay) g_t / (sqrt(G_t) + eps)",
            eff_lr_latex=r"\tilde\eta_t / (\sqrt{G_t} + \epsilon)",
            eff_lr_text="eta_t / (1 + (t-1) lr_decay) / (sqrt(G_t) + eps)", direction=GRAD,
            reference="Duchi, Hazan & Singer 2011", torch_class="Adagrad",
        ),
        OptimizerInfo(
            name="rmsprop", title="RMSProp", rule=rules.rmsprop, init=rules.init_rmsprop,
            symbols=(G_T, THETA, ETA, EPS, Symbol(r"\alpha", "", "alpha"), Symbol(r"\mu", "", "momentum"),
                     Symbol(r"\bar g_t", "the gradient average (centered)"),
                     Symbol("v_t", "the squared-gradient average"), Symbol("b_t", "the momentum buffer")),
            specs=(_lr(1e-2),
                   H("alpha", 0.99, low=0, high=1, help="smoothing constant of the squared-gradient average"),
                   _eps(1e-8), WEIGHT_DECAY,
                   H("momentum", 0.0, low=0, high=1, help="momentum factor"),
                   H("centered", False, kind="bool", help="normalise by the estimated variance")),
            state_names=("square_avg", "grad_avg", "momentum_buffer"),
            first_moment=("momentum_buffer", "grad_avg"), second_moment=("square_avg",),
            latex=r"v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\quad a_t = \sqrt{v_t - \bar g_t^2\,[\text{centered}]}"
                  r" + \epsilon\\ b_t = \mu b_{t-1} + g_t / a_t,\quad \theta_t = \theta_{t-1} - \eta_t b_t",
            text="v_t = alpha v + (1-alpha) g^2; a_t = sqrt(v_t [- gbar_t^2 if centered]) + eps; b_t = mu b + g_t/a_t; "
                 "theta -= eta_t b_t",
            eff_lr_latex=r"\eta_t / a_t", eff_lr_text="eta_t / a_t", direction=GRAD, buffered_by="momentum",
            reference="Tieleman & Hinton 2012 (Coursera lecture 6.5); centered: Graves 2013", torch_class="RMSprop",
        ),
        OptimizerInfo(
            name="adadelta", title="Adadelta", rule=rules.adadelta, init=rules.init_adadelta,
            symbols=(G_T, THETA, ETA, EPS, Symbol(r"\rho", "", "rho"), Symbol(r"\Delta_t", "the update"),
                     Symbol("u_t", "the squared-update average")),
            specs=(_lr(1.0),
                   H("rho", 0.9, low=0, high=1, help="decay rate of the running averages"),
                   _eps(1e-6), WEIGHT_DECAY),
            state_names=("square_avg", "acc_delta"), second_moment=("square_avg",),
            latex=r"v_t = \rho v_{t-1} + (1-\rho) g_t^2,\quad \Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}"
                  r"{\sqrt{v_t + \epsilon}} g_t\\ u_t = \rho u_{t-1} + (1-\rho)\Delta_t^2,\quad"
                  r" \theta_t = \theta_{t-1} - \eta_t \Delta_t",
            text="v_t = rho v + (1-rho) g^2; Delta = sqrt(u_{t-1}+eps)/sqrt(v_t+eps) g_t; u_t = rho u + (1-rho) Delta^2; "
                 "theta -= eta_t Delta",
            eff_lr_latex=r"\eta_t \sqrt{u_{t-1}+\epsilon} / \sqrt{v_t + \epsilon}",
            eff_lr_text="eta_t sqrt(u_{t-1}+eps)/sqrt(v_t+eps)", direction=GRAD,
            reference="Zeiler 2012", torch_class="Adadelta",
        ),
        OptimizerInfo(
            name="adam", title="Adam", **_ADAM_RULE,
            symbols=_ADAM_SYMBOLS,
            specs=(_lr(1e-3), BETAS, _eps(1e-8), WEIGHT_DECAY, AMSGRAD, DECOUPLED),
            latex=_ADAM_LATEX + r"\quad(\text{amsgrad: } \hat v_t \text{ from } \max_{s \le t} v_s)",
            text=_ADAM_TEXT + " (amsgrad: v_hat from max_{s<=t} v_s)",
            reference="Kingma & Ba 2015; AMSGrad: Reddi, Kale & Kumar 2018", torch_class="Adam",
        ),
        OptimizerInfo(
            name="adamw", title="AdamW", **_ADAM_RULE,
            symbols=(THETA_NOW, *_ADAM_SYMBOLS, Symbol(r"\lambda", "decoupled: the weights shrink", "weight_decay")),
            specs=(_lr(1e-3), BETAS, _eps(1e-8),
                   H("weight_decay", 1e-2, low=0, high=10, ui_high=1.0, help="decoupled weight decay coefficient"),
                   AMSGRAD),
            latex=r"\theta \leftarrow \theta (1 - \eta_t \lambda)\\ " + _ADAM_LATEX,
            text="theta *= 1 - eta_t weight_decay; then " + _ADAM_TEXT,
            reference="Loshchilov & Hutter 2019", torch_class="AdamW", fixed={"decoupled_weight_decay": True},
        ),
        OptimizerInfo(
            name="adamax", title="Adamax", rule=rules.adamax, init=rules.init_adamax,
            symbols=(G_T, THETA, ETA, EPS, BETA1, BETA2, Symbol(r"\hat m_t", "the bias-corrected first moment"),
                     Symbol("u_t", "the infinity norm")),
            specs=(_lr(2e-3), BETAS, _eps(1e-8), WEIGHT_DECAY),
            state_names=("exp_avg", "exp_inf"), first_moment=("exp_avg",), second_moment=("exp_inf",),
            latex=r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon)"
                  r"\\ \theta_t = \theta_{t-1} - \frac{\eta_t}{1-\beta_1^t} \frac{m_t}{u_t}",
            text="m_t = b1 m_{t-1} + (1-b1) g_t; u_t = max(b2 u_{t-1}, |g_t| + eps); theta -= eta_t/(1-b1^t) m_t / u_t",
            eff_lr_latex=r"\eta_t / u_t", eff_lr_text="eta_t / u_t", direction=M_HAT,
            reference="Kingma & Ba 2015 (section 7)", torch_class="Adamax",
        ),
        OptimizerInfo(
            name="nadam", title="NAdam", rule=rules.nadam, init=rules.init_nadam,
            symbols=(G_T, THETA, ETA, EPS, BETA1, BETA2, Symbol(r"\psi", "", "momentum_decay"),
                     Symbol(r"\mu_t", "the momentum schedule"),
                     Symbol(r"\hat v_t", "the bias-corrected second moment")),
            specs=(_lr(2e-3), BETAS, _eps(1e-8), WEIGHT_DECAY,
                   H("momentum_decay", 4e-3, low=0, high=1, help="psi in mu_t = b1 (1 - 0.5 * 0.96^(t psi))"),
                   DECOUPLED),
            state_names=("exp_avg", "exp_avg_sq"), first_moment=("exp_avg",), second_moment=("exp_avg_sq",),
            latex=r"\mu_t = \beta_1 (1 - \tfrac12 0.96^{t\psi}),\quad m_t, v_t \text{ as Adam}"
                  r"\\ \theta_t = \theta_{t-1} - \eta_t \frac{\frac{1-\mu_t}{1-\prod_{i\le t}\mu_i} g_t"
                  r" + \frac{\mu_{t+1}}{1-\prod_{i\le t+1}\mu_i} m_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}",
            text="mu_t = b1 (1 - 0.5 * 0.96^(t psi)); m_t, v_t as Adam; theta -= eta_t [(1-mu_t)/(1-prod_{i<=t} mu_i) g_t"
                 " + mu_{t+1}/(1-prod_{i<=t+1} mu_i) m_t] / (sqrt(v_t/(1-b2^t)) + eps)",
            eff_lr_latex=r"\eta_t / (\sqrt{\hat v_t} + \epsilon)", eff_lr_text="eta_t / (sqrt(v_t/(1-b2^t)) + eps)",
            direction=NESTEROV,
            reference="Dozat 2016", torch_class="NAdam",
        ),
        OptimizerInfo(
            name="radam", title="RAdam", rule=rules.radam, init=rules.init_radam,
            symbols=(G_T, THETA, ETA, EPS, BETA2, Symbol(r"\hat m_t", "the bias-corrected first moment"),
                     Symbol(r"\rho_\infty", "the longest SMA length, 2/(1-beta_2) - 1"),
                     Symbol(r"\rho_t", "the SMA length at step t"), Symbol("r_t", "the variance rectification")),
            specs=(_lr(1e-3), BETAS, _eps(1e-8), WEIGHT_DECAY, DECOUPLED),
            state_names=("exp_avg", "exp_avg_sq"), first_moment=("exp_avg",), second_moment=("exp_avg_sq",),
            latex=r"\rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t},\quad r_t = \sqrt{\frac{(\rho_t-4)"
                  r"(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}"
                  r"\\ \theta_t = \theta_{t-1} - \eta_t \hat m_t \cdot \begin{cases} r_t \frac{\sqrt{1-\beta_2^t}}"
                  r"{\sqrt{v_t}+\epsilon} & \rho_t > 5\\ 1 & \text{otherwise}\end{cases}",
            text="rho_t = rho_inf - 2 t b2^t/(1-b2^t); r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) "
                 "rho_t)); theta -= eta_t r_t sqrt(1-b2^t)/(sqrt(v_t)+eps) m_hat if rho_t > 5, else theta -= eta_t m_hat",
            eff_lr_latex=r"\eta_t r_t \sqrt{1-\beta_2^t} / (\sqrt{v_t}+\epsilon)",
            eff_lr_text="eta_t r_t sqrt(1-b2^t)/(sqrt(v_t)+eps) if rho_t > 5, else eta_t", direction=M_HAT,
            reference="Liu et al. 2020", torch_class="RAdam",
        ),
        OptimizerInfo(
            name="rprop", title="Rprop", rule=rules.rprop, init=rules.init_rprop,
            symbols=(G_T, THETA, Symbol(r"\eta_+", "", "etas[1]"), Symbol(r"\eta_-", "", "etas[0]"),
                     Symbol(r"\eta_1", "", "lr"), Symbol("s_{min}", "", "step_sizes[0]"),
                     Symbol("s_{max}", "", "step_sizes[1]"), Symbol("s_t", "the step size"),
                     Symbol(r"\tilde g_t", "the gradient, 0 where its sign flipped")),
            specs=(H("lr", 1e-2, low=0, high=MAX_LR, log=True, ui_low=1e-6, ui_high=10.0,
                     help="initial step size of every parameter (the lr of step 1; later lrs play no part)"),
                   H("etas", (0.5, 1.2), kind="pair", low=0, high=10, low_open=True,
                     help="step-size factors (decrease, increase): 0 < etas[0] < 1 < etas[1]"),
                   H("step_sizes", (1e-6, 50.0), kind="pair", low=0, high=1e6, log=True,
                     help="smallest and largest step size")),
            state_names=("prev", "step_size"),
            latex=r"s_t = \operatorname{clip}\big(s_{t-1} \cdot \begin{cases} \eta_+ & g_t \tilde g_{t-1} > 0 \\"
                  r" \eta_- & g_t \tilde g_{t-1} < 0 \\ 1 & \text{else} \end{cases},\ s_{min}, s_{max}\big),\quad"
                  r" s_0 = \eta_1\\ \tilde g_t = \begin{cases} 0 & g_t \tilde g_{t-1} < 0 \\ g_t & \text{else}"
                  r" \end{cases},\quad \theta_t = \theta_{t-1} - s_t \operatorname{sign}(\tilde g_t)",
            text="s_t = clip(s_{t-1} * (eta+ if g_t g~_{t-1} > 0, eta- if < 0, else 1), s_min, s_max), s_0 = eta_1 "
                 "(the lr of step 1); g~_t = 0 where g_t g~_{t-1} < 0, else g_t; theta -= s_t sign(g~_t)",
            eff_lr_latex=r"s_t", eff_lr_text="s_t (the step size)", direction=SIGN_GRAD,
            reference="Riedmiller & Braun 1993", torch_class="Rprop", check=_check_rprop,
        ),
        OptimizerInfo(
            name="lion", title="Lion", rule=rules.lion, init=rules.init_lion,
            symbols=(THETA_NOW, G_T, THETA, ETA, BETA1, BETA2, Symbol(r"\lambda", "decoupled: the weights shrink", "weight_decay")),
            specs=(H("lr", 1e-4, low=0, high=MAX_LR, low_open=True, log=True, ui_low=1e-6, ui_high=1.0,
                     help="learning rate (scheduled base value): the size of every coordinate's step"),
                   H("betas", (0.9, 0.99), kind="pair", low=0, high=1,
                     help="interpolation weight of the step direction, decay rate of the momentum"),
                   H("weight_decay", 0.0, low=0, high=10, ui_high=1.0,
                     help="decoupled weight decay: the weights shrink by lr * weight_decay")),
            state_names=("exp_avg",), first_moment=("exp_avg",),
            latex=r"\theta \leftarrow \theta (1 - \eta_t \lambda),\quad c_t = \beta_1 m_{t-1} + (1-\beta_1) g_t"
                  r"\\ \theta_t = \theta - \eta_t \operatorname{sign}(c_t),\quad m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t",
            text="theta *= 1 - eta_t weight_decay; c_t = b1 m_{t-1} + (1-b1) g_t; theta -= eta_t sign(c_t); "
                 "m_t = b2 m_{t-1} + (1-b2) g_t",
            eff_lr_latex=r"\eta_t", eff_lr_text="eta_t", direction=SIGN,
            reference="Chen et al. 2023 (Symbolic Discovery of Optimization Algorithms); reference: lion-pytorch",
            torch_snippet=_LION_TORCH,
        ),
        OptimizerInfo(
            name="asgd", title="ASGD", rule=rules.asgd, init=rules.init_asgd,
            symbols=(G_T, THETA, ETA, Symbol(r"\omega", "", "lambd"), Symbol(r"\alpha", "", "alpha"), Symbol("t_0", "", "t0"),
                     Symbol(r"\tilde\eta_t", "the decayed step size"),
                     Symbol(r"\mu_t", "the averaging weight"), Symbol(r"\bar\theta_t", "the averaged point ax"),
                     Symbol(r"\bar\theta", "the averaged point ax"), Symbol(r"\eta_1", "", "lr"),
                     Symbol(r"\tilde\eta_1", "the first step size")),
            specs=(_lr(1e-2),
                   H("lambd", 1e-4, low=0, high=10, log=True, ui_low=1e-6, ui_high=1.0,
                     help="decay term: shrinks the step size over time and the weights by 1 - lambd * eta_t"),
                   H("alpha", 0.75, low=0, high=10, ui_high=2.0, help="power of the step-size decay"),
                   H("t0", 1e6, low=0, high=1e12, log=True, ui_low=1.0, ui_high=1e6,
                     help="step after which the iterates are averaged (ax is the point itself until then)"),
                   WEIGHT_DECAY),
            state_names=("ax",),
            latex=r"\tilde\eta_t = \frac{\eta_{t-1}}{(1 + \omega \eta_{t-1} (t-1))^\alpha}\ (\tilde\eta_1 = \eta_1)"
                  r"\\ \theta_t = \theta_{t-1}(1 - \omega \tilde\eta_t) - \tilde\eta_t g_t"
                  r"\\ \mu_t = \frac{1}{\max(1,\, t - 1 - t_0)}\\ \bar\theta_t = \bar\theta_{t-1}"
                  r" + \mu_t (\theta_t - \bar\theta_{t-1})\quad(\bar\theta\text{: the averaged point ax})",
            text="eta~_t = eta_{t-1} / (1 + lambd eta_{t-1} (t-1))^alpha (eta~_1 = eta_1); "
                 "theta = theta (1 - lambd eta~_t) - eta~_t g_t; mu_t = 1 / max(1, t - 1 - t0); "
                 "ax_t = ax_{t-1} + mu_t (theta_t - ax_{t-1}) (ax: the averaged point)",
            eff_lr_latex=r"\tilde\eta_t", eff_lr_text="eta~_t", direction=GRAD,
            reference="Polyak & Juditsky 1992 (averaging); step sizes as torch.optim.ASGD (Bottou 2010)",
            torch_class="ASGD",
        ),
        OptimizerInfo(
            name="adafactor", title="Adafactor", rule=rules.adafactor, init=rules.init_adafactor,
            symbols=(THETA_NOW, G_T, THETA, ETA, Symbol(r"\epsilon_1", "", "eps[0]"), Symbol(r"\epsilon_2", "", "eps[1]"),
                     Symbol("d", "", "d"), Symbol("c", "", "beta2_decay"),
                     Symbol(r"\lambda", "decoupled: the weights shrink", "weight_decay"),
                     Symbol(r"\rho_t", "the relative step size")),
            specs=(H("lr", 1e-2, low=0, high=MAX_LR, log=True, ui_low=1e-5, ui_high=10.0,
                     help="cap of the relative step size rho_t = min(lr, 1/sqrt(t)) (scheduled base value)"),
                   H("beta2_decay", -0.8, low=-10, high=0, ui_low=-2.0,
                     help="the second-moment average takes weight t^beta2_decay of the new g^2"),
                   H("eps", (FLOAT64_EPS, 1e-3), kind="pair", low=0, high=1, log=True,
                     help="eps1: floor of the second moment's sqrt (torch's None: the dtype's eps, here "
                          "float64's); eps2: floor of the parameters' RMS in the step size"),
                   H("d", 1.0, low=1, high=1e6, log=True, ui_low=1.0, ui_high=100.0,
                     help="clipping threshold: the update's RMS is scaled down to at most d"),
                   H("weight_decay", 0.0, low=0, high=10, ui_high=1.0,
                     help="decoupled weight decay: the weights shrink by lr * weight_decay")),
            state_names=("variance",), second_moment=("variance",),
            latex=r"\rho_t = \min(\eta_t, 1/\sqrt t)\\ a_t = \max(\epsilon_2, \operatorname{RMS}(\theta_{t-1}))"
                  r" \rho_t\\ \theta \leftarrow \theta (1 - \eta_t \lambda)"
                  r"\\ v_t = v_{t-1} + t^{c} (g_t^2 - v_{t-1}),\quad u_t = \frac{g_t}{\sqrt{\max(v_t, \epsilon_1^2)}}"
                  r"\\ \theta_t = \theta - \frac{a_t}{\max(1, \operatorname{RMS}(u_t)/d)} u_t"
                  r"\\ (c = \text{beta2\_decay};\ \text{RMS over the point's 2 coordinates,}\\ \text{one vector})"
                  r"\\ \text{MNIST weight matrices: } v_t = R_t C_t / \operatorname{mean}(R_t),"
                  r"\\ R_t, C_t"
                  r"\text{ the row and column means of } g_t^2 \text{, averaged as } v_t",
            text="rho_t = min(eta_t, 1/sqrt(t)); a_t = max(eps2, RMS(theta_{t-1})) rho_t; "
                 "theta *= 1 - eta_t weight_decay; v_t = v_{t-1} + t^beta2_decay (g_t^2 - v_{t-1}); "
                 "u_t = g_t / sqrt(max(v_t, eps1^2)); theta -= a_t / max(1, RMS(u_t)/d) u_t "
                 "(the point is one vector: v is not factored; on MNIST each weight matrix's v_t = R_t C_t / mean(R_t), "
                 "R_t, C_t its row and column means of g_t^2, averaged as v)",
            eff_lr_latex=r"\frac{a_t}{\max(1, \operatorname{RMS}(u_t)/d) \sqrt{\max(v_t, \epsilon_1^2)}}",
            eff_lr_text="a_t / (max(1, RMS(u_t)/d) sqrt(max(v_t, eps1^2)))", direction=GRAD,
            reference="Shazeer & Stern 2018; as torch.optim.Adafactor (factored: matrices, unfactored: vectors)",
            torch_class="Adafactor", matrix_rule=rules.adafactor_matrix, matrix_init=rules.init_adafactor_matrix,
        ),
        OptimizerInfo(
            name="muon", title="Muon", rule=rules.muon, init=rules.init_muon,
            symbols=(THETA_NOW, G_T, THETA, ETA, Symbol(r"\mu", "", "momentum"), Symbol(r"\epsilon", "", "eps"),
                     Symbol(r"\lambda", "decoupled: the weights shrink", "weight_decay"),
                     Symbol(r"\eta'_t", "the shape-adjusted lr"), Symbol("a, b, c", "", "ns_coefficients")),
            specs=(_lr(1e-3),
                   H("weight_decay", 0.1, low=0, high=10, ui_high=1.0,
                     help="decoupled weight decay: the weights shrink by lr * weight_decay"),
                   H("momentum", 0.95, low=0, high=1, help="momentum factor of the buffer B_t"),
                   H("nesterov", True, kind="bool", help="orthogonalise lerp(g_t, B_t, momentum) instead of B_t"),
                   H("ns_coefficients", (3.4445, -4.7750, 2.0315), kind="pair", low=-10, high=10,
                     help="a, b, c of the quintic Newton-Schulz iteration X <- a X + (b A + c A^2) X, A = X X^T"),
                   _eps(1e-7),
                   H("ns_steps", 5, low=0, high=99, kind="int", help="Newton-Schulz iterations (torch: fewer than 100)"),
                   H("adjust_lr_fn", "original", kind="choice", choices=("original", "match_rms_adamw"),
                     help="lr scaling by the matrix shape m x n: sqrt(max(1, m/n)) (torch's None), or 0.2 sqrt(max(m, n))")),
            state_names=("momentum_buffer",), first_moment=("momentum_buffer",),
            latex=r"B_t = \mu B_{t-1} + (1-\mu) g_t\\ U_t = \begin{cases} (1-\mu) g_t + \mu B_t & \text{nesterov}"
                  r" \\ B_t \end{cases}"
                  r"\\ X_0 = \frac{U_t}{\max(\lVert U_t \rVert_F, \epsilon)},\quad O_t = X_k\ (k = \text{ns\_steps})"
                  r"\\ X_{j+1} = a X_j + (b A_j + c A_j^2) X_j,\ A_j = X_j X_j^\top"
                  r"\\ \theta_t = \theta_{t-1} (1 - \eta_t \lambda) - \eta'_t O_t"
                  r"\\ \eta'_t = \eta_t \sqrt{\max(1, m/n)}\\ (\text{match\_rms\_adamw: } 0.2\, \eta_t \sqrt{\max(m, n)})"
                  r"\\ (\text{the point is the } 1 \times 2 \text{ matrix torch would see: } A_j = \lVert X_j \rVert^2;"
                  r"\\ \text{Newton-Schulz in float64, torch's in bfloat16})",
            text="B_t = mu B_{t-1} + (1-mu) g_t; U_t = (1-mu) g_t + mu B_t (nesterov) or B_t; "
                 "X_0 = U_t / max(||U_t||_F, eps), X_{j+1} = a X_j + (b A_j + c A_j^2) X_j with A_j = X_j X_j^T, "
                 "O_t = X_{ns_steps}; theta = theta (1 - eta_t weight_decay) - eta'_t O_t, "
                 "eta'_t = eta_t sqrt(max(1, m/n)) or 0.2 eta_t sqrt(max(m, n)) (match_rms_adamw) "
                 "(the point is the 1 x 2 matrix torch would see; Newton-Schulz in float64, torch's in bfloat16; "
                 "on MNIST the weight matrices, biases by AdamW)",
            eff_lr_latex=r"\eta'_t", eff_lr_text="eta'_t (the shape-adjusted lr)", direction=MUON,
            reference="Jordan et al. 2024 (Muon: An optimizer for hidden layers in neural networks); "
                      "match_rms_adamw: Liu et al. 2025 (Muon is Scalable for LLM Training)",
            torch_class="Muon", matrix_rule=rules.muon_matrix, matrix_init=rules.init_muon, vectors_to="adamw",
            array_only="its Newton-Schulz loop runs ns_steps times, and the kernels take every number as an "
                       "input (one kernel for all its values), so they cannot unroll it",
        ),
        OptimizerInfo(
            name="newton", title="Newton (damped)", rule=rules.newton, init=rules.init_stateless,
            symbols=(G_T, THETA, ETA, Symbol(r"\nu", "", "damping"), Symbol("H_t", "the Hessian")),
            specs=(H("lr", 1.0, low=0, high=MAX_LR, log=True, ui_low=1e-3, ui_high=10.0,
                     help="step length along the Newton direction (1: the minimum of the local quadratic model)"),
                   H("damping", 0.0, low=0, high=1e6, log=True, ui_low=1e-4, ui_high=1e3,
                     help="nu added to the Hessian's diagonal: large values turn the step into "
                          "gradient descent with lr / nu")),
            state_names=(),
            latex=r"d_t = (H_t + \nu I)^{-1} g_t,\quad H_t = \nabla^2 f(\theta_{t-1})"
                  r"\\ \theta_t = \theta_{t-1} - \eta_t d_t",
            text="d_t = (H_t + damping I)^-1 g_t with H_t the surface's Hessian at theta_{t-1} (closed form); "
                 "theta -= eta_t d_t",
            eff_lr_latex=r"\eta_t", eff_lr_text="eta_t", direction=NEWTON,
            reference="Newton's method; damping: Levenberg 1944, Marquardt 1963 (fixed nu here)",
            torch_snippet=_NEWTON_TORCH,
            two_d_only="it solves with the Hessian of the surface in closed form",
            curvature=True,
        ),
        OptimizerInfo(
            name="prodigy", title="Prodigy", rule=rules.prodigy, init=rules.init_prodigy,
            symbols=(G_T, THETA, ETA, EPS, BETA1, BETA2, Symbol("d_0", "", "d0"),
                     Symbol(r"\beta_3", "the sqrt of beta_2"), Symbol(r"\theta_0", "the starting point"),
                     Symbol(r"\delta_t", "the step size d times lr"), Symbol("d_t", "the estimated distance")),
            specs=(H("lr", 1.0, low=0, high=MAX_LR, low_open=True, log=True, ui_low=1e-3, ui_high=10.0,
                     help="multiplier of the estimated step size d (scheduled base value; leave at 1)"),
                   H("betas", (0.9, 0.999), kind="pair", low=0, high=1, high_open=True,
                     help="decay rates of the first and second moment averages"),
                   _eps(1e-8),
                   H("weight_decay", 0.0, low=0, high=10, ui_high=1.0, help="weight decay (decoupled by default)"),
                   H("decouple", True, kind="bool", help="decoupled weight decay (AdamW style), else an L2 gradient"),
                   H("use_bias_correction", False, kind="bool", help="Adam's bias correction in the step size"),
                   H("safeguard_warmup", False, kind="bool",
                     help="leave lr out of the d estimate's denominator (for warm-up schedules)"),
                   H("d0", 1e-6, low=0, high=1, low_open=True, log=True, ui_low=1e-10, ui_high=1e-2,
                     help="initial estimate of d"),
                   H("d_coef", 1.0, low=0, high=100, low_open=True, log=True, ui_low=0.1, ui_high=10.0,
                     help="coefficient of the d estimate (the preferred knob)")),
            state_names=("d", "exp_avg", "exp_avg_sq"), first_moment=("exp_avg",), second_moment=("exp_avg_sq",),
            fixed={"growth_rate": math.inf},
            latex=r"\beta_3 = \sqrt{\beta_2},\ \ \delta_t = d_{t-1} \eta_t,\quad r_t = \beta_3 r_{t-1} + \tfrac{d_{t-1}}{d_0}"
                  r" \delta_t \langle g_t, \theta_0 - \theta_{t-1} \rangle\\ s_t = \beta_3 s_{t-1}"
                  r" + \tfrac{d_{t-1}}{d_0} \delta_t g_t"
                  r",\quad d_t = \max\!\big(d_{t-1}, \tfrac{r_t}{\lVert s_t \rVert_1}\big)"
                  r"\\ m_t = \beta_1 m_{t-1} + d_{t-1} (1-\beta_1) g_t,\quad v_t = \beta_2 v_{t-1} + d_{t-1}^2 (1-\beta_2) g_t^2"
                  r"\\ \theta_t = \theta_{t-1} - \delta_t \frac{m_t}{\sqrt{v_t} + d_t \epsilon}",
            text="beta3 = sqrt(b2); delta_t = d_{t-1} eta_t; r_t = beta3 r + (d_{t-1}/d0) delta_t <g_t, theta_0 - theta>; "
                 "s_t = beta3 s + (d_{t-1}/d0) delta_t g_t; d_t = max(d_{t-1}, d_coef r_t / ||s_t||_1); "
                 "m_t = b1 m + d_{t-1} (1-b1) g_t, v_t = b2 v + d_{t-1}^2 (1-b2) g_t^2; "
                 "theta -= delta_t m_t / (sqrt(v_t) + d_t eps) (the package's details: rules.prodigy)",
            eff_lr_latex=r"\delta_t / (\sqrt{v_t} + d_t \epsilon)", eff_lr_text="delta_t / (sqrt(v_t) + d_t eps)",
            direction=M_T,
            reference="Mishchenko & Defazio 2024 (Prodigy); reference: prodigyopt 1.1.2",
            torch_snippet=_PRODIGY_TORCH, decoupled_by=r"\delta_t",
        ),
        OptimizerInfo(
            name="sgd_schedule_free", title="Schedule-Free SGD", rule=rules.sgd_schedule_free,
            symbols=(*_SF_SYMBOLS, Symbol(r"\beta", "", "momentum")),
            init=rules.init_schedule_free,
            specs=(_lr(1.0),
                   H("momentum", 0.9, low=0, high=1, low_open=True, high_open=True,
                     help="interpolation between the average x and the SGD sequence z (0 < momentum < 1)"),
                   *_SCHEDULE_FREE),
            state_names=("x", "z"), stepped="z",
            latex=_SF_LATEX.format(u=r"g_t + \lambda y_{t-1}", beta=r"\beta"),
            text=_SF_TEXT.format(u="g_t + weight_decay y_{t-1}", beta="momentum"),
            eff_lr_latex=r"\eta'_t", eff_lr_text="eta'_t (the step of z)", direction=GRAD,
            reference="Defazio et al. 2024 (The Road Less Scheduled); reference: schedulefree 1.4.1",
            torch_snippet=_schedule_free_torch("SGDScheduleFree", "lr={lr!r}, momentum={momentum!r}"),
        ),
        OptimizerInfo(
            name="adamw_schedule_free", title="Schedule-Free AdamW", rule=rules.adamw_schedule_free,
            symbols=(*_SF_SYMBOLS, BETA1, BETA2, EPS,
                     Symbol(r"\hat v_t", "the bias-corrected second moment")),
            init=rules.init_schedule_free,
            specs=(_lr(2.5e-3),
                   H("betas", (0.9, 0.999), kind="pair", low=0, high=1, low_open=True, high_open=True,
                     help="interpolation between x and z (beta1), decay rate of the second moment"),
                   _eps(1e-8), *_SCHEDULE_FREE),
            state_names=("x", "z", "exp_avg_sq"), second_moment=("exp_avg_sq",), stepped="z",
            latex=r"v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad \hat v_t = v_t / (1 - \beta_2^t)\\ "
                  + _SF_LATEX.format(u=r"\frac{g_t}{\sqrt{\hat v_t} + \epsilon} + \lambda y_{t-1}", beta=r"\beta_1"),
            text="v_t = b2 v + (1-b2) g_t^2, v_hat = v_t/(1-b2^t); "
                 + _SF_TEXT.format(u="g_t / (sqrt(v_hat) + eps) + weight_decay y_{t-1}", beta="b1"),
            eff_lr_latex=r"\eta'_t / (\sqrt{\hat v_t} + \epsilon)",
            eff_lr_text="eta'_t / (sqrt(v_hat) + eps) (the step of z)", direction=GRAD,
            reference="Defazio et al. 2024 (The Road Less Scheduled); reference: schedulefree 1.4.1",
            torch_snippet=_schedule_free_torch("AdamWScheduleFree", "lr={lr!r}, betas={betas!r}, eps={eps!r}"),
        ),
        OptimizerInfo(
            name="lbfgs", title="L-BFGS", rule=lbfgs.lbfgs, init=lbfgs.init_lbfgs,
            symbols=(THETA_NOW, G_T, THETA, ETA, Symbol("m", "", "history_size"), Symbol(r"\tau_k", "the step length of inner iteration k")),
            specs=(H("lr", 1.0, low=0, high=MAX_LR, log=True, ui_low=1e-4, ui_high=10.0,
                     help="step length tried first in every inner iteration (the first one ever: "
                          "min(1, 1/||g||_1) lr); scheduled base value"),
                   H("max_iter", 20, low=1, high=200, kind="int", help="most inner iterations per step"),
                   H("max_eval", None, low=1, high=250, kind="int",
                     help="most loss evaluations per step (None: max_iter * 5 // 4)"),
                   H("tolerance_grad", 1e-7, low=0, high=1e3, log=True, ui_low=1e-12, ui_high=1.0,
                     help="a step stops (or does nothing) once max |g| <= tolerance_grad"),
                   H("tolerance_change", 1e-9, low=0, high=1e3, log=True, ui_low=1e-15, ui_high=1.0,
                     help="a step stops once the loss or the parameters change by less"),
                   H("history_size", 100, low=1, high=200, kind="int", help="curvature pairs (s, y) kept"),
                   H("line_search_fn", None, kind="choice", choices=(None, "strong_wolfe"),
                     help="None: fixed steps of length lr; strong_wolfe: torch's line search from there")),
            state_names=("d", "n_pairs", "t", "func_evals"), scalar_state=("n_pairs", "t", "func_evals"),
            closure_calls=lbfgs.eval_slots,
            latex=r"d_k = \begin{cases} -g_k & \text{first iteration ever} \\ -H_k g_k & \text{else} \end{cases}"
                  r"\\ H_k g_k \text{ by the two-loop recursion over the last } m \text{ pairs } (s_i, y_i),"
                  r"\\ y_i^\top s_i > 10^{-10},\ H^0 = \tfrac{y^\top s}{y^\top y} I"
                  r"\\ \tau_k = \eta_t\ (\text{first iteration ever: } \min(1, 1/\lVert g_k \rVert_1)\, \eta_t),"
                  r"\\ \text{or strong Wolfe from there } (c_1 = 10^{-4},\ c_2 = 0.9)"
                  r"\\ \theta \leftarrow \theta + \tau_k d_k,\quad s = \tau_k d_k,\ y = g_{k+1} - g_k"
                  r"\\ k = 1 \ldots K \le \text{max\_iter inner iterations in step } t",
            text="inner iterations k = 1..K <= max_iter per step: d_k = -g_k (first ever) or -H_k g_k (two-loop "
                 "recursion over the last history_size pairs s = tau d, y = g_{k+1} - g_k with y.s > 1e-10, "
                 "H0 = y.s / y.y); tau_k = eta_t (first ever: min(1, 1/||g||_1) eta_t) or strong Wolfe from there; "
                 "theta += tau_k d_k; stops at max |g| <= tolerance_grad, g.d > -tolerance_change, a change below "
                 "tolerance_change, max_iter or max_eval",
            eff_lr_latex=r"\tau_K", eff_lr_text="tau_K (the step length of the step's last inner iteration)",
            direction=LBFGS_DIRECTION,
            reference="Liu & Nocedal 1989 (L-BFGS); as torch.optim.LBFGS (after minFunc)",
            torch_class="LBFGS",
            array_only="its inner iterations, line search and curvature pairs call the loss as a closure, "
                       "which the runners hand it on the array code; the compiled kernels do not apply",
        ),
    ]
}


@dataclass(frozen=True)
class OptimizerConfig:
    """One validated optimizer configuration; hashable, so it can key caches.

    name: registry key; hparams: (name, value) pairs in spec order (torch.optim names);
    schedule: the lr schedule; label: legend text.
    l1, l1_mode: the L1 penalty l1 * sum(|p|) (0: off), as a subgradient added to the gradient
    or as a proximal soft-threshold after the step (optimizers.transforms); not in `hp`, as the
    rules never see it.
    """

    name: str
    hparams: tuple
    schedule: ScheduleConfig = ScheduleConfig()
    label: str = ""
    l1: float = 0.0
    l1_mode: str = "subgradient"

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

    @property
    def l1_proximal(self) -> float:
        """The strength of the proximal L1 step (0: none)."""
        return self.l1 if self.l1_mode == "proximal" else 0.0

    @property
    def l1_subgradient(self) -> float:
        """The strength of the L1 subgradient term (0: none)."""
        return self.l1 if self.l1_mode == "subgradient" else 0.0


def get_optimizer(name: str, *, schedule=None, label: str | None = None, l1: float = 0.0,
                  l1_mode: str = "subgradient", **hyperparameters) -> OptimizerConfig:
    """Validate an optimizer by name with torch.optim hyperparameter names.

    schedule: None (constant), a schedule name, a (name, params) pair or a ScheduleConfig.
    l1, l1_mode: the L1 penalty (optimizers.transforms.L1_SPECS), for every optimizer.
    Raises ValueError naming the parameter, the value and the allowed range.
    """
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    info = OPTIMIZERS[name]
    hp = validate(name, info.specs, hyperparameters)
    if info.check:
        info.check(hp)
    penalty = validate(name, L1_SPECS, {"l1": l1, "l1_mode": l1_mode})
    sched = as_schedule(schedule)
    return OptimizerConfig(name, tuple(hp.items()), sched, label or default_label(info, hp, sched, **penalty),
                           **penalty)


def default_label(info: OptimizerInfo, hp: dict, schedule: ScheduleConfig, l1: float = 0.0,
                  l1_mode: str = "subgradient") -> str:
    """Short legend text: the title plus the hyperparameters that differ from their defaults."""
    parts = [f"lr={hp['lr']:g}"]
    for spec in info.specs:
        value = hp[spec.name]
        if spec.name != "lr" and value != spec.default:
            parts.append(f"{spec.name}={_short(value)}")
    if l1 > 0:
        parts.append(f"l1={l1:g}" + (" prox" if l1_mode == "proximal" else ""))
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
