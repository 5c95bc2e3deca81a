"""The moment recurrences the internals table writes out with their numbers: for example
momentum's b_t = mu b_{t-1} + (1 - tau) g_t, Adam's m_t and v_t, AdaGrad's sum.

A recurrence is offered for a configuration only when the run's own records satisfy it at every
recorded step (the state after step t against the state after step t - 1 and the gradient the
rule received, within CHECK_RTOL): weight decay folded into the gradient, a first step with its
own form (SGD's b_1 = g_1 is the recurrence's exception, not checked) or any other difference
leaves it out, so that what the table shows is always true of the plot beside it.
"""

from __future__ import annotations

import numpy as np

CHECK_RTOL = 1e-9

# optimizer -> [(state name, symbol, coefficient's hyperparameter (name, index) or None for 1,
#                its symbol, gain: "1-coef", "1-dampening" or "1", squared gradient)]
_FORMS = {
    "sgd": [("momentum_buffer", "b", ("momentum", None), "μ", "1-dampening", False)],
    "adagrad": [("sum", "G", None, "", "1", True)],
    "rmsprop": [("square_avg", "v", ("alpha", None), "α", "1-coef", True)],
    **{name: [("exp_avg", "m", ("betas", 0), "β₁", "1-coef", False),
              ("exp_avg_sq", "v", ("betas", 1), "β₂", "1-coef", True)]
       for name in ("adam", "adamw", "nadam", "radam")},
    "adamax": [("exp_avg", "m", ("betas", 0), "β₁", "1-coef", False)],
}


def recurrences(res, k: int) -> list[dict]:
    """The recurrences of configuration k (start 0) that its records satisfy, each
    {state, symbol, coef, coef_symbol, gain, gain_text, square}: state[t] = coef * state[t-1]
    + gain * g_t (squared elementwise when square) for t >= 2 (1-based)."""
    config = res.configs[k]
    hp = config.hp
    out = []
    for state, symbol, coef_of, coef_symbol, gain_of, square in _FORMS.get(config.name, ()):
        if state not in res.state_names[k]:
            continue
        coef = 1.0 if coef_of is None else float(hp[coef_of[0]] if coef_of[1] is None else hp[coef_of[0]][coef_of[1]])
        if config.name == "sgd" and coef == 0:
            continue
        gain = {"1": 1.0, "1-coef": 1.0 - coef, "1-dampening": 1.0 - float(hp.get("dampening", 0.0))}[gain_of]
        gain_text = {"1": "", "1-coef": f"(1−{coef_symbol})", "1-dampening": "(1−τ)" if hp.get("dampening") else ""}[gain_of]
        values = res.state[state][k, 0]  # [T, D]: after each step
        g = res.grad[k, 0, : values.shape[0]]
        if _holds(values, coef, gain, g * g if square else g):
            out.append({"state": "first" if state in config.info.first_moment else "second", "symbol": symbol,
                        "coef": coef, "coef_symbol": coef_symbol or "1", "gain": gain, "gain_text": gain_text,
                        "square": square})
    return out


def _holds(values: np.ndarray, coef: float, gain: float, drive: np.ndarray) -> bool:
    """Whether values[t] == coef * values[t-1] + gain * drive[t] for t >= 1 wherever finite."""
    if values.shape[0] < 2:
        return False
    with np.errstate(all="ignore"):
        expected = coef * values[:-1] + gain * drive[1:]
        actual = values[1:]
        ok = np.isfinite(expected) & np.isfinite(actual)
        if not ok.any():
            return False
        scale = np.maximum(np.abs(actual), np.abs(expected)) + 1e-300
        return bool((np.abs(actual - expected)[ok] <= CHECK_RTOL * scale[ok] + 1e-300).all())
