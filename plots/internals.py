"""What each optimizer holds at a playback step: numbers, arrows on the map, the live equation.

Everything is read from the Result. At playback step s (a point index, 0..T) a configuration
sits at theta_s = path[s] and its next update is the one from theta_s to theta_{s+1}: torch's
step count t = s + 1. That update used the gradient grad[s], the scheduled lr[s], the effective
learning rate eff_lr[s], and left the state state[name][s] (state index s holds the state AFTER
that update, so it already includes g_s). At the final point s = T there is no next update: the
update, eff_lr, lr and state entries are None.
"""

from __future__ import annotations

import html
import math

import numpy as np

from optimizers.info import L1_SYMBOL, l1_latex

from .palette import color

ARROW_KEY_MARGIN = 130  # bottom margin that leaves room for the key (up to 4 lines) under the x axis title
ARROW_LENGTH = 0.2  # the longest arrow of each kind spans this fraction of the shorter frame side


def _vec(a) -> tuple[float, ...]:
    return tuple(float(v) for v in a)


def _status(res, k: int, n: int, s: int, stop: int) -> str:
    if s < stop:
        return "moving"
    if res.diverged_at[k, n] >= 0:
        return f"diverged at step {int(res.diverged_at[k, n])} (frozen at its last finite point)"
    if res.converged_at[k, n] >= 0:
        return f"converged at step {int(res.converged_at[k, n])}"
    return "final point"


def internals_rows(res, step: int, start: int = 0) -> list[dict]:
    """One dict per configuration at playback step `step` (clamped to [0, T]) for start `start`.

    Keys: label, color, step (s), point theta_s (x, y), loss f(theta_s), gradient g_s (as the
    optimizer received it, after noise/clipping), first_moment_name / first_moment (the first
    of its registry entry's first_moment names the configuration records, else None),
    second_moment_name / second_moment (likewise), state {name: (x, y)} (all its state after the
    update; a float for its registry entry's scalar_state), eff_lr (x, y), update theta_{s+1} - theta_s, lr (scheduled), status ("moving",
    "converged at step c", "diverged at step d (...)" or "final point": once a trajectory has
    stopped its update is zero). Vectors are tuples of floats.
    """
    _, _, t, _ = res.shape
    s = int(np.clip(step, 0, t))
    stop = res.stop_index()
    rows = []
    for k, names in enumerate(res.state_names):
        nxt = s < t
        info = res.configs[k].info
        # a state with one number per trajectory (L-BFGS's pairs count and step length) as that number
        state = {name: float(res.state[name][k, start, s, 0]) if name in info.scalar_state
                 else _vec(res.state[name][k, start, s]) for name in names} if nxt else {}
        first = next((name for name in info.first_moment if name in names), None)
        second = next((name for name in info.second_moment if name in names), None)
        rows.append({
            "label": res.labels[k], "color": color(k), "step": s,
            "point": _vec(res.path[k, start, s]), "loss": float(res.loss[k, start, s]),
            "gradient": _vec(res.grad[k, start, s]),
            "first_moment_name": first, "first_moment": state.get(first),
            "second_moment_name": second, "second_moment": state.get(second),
            "state": state,
            "eff_lr": _vec(res.eff_lr[k, start, s]) if nxt else None,
            "update": _vec(res.path[k, start, s + 1] - res.path[k, start, s]) if nxt else None,
            "lr": float(res.lr[k, s]) if nxt else None,
            "status": _status(res, k, start, s, int(stop[k, start])),
        })
    return rows


def _negated(v):
    return None if v is None else tuple(-c for c in v)


# (key, text, line style); drawn in this order, so the update ends up on top.
ARROWS = (
    ("gradient", "−gradient", {"width": 2, "dash": "dot"}),
    ("first_moment", "−first moment", {"width": 2.5, "dash": "dash"}),
    ("update", "update Δθ", {"width": 3.5}),
)
# Each kind's arrowhead on the map component's overlay, so the three differ without colour
# (colour is the optimizer's): the update a large filled head, the first moment an open one,
# the gradient a small one.
ARROW_HEADS = {"gradient": "small", "first_moment": "open", "update": "filled"}

BOX_FRACTION = 0.12  # the largest second-moment box of a run has half-sides up to this fraction of the shorter frame side
# second moments whose step scale is not 1/sqrt(v): Adamax's exp_inf is an infinity norm u (scale 1/u)
NOT_SQUARED = ("exp_inf",)


