"""`OptimizerInfo`: everything the engine and the app know of one optimizer, and its parts.

The app reads what it shows of a rule from here instead of branching on the rule's name:
which recorded state is a first or a second moment (the internals table and arrows), the
direction the effective learning rate multiplies (the live equation), the formulas in LaTeX
(the app) and plain text (the README table), and the PyTorch source of a rule torch.optim lacks
("Copy as PyTorch").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hyperparams import Hyperparameter


@dataclass(frozen=True)
class Direction:
    """The vector ([..., D], like the parameters) that a rule's eff_lr multiplies.

    theta_t = theta_{t-1} - eff_lr ⊙ direction, unless decoupled weight decay or a buffer
    (OptimizerInfo.buffered_by) adds a term outside that product.

    key: "grad" (g_t), "d" (SGD's d_t), "m_hat" (m_t / (1 - b1^t)), "nesterov" (NAdam's
    bracketed Nesterov direction), "sign" (Lion's sign(c_t)), "sign_grad" (Rprop's sign(g~_t),
    the gradient zeroed where its sign flipped), "newton" (the damped Newton direction) or "m"
    (Prodigy's m_t, the average of d-weighted gradients), "muon" (Muon's Newton-Schulz
    orthogonalised momentum O_t) or "lbfgs" (-d_K, L-BFGS's search direction of the last inner
    iteration of a step).
    latex: the phrase the app writes after the eff_lr formula, e.g. r"\\text{ on } \\hat m_t".
    text: its name in the README's plain-text table.
    """

    key: str
    latex: str
    text: str


GRAD = Direction("grad", r"\text{ on } g_t", "g_t")
SGD_DIRECTION = Direction("d", r"\text{ on } d_t", "d_t")
M_HAT = Direction("m_hat", r"\text{ on } \hat m_t", "m_hat = m_t/(1-b1^t)")
NESTEROV = Direction("nesterov", r"\text{ on the Nesterov direction}", "the bracket")
SIGN = Direction("sign", r"\text{ on } \operatorname{sign}(c_t)", "sign(c_t)")
SIGN_GRAD = Direction("sign_grad", r"\text{ on } \operatorname{sign}(\tilde g_t)", "sign(g~_t)")
M_T = Direction("m", r"\text{ on } m_t", "m_t")
MUON = Direction("muon", r"\text{ on } O_t = \mathrm{NS}(U_t)", "O_t = NS(U_t)")
NEWTON = Direction("newton", r"\text{ on } d_t = (H_t + \nu I)^{-1} g_t", "d_t = (H_t + damping I)^-1 g_t")
LBFGS_DIRECTION = Direction("lbfgs", r"\text{ on } -d_K\ (\text{the last inner iteration's})",
                            "-d_K of the step's last inner iteration (a step makes up to max_iter)")


@dataclass(frozen=True)
class Symbol:
    """One symbol of a rule's formulas, as the app defines it beside them.

    latex: the symbol as the formulas write it, e.g. r"\\mu", r"\\beta_1", r"\\tilde\\eta_t".
    words: what it is, a few English words (the app translates them through i18n.phrase).
    hyperparameter: the torch.optim hyperparameter it stands for (a spec name; "betas[0]" for an
    entry of a pair), or None for the rule's state and derived quantities.
    """

    latex: str
    words: str = ""
    hyperparameter: str | None = None


G_T = Symbol("g_t", "the gradient at step t")
THETA = Symbol(r"\theta_t", "the parameters after step t")
THETA_NOW = Symbol(r"\theta", "the parameters, updated in place")
ETA = Symbol(r"\eta_t", "the scheduled lr at step t", "lr")
EPS = Symbol(r"\epsilon", "", "eps")
BETA1 = Symbol(r"\beta_1", "", "betas[0]")
BETA2 = Symbol(r"\beta_2", "", "betas[1]")
WEIGHT_DECAY = Symbol(r"\lambda", "", "weight_decay")
L1 = Symbol(r"\lambda_1", "", "l1")


@dataclass(frozen=True)
class TorchSnippet:
    """PyTorch source of a rule torch.optim lacks: its package's optimizer class, or torch.optim.SGD
    on a gradient rewritten in the loop.

    setup: lines after `params = ...` that define `optimizer` and whatever the loop reads.
    loop: lines of train() between `backward()` and `optimizer.step()`, indented relative to
    the loop body.
    Both are str.format templates of `title` and the hyperparameters, e.g. "lr={lr!r}".
    """

    setup: tuple[str, ...]
    loop: tuple[str, ...]
    imports: tuple[str, ...] = ()  # the import of its package, at the top of the script


@dataclass(frozen=True, kw_only=True)
class OptimizerInfo:
    """One optimizer: its rule and everything the app shows of it.

    name, title: registry key and display name.
    rule, init: the update rule and its initial state (optimizers/rules.py).
    specs: its hyperparameters, torch.optim names; fixed: hyperparameters this entry pins (AdamW's
    decoupling); check: cross-parameter rules, raising ValueError.
    state_names: per-parameter state a configuration may record in Result.state.
    first_moment, second_moment: the state names holding a first / second moment, in order of
    preference: the app shows the first one a configuration records.
    latex, text: the update exactly as implemented, in LaTeX (the app) and plain text (README).
    symbols: every symbol latex and eff_lr write (Greek letters, decorated letters), defined; a
    weight_decay among them means the formula already writes weight decay (else the app adds its
    line when it is on, rule_latex). decoupled_by: the step size decoupled weight decay multiplies.
    eff_lr_latex, eff_lr_text: the effective learning rate alone, in LaTeX and plain text.
    direction: the vector eff_lr multiplies.
    buffered_by: the hyperparameter that, when > 0, puts a buffer between eff_lr ⊙ direction and
    the step (RMSProp's momentum: eff_lr scales g_t entering the buffer, the step follows the
    buffer), so the step is no longer eff_lr ⊙ direction.
    reference: the paper(s).
    torch_class: the torch.optim class, or None with torch_snippet the source written instead.
    two_d_only: why the rule runs on the 2-D surfaces only (None: it also trains the MNIST MLP,
    whose parameters the trainer holds as one flat vector per model, so a rule there works entry
    by entry or over the whole vector, unless it has a matrix_rule for each layer).
    curvature: the rule also takes the surface's Hessian, as rule(..., hess=(f_xx, f_xy, f_yy));
    only the 2-D runners' array code provides it (the compiled kernels do not trace it).
    stepped: the recorded state that moves by -eff_lr ⊙ direction where the path does not (the
    schedule-free rules: z takes the steps, the path y interpolates towards it).
    matrix_rule, matrix_init: the rule (same signature, p and g [..., m, n]) and initial state for
    weight matrices, which the MNIST trainer hands it whole in torch.nn.Linear's orientation
    [k, out, in] (Adafactor's factored moments, Muon's Newton-Schulz); None: the rule works on the
    trainer's flat vector. `rule` is then its form for vectors: the 2-D point (torch's 1 x D matrix
    for Muon) and, unless vectors_to names another optimizer, the biases.
    vectors_to: the registry name of the optimizer that steps the biases (Muon: "adamw", as Muon is
    used in practice); None: this rule's own vector form.
    array_only: why the compiled kernels cannot trace the rule (None: they can); it then runs on
    the array code everywhere, as rules taking the Hessian (curvature) do.
    scalar_state: recorded state holding one number per trajectory (repeated over D to record it
    as any state): the internals show it as one number (L-BFGS's n_pairs, t, func_evals).
    closure_calls: set for a rule that evaluates the loss itself within one step, as torch's
    step(closure) (L-BFGS): hp -> E, the most closure calls one step can make. The rule then takes
    closure=(x -> (loss [..., 1], gradient [..., D])) and returns the evaluated points in its state
    ("evals", "n_evals"; record_points=False: the count only). The 2-D runner `run` and the MNIST
    trainer (mnist.closure_rule, the step's mini-batch) provide it, on the array code (no kernels).
    """

    name: str
    title: str
    rule: Callable
    init: Callable
    specs: tuple[Hyperparameter, ...]
    state_names: tuple[str, ...]
    latex: str
    text: str
    eff_lr_latex: str
    eff_lr_text: str
    direction: Direction
    reference: str
    torch_class: str | None = None
    torch_snippet: TorchSnippet | None = None
    first_moment: tuple[str, ...] = ()
    second_moment: tuple[str, ...] = ()
    buffered_by: str | None = None
    fixed: dict = field(default_factory=dict)
    check: Callable | None = None
    two_d_only: str | None = None
    curvature: bool = False
    stepped: str | None = None
    matrix_rule: Callable | None = None
    matrix_init: Callable | None = None
    vectors_to: str | None = None
    array_only: str | None = None
    closure_calls: Callable | None = None
    scalar_state: tuple[str, ...] = ()
    symbols: tuple[Symbol, ...] = ()
    decoupled_by: str = r"\eta_t"

    def __post_init__(self):
        if (self.matrix_rule is None) != (self.matrix_init is None):
            raise ValueError(f"{self.name}: give both matrix_rule and matrix_init, or neither")
        if (self.torch_class is None) == (self.torch_snippet is None):
            raise ValueError(f"{self.name}: give exactly one of torch_class and torch_snippet")
        unknown = sorted(set(self.first_moment + self.second_moment) - set(self.state_names))
        if unknown:
            raise ValueError(f"{self.name}: moments {unknown} are not among its state names {self.state_names}")
        if self.stepped is not None and self.stepped not in self.state_names:
            raise ValueError(f"{self.name}: stepped={self.stepped!r} is not among its state names {self.state_names}")
        if self.buffered_by is not None and self.buffered_by not in {s.name for s in self.specs}:
            raise ValueError(f"{self.name}: buffered_by={self.buffered_by!r} is not one of its hyperparameters")

    @property
    def eff_lr(self) -> str:
        """LaTeX of the effective learning rate and the direction it multiplies, as the app shows it."""
        return f"{self.eff_lr_latex} {self.direction.latex}"


L1_SYMBOL = r"\lambda_1"  # the L1 strength (l1); weight decay's is \lambda


def l1_latex(mode: str, strength: str = L1_SYMBOL) -> str:
    """LaTeX of the L1 penalty's part of an update (optimizers.transforms): the subgradient added to
    every gradient the rule receives (at the point it is taken, L-BFGS's evaluations included), or
    the soft-threshold S of the parameters after the rule's step, by the scheduled lr times the
    strength. strength: its symbol, or its value as LaTeX."""
    if mode == "proximal":
        return (r"\theta_t \leftarrow S_{\eta_t " + strength + r"}(\theta_t) = \operatorname{sign}(\theta_t)\,"
                r"\max(|\theta_t| - \eta_t " + strength + r", 0)\ \text{after the step}")
    return r"g \leftarrow g + " + strength + r" \operatorname{sign}(\theta)\ \text{(at the point } g \text{ is taken)}"


def weight_decay_latex(mode: str, step: str = r"\eta_t") -> str:
    """LaTeX of weight decay's part of an update: coupled, the L2 gradient added to g_t before the
    rule; decoupled, the weights shrinking by step (the scheduled lr) times lambda first."""
    if mode == "decoupled":
        return r"\theta \leftarrow \theta (1 - " + step + r" \lambda)\ \text{first}"
    return r"g_t \leftarrow g_t + \lambda \theta_{t-1}"


def weight_decay_mode(info: OptimizerInfo, hp: dict) -> str | None:
    """The mode, "coupled" or "decoupled", where hp's weight_decay is on and info.latex does not already
    write it (no symbol of weight_decay); else None."""
    if not hp.get("weight_decay") or any(s.hyperparameter == "weight_decay" for s in info.symbols):
        return None
    return "decoupled" if hp.get("decoupled_weight_decay") or hp.get("decouple") else "coupled"


def rule_latex(latex: str, l1_modes=(), weight_decay=(), step: str = r"\eta_t") -> str:
    """An update rule's LaTeX with the L1 term of each mode in l1_modes: the subgradient as a first
    line (it enters the gradient before the rule), the proximal step as a last one; and weight
    decay's term of each mode in weight_decay ("coupled", "decoupled") as a first line, decoupled
    by `step`."""
    before = [weight_decay_latex(m, step) for m in weight_decay]
    before += [l1_latex(m) for m in l1_modes if m != "proximal"]
    after = [l1_latex(m) for m in l1_modes if m == "proximal"]
    return display_lines(r"\\ ".join([*before, latex, *after]))


def display_lines(latex: str) -> str:
    """`latex` with its lines (separated by \\\\) in a gathered block: display math has no line
    breaks of its own (KaTeX ignores them there, with a warning)."""
    return rf"\begin{{gathered}}{latex}\end{{gathered}}" if r"\\" in latex else latex