def step_scale(v: np.ndarray) -> np.ndarray:
    """1/sqrt(v) elementwise, the per-parameter step scale of an adaptive method's second
    moment v [..., D] (the box the map draws around the point); NaN where v <= 0 or is not
    finite (no gradient yet, or s = T)."""
    v = np.asarray(v, dtype=np.float64)
    ok = np.isfinite(v) & (v > 0)
    out = np.full(v.shape, np.nan)
    out[ok] = 1.0 / np.sqrt(v[ok])
    return out


def _shorten(p, v, bounds):
    """Largest fraction f <= 1 keeping p + f v inside the frame (p is inside)."""
    f = 1.0
    for c in range(2):
        lo, hi = bounds[c]
        if v[c] > 0:
            f = min(f, (hi - p[c]) / v[c])
        elif v[c] < 0:
            f = min(f, (lo - p[c]) / v[c])
    return max(f, 0.0)


def arrow_traces(res, step: int, start: int = 0) -> tuple[list[dict], dict]:
    """3 arrow traces per configuration (−gradient, −first moment, update; see ARROWS), and
    {kind: scale} of the factor each kind was drawn at.

    Arrows start at theta_s of start `start`. Each kind has one scale for all configurations
    (so lengths compare across optimizers): its longest arrow spans ARROW_LENGTH of the shorter
    side of the frame. An arrow that would leave the frame is shortened at the edge. Empty
    traces stand for vectors a configuration lacks (no first moment, or s = T) and for points
    outside the frame.
    """
    rows = internals_rows(res, step, start)
    bounds = res.surface.bounds
    (x0, x1), (y0, y1) = bounds
    inside = [x0 <= r["point"][0] <= x1 and y0 <= r["point"][1] <= y1 for r in rows]
    traces, scales = [], {}
    for key, text, line in ARROWS:
        vecs = [r[key] if key == "update" else _negated(r[key]) for r in rows]
        norms = [math.hypot(*v) if v is not None and ok else 0.0 for v, ok in zip(vecs, inside)]
        longest = max(norms, default=0.0)
        scale = ARROW_LENGTH * min(x1 - x0, y1 - y0) / longest if longest > 0 and math.isfinite(longest) else 0.0
        if scale:
            scales[key] = scale
        for k, (row, v, norm) in enumerate(zip(rows, vecs, norms)):
            x, y, hover = [], [], ""
            if norm > 0 and scale:
                p = row["point"]
                d = (v[0] * scale, v[1] * scale)
                f = _shorten(p, d, bounds)
                x, y = [p[0], p[0] + f * d[0]], [p[1], p[1] + f * d[1]]
                hover = (f"<b>{html.escape(row['label'])}</b><br>{text} at step {row['step']}: "
                         f"({v[0]:.4g}, {v[1]:.4g})<br>arrow rescaled ×{scale:.3g} to fit the map")
            traces.append({
                "type": "scatter", "x": x, "y": y, "mode": "lines+markers",
                "line": {"color": row["color"], **line},
                "marker": {"symbol": "arrow", "angleref": "previous", "size": [0, 15], "color": row["color"]},
                "name": f"{row['label']} {text}", "legendgroup": f"config {k}", "showlegend": False,
                "hovertemplate": hover + "<extra></extra>",
                "unselected": {"marker": {"opacity": 1.0}},
                "meta": {"role": "arrow", "kind": key, "config": k},
            })
    return traces, scales


def arrow_key(scales: dict, step: int) -> dict | None:
    """A layout annotation under the map, one line per arrow style, naming each style and the
    factor its arrows were rescaled by (None when no arrow is drawn)."""
    glyph = {"gradient": "┈┈", "first_moment": "╌╌", "update": "━━"}
    items = [f"{glyph[key]} {text} ×{scales[key]:.2g}" for key, text, _ in reversed(ARROWS) if key in scales]
    if not items:
        return None
    return {
        "xref": "paper", "yref": "paper", "x": 0, "y": 0, "xanchor": "left", "yanchor": "top",
        "xshift": -50, "yshift": -50, "align": "left", "showarrow": False, "font": {"size": 12},
        # one line per arrow kind: a single line was cut at the edge of a narrow map
        "text": f"<b>arrows at step {step}</b>, rescaled to fit the map:<br>" + "<br>".join(items),
    }


def _num(v: float) -> str:
    """v to 4 significant digits as LaTeX: 0.0123, -1.5, 1.234 \\times 10^{-5}."""
    text = f"{v:.4g}"
    if text in ("-0", "nan", "inf", "-inf"):
        return {"-0": "0", "nan": r"\text{nan}", "inf": r"\infty", "-inf": r"-\infty"}[text]
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


def _col(v) -> str:
    return r"\begin{pmatrix}" + r" \\ ".join(_num(c) for c in v) + r"\end{pmatrix}"


def _text(s: str) -> str:
    """s for a LaTeX \\text{...}: escape the characters TeX treats specially."""
    out = s.replace("\\", " ").replace("^", " ").replace("~", " ")
    for ch in "_&%$#{}":
        out = out.replace(ch, "\\" + ch)
    return out


def _direction_form(res, k: int) -> bool:
    """Whether theta_{s+1} = theta_s - eff_lr * d holds with d the direction the registry names.

    Two things put a term outside that product: decoupled weight decay, and a buffer that the
    step follows (the entry's buffered_by: with RMSProp's momentum eff_lr scales g_t entering
    the buffer, not the step)."""
    config = res.configs[k]
    hp, buffered_by = config.hp, config.info.buffered_by
    if config.info.stepped is not None:  # the product moves a state (schedule-free: z), not the path
        return False
    if config.info.closure_calls is not None:  # L-BFGS: a step is several inner iterations
        return False
    if config.l1_proximal > 0:  # the soft-threshold after the rule's step
        return False
    if hp.get("decoupled_weight_decay") and hp.get("weight_decay"):
        return False
    return not (buffered_by is not None and hp[buffered_by] > 0)


def update_equation(res, k: int, step: int, start: int = 0) -> str:
    """LaTeX (for st.latex) of configuration k's update at playback step `step`, numbers filled in.

    Line 1: the optimizer, the step, and its effective learning rate as the registry defines it;
    with an L1 penalty, its term next (optimizers.info.l1_latex, with the strength's value).
    Line 2: theta_{s+1} = theta_s - eff_lr ⊙ d = (numbers) = theta_{s+1}, where d is the direction
    the effective lr multiplies, read off the Result as -(theta_{s+1} - theta_s) / eff_lr; for
    rules with a term outside that product (decoupled weight decay, RMSProp momentum) and where
    eff_lr has a zero, theta_{s+1} = theta_s + Δθ instead. Line 3: the gradient, every state
    the configuration has (torch.optim names) and the scheduled lr. Numbers to 4 significant
    digits (f"{v:.4g}", exponents as \\times 10^{n}); at most three vectors per line, since
    st.latex does not wrap.
    """
    row = internals_rows(res, step, start)[k]
    info = res.configs[k].info
    s = row["step"]
    head = rf"\textbf{{{_text(row['label'])}}}"
    if not row["label"].startswith(info.title):
        head += rf"\ \text{{({_text(info.title)})}}"
    theta = _col(row["point"])
    if row["update"] is None:
        return (r"\begin{aligned}&" + head + r"\quad\text{final point, no further update}\\ &\theta_{"
                + str(s) + "} = " + theta + r",\quad g = " + _col(row["gradient"]) + r"\end{aligned}")
    new = _col(res.path[k, start, s + 1])
    eff, update = np.array(row["eff_lr"]), np.array(row["update"])
    lines = [head + rf":\ \theta_{{{s}}} \to \theta_{{{s + 1}}}\ (t = {s + 1}),\quad "
             + r"\eta^{\mathrm{eff}}_t = " + info.eff_lr]
    config = res.configs[k]
    if config.l1 > 0:
        lines.append(rf"{l1_latex(config.l1_mode)},\quad {L1_SYMBOL} = {_num(config.l1)}")
    if row["status"] != "moving":
        lines.append(rf"\text{{{_text(row['status'])}: }}\theta_{{{s + 1}}} = \theta_{{{s}}} = {theta}")
    elif _direction_form(res, k) and np.all(eff != 0):
        direction = -update / eff
        lines.append(rf"\theta_{{{s + 1}}} = \theta_{{{s}}} - \eta^{{\mathrm{{eff}}}}_t \odot d_t = {theta} - "
                     rf"{_col(eff)} \odot {_col(direction)} = {new}")
    else:
        lines.append(rf"\theta_{{{s + 1}}} = \theta_{{{s}}} + \Delta\theta_t = {theta} + {_col(update)} = {new}")
    parts = [rf"g_t = {_col(row['gradient'])}"]
    parts += [rf"\text{{{_text(name)}}} = {_num(v) if isinstance(v, float) else _col(v)}"
              for name, v in row["state"].items()]
    parts.append(rf"\eta_t = {_num(row['lr'])}")
    lines += [r",\ ".join(parts[i:i + 3]) for i in range(0, len(parts), 3)]  # st.latex does not wrap
    return r"\begin{aligned}" + r" \\ ".join("&" + line for line in lines) + r"\end{aligned}"
