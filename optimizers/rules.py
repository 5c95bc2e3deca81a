"""Update rules: one pure function per optimizer, written once for NumPy and Torch.

Every rule has the signature

    rule(p, g, state, t, lr, hp, xp) -> (p_new, state_new, eff_lr)

p, g:     parameters and gradient, [..., D] arrays (the runner passes [k, N, D]).
state:    dict of the rule's state; per-parameter entries have p's shape, a few rules also keep
          Python-float scalars (NAdam's mu_product).
t:        1-based step count (Python int), as torch.optim's `state["step"]` after increment.
lr:       scheduled learning rate for this step, broadcastable to p ([k, 1, 1] or a float).
hp:       dict of the other hyperparameters as Python floats and bools (torch.optim names).
xp:       array namespace (numpy or array_api_compat.torch).
eff_lr:   the per-parameter effective learning rate (shape of p): the multiplier the rule
          applies to its search direction at this step. Each docstring says which direction.

Operations follow the order of torch.optim's single-tensor implementations (lerp, addcmul,
addcdiv written out the way the CPU kernels evaluate them) so trajectories agree with
torch.optim to the last bits wherever the arithmetic allows. No rule mutates its inputs.
`init_*(p, hp, xp)` returns the initial state for a rule.
"""

from __future__ import annotations

import math


def _lerp(start, end, weight, xp=None):
    """torch.lerp with a scalar weight, in the form ATen's CPU kernel uses.

    Where torch's build fuses the multiply-add, its result can differ in the last bit. A weight
    that changes with the step (Adafactor's t^beta2_decay) is a traced value in the compiled
    path, so the kernel's branch goes through _select and needs xp.
    """
    return _select(weight < 0.5, lambda: start + weight * (end - start), lambda: end - (end - start) * (1 - weight),
                   xp)


def _l2(g, p, weight_decay: float):
    """Coupled weight decay (L2 penalty): g + weight_decay * p, as torch's grad.add(p, alpha=wd)."""
    return g + weight_decay * p if weight_decay != 0 else g


def _decay(p, lr, hp):
    """Decoupled weight decay (AdamW): p * (1 - lr * weight_decay)."""
    return p * (1 - lr * hp["weight_decay"]) if hp["weight_decay"] != 0 else p


def _select(cond, if_true, if_false, xp):
    """if_true() where cond else if_false(): a Python branch for a Python bool, else xp.where.

    The step count is a Python int on the array backends and a traced value in the compiled
    path, so a branch on it must go through here.
    """
    if isinstance(cond, bool):
        return if_true() if cond else if_false()
    return xp.where(cond, if_true(), if_false())


def _weight_decay(p, g, lr, hp):
    """(p, g) after weight decay: decoupled (the weights shrink) or coupled (an L2 gradient)."""
    if hp["decoupled_weight_decay"]:
        return _decay(p, lr, hp), g
    return p, _l2(g, p, hp["weight_decay"])


def _full(p, value):
    """value broadcast to p's shape (a new array of p's type)."""
    return p * 0 + value


def zeros_state(*names):
    """An init function giving zero arrays for each name."""

    def init(p, hp, xp):
        return {name: p * 0 for name in names}

    return init


# --- SGD family -----------------------------------------------------------------------------


def init_sgd(p, hp, xp):
    return {"momentum_buffer": p * 0} if hp["momentum"] != 0 else {}


def sgd(p, g, state, t, lr, hp, xp):
    """SGD with optional momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD).

    b_t = momentum * b_{t-1} + (1 - dampening) g_t   (b_1 = g_t)
    direction d_t = g_t + momentum * b_t (nesterov) or b_t;  p <- p - lr_t d_t.
    eff_lr = lr_t, the multiplier of d_t.
    """
    g = _l2(g, p, hp["weight_decay"])
    new_state = {}
    d = g
    if hp["momentum"] != 0:
        # torch starts the buffer at g_1; with a zero buffer, coefficient 1 at t = 1 gives exactly that
        coef = _select(t == 1, lambda: 1.0, lambda: 1 - hp["dampening"], xp)
        buf = state["momentum_buffer"] * hp["momentum"] + coef * g
        new_state["momentum_buffer"] = buf
        d = g + hp["momentum"] * buf if hp["nesterov"] else buf
    return p + (-lr) * d, new_state, _full(p, lr)


def gnsgd(p, g, state, t, lr, hp, xp):
    """Gradient-norm-adaptive SGD: p <- p - lr_t / sqrt(1 + alpha ||g_t||^2) * g_t.

    ||g_t|| is the Euclidean norm over each trajectory's parameter vector (last axis).
    eff_lr = lr_t / sqrt(1 + alpha ||g_t||^2), the multiplier of g_t.
    """
    g = _l2(g, p, hp["weight_decay"])
    sq_norm = xp.sum(g * g, axis=-1, keepdims=True)
    eff = lr / xp.sqrt(1 + hp["alpha"] * sq_norm)
    return p - eff * g, {}, _full(p, eff)


def asgd(p, g, state, t, lr, hp, xp):
    """ASGD (torch.optim.ASGD, Polyak & Juditsky 1992): SGD with a decaying step size and a
    running average ax of the iterates, which is what the method returns.

    The step size eta~_t is computed after the previous step from that step's lr (step 1: the lr):
    eta~_t = lr_{t-1} / (1 + lambd lr_{t-1} (t - 1))^alpha. The weights shrink by 1 - lambd eta~_t,
    then p <- p - eta~_t g_t. The average starts once t - 1 > t0 + 1: mu_t = 1 / max(1, t - 1 - t0),
    ax_t = ax_{t-1} + mu_t (p_t - ax_{t-1}) (ax_t = p_t while mu_t = 1, as torch copies it).
    eff_lr = eta~_t, the multiplier of g_t.
    """
    lambd = hp["lambd"]
    g = _l2(g, p, hp["weight_decay"])
    eta = _select(t == 1, lambda: _full(p, lr), lambda: state["eta"], xp)
    p = p * (1 - lambd * eta)
    p = p + (-eta) * g
    since = t - 1 - hp["t0"]  # torch's step count before this step, less t0
    mu = _select(since > 1, lambda: 1 / since, lambda: 1.0, xp)
    ax = _select(mu == 1, lambda: p, lambda: state["ax"] + (p - state["ax"]) * mu, xp)
    next_eta = lr / ((1 + lambd * lr * t) ** hp["alpha"])
    return p, {"ax": ax, "eta": _full(p, next_eta)}, eta


# --- Adaptive per-parameter rules -------------------------------------------------------------


def init_adagrad(p, hp, xp):
    return {"sum": _full(p, hp["initial_accumulator_value"])}


def adagrad(p, g, state, t, lr, hp, xp):
    """AdaGrad (torch.optim.Adagrad): G_t = G_{t-1} + g_t^2.

    eff_lr = lr_t / (1 + (t - 1) lr_decay) / (sqrt(G_t) + eps), the multiplier of g_t.
    """
    g = _l2(g, p, hp["weight_decay"])
    clr = lr / (1 + (t - 1) * hp["lr_decay"])
    total = state["sum"] + 1 * g * g
    std = xp.sqrt(total) + hp["eps"]
    return p + (-clr) * g / std, {"sum": total}, clr / std


def init_rmsprop(p, hp, xp):
    state = {"square_avg": p * 0}
    if hp["momentum"] > 0:
        state["momentum_buffer"] = p * 0
    if hp["centered"]:
        state["grad_avg"] = p * 0
    return state


def rmsprop(p, g, state, t, lr, hp, xp):
    """RMSProp (torch.optim.RMSprop): v_t = alpha v_{t-1} + (1 - alpha) g_t^2.

    avg = sqrt(v_t) + eps, or sqrt(v_t - mean_t^2) + eps when centered.
    eff_lr = lr_t / avg, the multiplier of g_t (with momentum, of g_t entering the buffer
    b_t = momentum b_{t-1} + g_t / avg, and p <- p - lr_t b_t).
    """
    alpha = hp["alpha"]
    g = _l2(g, p, hp["weight_decay"])
    square_avg = state["square_avg"] * alpha + (1 - alpha) * g * g
    new_state = {"square_avg": square_avg}
    if hp["centered"]:
        grad_avg = _lerp(state["grad_avg"], g, 1 - alpha)
        new_state["grad_avg"] = grad_avg
        avg = xp.sqrt(square_avg + -1 * grad_avg * grad_avg) + hp["eps"]
    else:
        avg = xp.sqrt(square_avg) + hp["eps"]
    if hp["momentum"] > 0:
        buf = state["momentum_buffer"] * hp["momentum"] + 1 * g / avg
        new_state["momentum_buffer"] = buf
        p_new = p + (-lr) * buf
    else:
        p_new = p + (-lr) * g / avg
    return p_new, new_state, lr / avg


def adadelta(p, g, state, t, lr, hp, xp):
    """Adadelta (torch.optim.Adadelta): v_t = rho v + (1 - rho) g^2, u_t = rho u + (1 - rho) dx^2.

    dx_t = sqrt(u_{t-1} + eps) / sqrt(v_t + eps) * g_t;  p <- p - lr_t dx_t.
    eff_lr = lr_t sqrt(u_{t-1} + eps) / sqrt(v_t + eps), the multiplier of g_t.
    """
    rho, eps = hp["rho"], hp["eps"]
    g = _l2(g, p, hp["weight_decay"])
    square_avg = state["square_avg"] * rho + (1 - rho) * g * g
    ratio = xp.sqrt(state["acc_delta"] + eps) / xp.sqrt(square_avg + eps)
    delta = ratio * g
    acc_delta = state["acc_delta"] * rho + (1 - rho) * delta * delta
    return p + (-lr) * delta, {"square_avg": square_avg, "acc_delta": acc_delta}, lr * ratio


# --- Adam family ----------------------------------------------------------------------------


def init_adam(p, hp, xp):
    state = {"exp_avg": p * 0, "exp_avg_sq": p * 0}
    if hp.get("amsgrad"):
        state["max_exp_avg_sq"] = p * 0
    return state


def _moments(g, state, hp):
    b1, b2 = hp["betas"]
    m = _lerp(state["exp_avg"], g, 1 - b1)
    v = state["exp_avg_sq"] * b2 + (1 - b2) * g * g
    return m, v


def adam(p, g, state, t, lr, hp, xp):
    """Adam / AdamW (torch.optim.Adam, torch.optim.AdamW via decoupled_weight_decay).

    m_t = b1 m + (1 - b1) g, v_t = b2 v + (1 - b2) g^2 (amsgrad: v_max = max(v_max, v_t)).
    p <- p - lr_t m_hat / (sqrt(v_hat) + eps) with m_hat = m_t / (1 - b1^t),
    v_hat = v_t / (1 - b2^t).
    eff_lr = lr_t / (sqrt(v_hat) + eps), the multiplier of m_hat.
    """
    b1, b2 = hp["betas"]
    p, g = _weight_decay(p, g, lr, hp)
    m, v = _moments(g, state, hp)
    new_state = {"exp_avg": m, "exp_avg_sq": v}
    if hp["amsgrad"]:
        v = xp.maximum(state["max_exp_avg_sq"], v)
        new_state["max_exp_avg_sq"] = v
    bias_correction1 = 1 - b1**t
    step_size = lr / bias_correction1
    denom = xp.sqrt(v) / (1 - b2**t) ** 0.5 + hp["eps"]
    return p + (-step_size) * m / denom, new_state, lr / denom


def adamax(p, g, state, t, lr, hp, xp):
    """Adamax (torch.optim.Adamax): u_t = max(b2 u_{t-1}, |g_t| + eps).

    p <- p - lr_t / (1 - b1^t) * m_t / u_t.
    eff_lr = lr_t / u_t, the multiplier of m_hat = m_t / (1 - b1^t).
    """
    b1, b2 = hp["betas"]
    g = _l2(g, p, hp["weight_decay"])
    m = _lerp(state["exp_avg"], g, 1 - b1)
    exp_inf = xp.maximum(state["exp_inf"] * b2, xp.abs(g) + hp["eps"])
    clr = lr / (1 - b1**t)
    return p + (-clr) * m / exp_inf, {"exp_avg": m, "exp_inf": exp_inf}, lr / exp_inf


def init_nadam(p, hp, xp):
    return {"exp_avg": p * 0, "exp_avg_sq": p * 0, "mu_product": 1.0}


def nadam(p, g, state, t, lr, hp, xp):
    """NAdam (torch.optim.NAdam), momentum schedule mu_t = b1 (1 - 0.5 * 0.96^(t psi)).

    p <- p - lr_t [(1 - mu_t) / (1 - prod mu) g_t + mu_{t+1} / (1 - prod' mu) m_t] / denom,
    denom = sqrt(v_t / (1 - b2^t)) + eps.
    eff_lr = lr_t / denom, the multiplier of the bracketed Nesterov direction.
    """
    b1, b2 = hp["betas"]
    psi = hp["momentum_decay"]
    bias_correction2 = 1 - b2**t
    p, g = _weight_decay(p, g, lr, hp)
    mu = b1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
    mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
    mu_product = state["mu_product"] * mu
    mu_product_next = mu_product * mu_next
    m, v = _moments(g, state, hp)
    denom = xp.sqrt(v / bias_correction2) + hp["eps"]
    p = p + (-lr * (1.0 - mu) / (1.0 - mu_product)) * g / denom
    p = p + ((-lr * mu_next) / (1.0 - mu_product_next)) * m / denom
    return p, {"exp_avg": m, "exp_avg_sq": v, "mu_product": mu_product}, lr / denom


def radam(p, g, state, t, lr, hp, xp):
    """RAdam (torch.optim.RAdam): Adam with the variance rectification of Liu et al. 2020.

    rho_t = rho_inf - 2 t b2^t / (1 - b2^t). If rho_t > 5:
    p <- p - lr_t r_t sqrt(1 - b2^t) / (sqrt(v_t) + eps) * m_hat, else p <- p - lr_t m_hat.
    eff_lr = lr_t r_t sqrt(1 - b2^t) / (sqrt(v_t) + eps) (or lr_t), the multiplier of m_hat.
    """
    b1, b2 = hp["betas"]
    p, g = _weight_decay(p, g, lr, hp)
    m, v = _moments(g, state, hp)
    bias_correction1 = 1 - b1**t
    bias_correction2 = 1 - b2**t
    m_hat = m / bias_correction1
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * (b2**t) / bias_correction2
    rectified = rho_t > 5.0

    def rect():
        return ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5

    def adaptive():
        return (bias_correction2**0.5) / (xp.sqrt(v) + hp["eps"])

    update = _select(rectified, lambda: m_hat * lr * adaptive() * rect(), lambda: m_hat * lr, xp)
    eff = _select(rectified, lambda: lr * adaptive() * rect(), lambda: _full(p, lr), xp)
    return p + -1.0 * update, {"exp_avg": m, "exp_avg_sq": v}, eff


# --- Relative step sizes --------------------------------------------------------------------


def _norm(x, xp):
    """Euclidean norm over each trajectory's parameter vector (last axis), keepdims."""
    return xp.sqrt(xp.sum(x * x, axis=-1, keepdims=True))


def _sqrt_size(x, xp):
    """sqrt of the vector's length, as torch's x.numel() ** 0.5 (a traced vector has no shape)."""
    return xp.sqrt(xp.sum(_full(x, 1.0), axis=-1, keepdims=True))


def adafactor(p, g, state, t, lr, hp, xp):
    """Adafactor (torch.optim.Adafactor, Shazeer & Stern 2018) for one vector parameter: the 2-D
    point is one vector, so its second moment is not factored (torch factors matrices only).

    rho_t = min(lr_t, 1 / sqrt(t)), a_t = max(eps2, RMS(p_{t-1})) rho_t (relative step size);
    decoupled weight decay p <- p (1 - lr_t weight_decay);
    v_t = lerp(v_{t-1}, g_t^2, t^beta2_decay) (v_1 = g_1^2), u_t = g_t / sqrt(max(v_t, eps1^2)),
    p <- p - a_t / max(1, RMS(u_t) / d) u_t (update clipping at RMS d).
    eff_lr = a_t / (max(1, RMS(u_t) / d) sqrt(max(v_t, eps1^2))), the multiplier of g_t.
    """
    eps1, eps2 = hp["eps"]
    rho = xp.minimum(lr, 1 / (t**0.5))
    alpha = xp.maximum(eps2, _norm(p, xp) / _sqrt_size(p, xp)) * rho
    p = _decay(p, lr, hp)
    variance = _lerp(state["variance"], g * g, t ** hp["beta2_decay"], xp)
    scale = 1 / xp.sqrt(xp.clip(variance, eps1 * eps1, math.inf))
    update = scale * g
    ratio = _norm(update, xp) / (_sqrt_size(update, xp) * hp["d"])
    denom = xp.where(ratio > 1.0, ratio, 1.0 + 0 * ratio)
    step = alpha / denom
    return p + (-step) * update, {"variance": variance}, step * scale


# --- Second order ---------------------------------------------------------------------------


def newton(p, g, state, t, lr, hp, xp, hess):
    """Damped Newton's method on a 2-D point: p <- p - lr_t (H_t + damping I)^-1 g_t.

    hess: the surface's Hessian at p, (f_xx, f_xy, f_yy), each [...] (p's shape less the last
    axis). The 2x2 system is solved in closed form (Cramer's rule); a singular H + damping I
    gives an infinite step, which the runner flags as divergence. Without damping, the step goes
    to the critical point of the local quadratic model: a saddle or a maximum as readily as a
    minimum.
    eff_lr = lr_t, the multiplier of d_t = (H_t + damping I)^-1 g_t.
    """
    hxx, hxy, hyy = hess
    a, c = hxx + hp["damping"], hyy + hp["damping"]
    det = a * c - hxy * hxy
    gx, gy = g[..., 0], g[..., 1]
    d = xp.stack(((c * gx - hxy * gy) / det, (a * gy - hxy * gx) / det), axis=-1)
    return p + (-lr) * d, {}, _full(p, lr)


# --- Learning-rate-free ---------------------------------------------------------------------


def init_prodigy(p, hp, xp):
    state = {"exp_avg_sq": p * 0, "s": p * 0, "p0": p * 1, "d": _full(p, hp["d0"]), "d_max": _full(p, hp["d0"]),
             "d_numerator": p * 0, "k": p * 0}
    if hp["betas"][0] > 0:
        state["exp_avg"] = p * 0
    return state


def prodigy(p, g, state, t, lr, hp, xp):
    """Prodigy (prodigyopt 1.1.2, Mishchenko & Defazio 2024): Adam whose step size d_t is
    estimated from the distance travelled from the start p0, one estimate per parameter vector
    (a trajectory here; on MNIST the whole model, as one param group in the package).

    With beta3 = sqrt(b2) and the step size of the previous estimate dlr = d_{t-1} lr_t bc_t
    (bc_t = sqrt(1 - b2^k) / (1 - b1^k) with use_bias_correction, k the steps taken, else 1):
    r_t = beta3 r_{t-1} + (d_{t-1} / d0) dlr <g_t, p0 - p>,
    s_t = beta3 s_{t-1} + (d_{t-1} / d0) dlr g_t (safeguard_warmup: d_{t-1} instead of dlr),
    d_hat = d_coef r_t / ||s_t||_1, d_t = max(d_{t-1}, d_hat) while d is still d0, then
    d_max = max(d_max, d_hat), d_t = min(d_max, d_t growth_rate) (growth_rate inf: d_max);
    m_t = b1 m + d_{t-1} (1 - b1) g_t, v_t = b2 v + d_{t-1}^2 (1 - b2) g_t^2,
    p <- p - dlr m_t / (sqrt(v_t) + d_t eps) (b1 = 0: m_t = d_t g_t); weight decay coupled into g_t,
    or decoupled (decouple, the default) as p <- p - weight_decay dlr p.
    A step with ||s_t||_1 = 0 (a zero gradient, or lr 0) changes nothing but the averages, as the
    package returns early; lr_t = 0 leaves the averages too.
    eff_lr = dlr / (sqrt(v_t) + d_t eps), the multiplier of m_t.
    """
    b1, b2 = hp["betas"]
    beta3 = b2**0.5
    d, d0, k = state["d"], hp["d0"], state["k"]
    if not hp["decouple"]:
        g = _l2(g, p, hp["weight_decay"])
    bias = 1
    if hp["use_bias_correction"]:
        def correction(n):
            return ((1 - b2**n) ** 0.5) / (1 - b1**n)

        # k + 1 = t unless a step was skipped: then the power of the Python int t, as the package
        # takes it (NumPy's power of an array can differ from it in the last bit)
        bias = _select(k == t - 1, lambda: correction(t), lambda: correction(k + 1), xp)
    dlr = d * lr * bias
    active = lr > 0.0

    def kept(new, old):
        return _select(active, lambda: new, lambda: old, xp)

    numerator = state["d_numerator"] * beta3
    delta = (d / d0) * dlr * xp.sum(g * (state["p0"] - p), axis=-1, keepdims=True)
    new_state = {"p0": state["p0"]}
    if b1 > 0:
        new_state["exp_avg"] = kept(state["exp_avg"] * b1 + (d * (1 - b1)) * g, state["exp_avg"])
    v = kept(state["exp_avg_sq"] * b2 + (d * d * (1 - b2)) * g * g, state["exp_avg_sq"])
    weight = (d / d0) * d if hp["safeguard_warmup"] else (d / d0) * dlr
    s = kept(state["s"] * beta3 + weight * g, state["s"])
    denom_d = kept(xp.sum(xp.abs(s), axis=-1, keepdims=True), 0 * delta)  # the package sums only where lr > 0
    total = numerator + _select(active, lambda: delta, lambda: 0 * delta, xp)
    d_hat = hp["d_coef"] * total / denom_d
    grown = xp.where(d == d0, xp.maximum(d, d_hat), d)
    d_max = xp.maximum(state["d_max"], d_hat)
    d_new = xp.minimum(d_max, grown * hp["growth_rate"])
    denom = xp.sqrt(v) + d_new * hp["eps"]
    q = p + (-hp["weight_decay"] * dlr) * p if hp["decouple"] and hp["weight_decay"] != 0 else p
    if b1 > 0:
        q = q + (-dlr) * (new_state["exp_avg"] / denom)
    else:
        q = q + (-dlr * d_new) * (g / denom)
    skip = denom_d == 0
    new_state.update(
        exp_avg_sq=v, s=s, d=xp.where(skip, d, d_new), d_max=xp.where(skip, state["d_max"], d_max),
        d_numerator=xp.where(skip, state["d_numerator"], total), k=xp.where(skip, k, k + 1),
    )
    return xp.where(skip, p, q), new_state, xp.where(skip, 0 * d, dlr / denom)


# --- Schedule-free --------------------------------------------------------------------------


def init_schedule_free(p, hp, xp):
    state = {"z": p * 1, "x": p * 1, "lr_max": _full(p, -1.0), "weight_sum": p * 0}
    if "betas" in hp:
        state["exp_avg_sq"] = p * 0
    return state


def _schedule_free(y, u, state, t, lr, beta, hp, xp):
    """The schedule-free step shared by SGD and AdamW (schedulefree 1.4.1's foreach path) on u, the
    gradient or Adam's normalised gradient: (y_new, the new state without exp_avg_sq, lr_s).

    lr_s = lr_t min(1, t / warmup_steps); c_t = t^r lr_max^p / sum_{i<=t} i^r lr_max,i^p (0 while
    that sum is 0), lr_max the largest lr_s so far; y <- lerp(y, z, c_t) + lr_s (beta (1 - c_t) - 1) u,
    z <- z - lr_s u, and the averaged point x = lerp(y, z, 1 - 1/beta), as the package's eval() sets it.
    """
    warmup = hp["warmup_steps"]
    lr = _select(t - 1 < warmup, lambda: lr * (t / warmup), lambda: lr, xp) if warmup else lr
    lr_max = xp.maximum(lr + 0 * state["lr_max"], state["lr_max"])
    weight = (t ** hp["r"]) * (lr_max ** hp["weight_lr_power"])
    weight_sum = state["weight_sum"] + weight
    ckp1 = xp.where(weight_sum == 0, 0 * weight, weight / weight_sum)
    y = _lerp(y, state["z"], ckp1, xp) + (lr * (beta * (1 - ckp1) - 1)) * u
    z = state["z"] - lr * u
    x = _lerp(y, z, 1 - 1 / beta, xp)
    return y, {"z": z, "x": x, "lr_max": lr_max, "weight_sum": weight_sum}, lr


def sgd_schedule_free(p, g, state, t, lr, hp, xp):
    """Schedule-free SGD (schedulefree.SGDScheduleFree, Defazio et al. 2024): gradients are taken
    at y (the path), z takes plain SGD steps, x is the average the method returns (state).
    L2 weight decay: u = g_t + weight_decay y. eff_lr = lr_s, the multiplier of u in z's step.
    """
    u = _l2(g, p, hp["weight_decay"])
    y, new_state, lr_s = _schedule_free(p, u, state, t, lr, hp["momentum"], hp, xp)
    return y, new_state, _full(p, lr_s)


def adamw_schedule_free(p, g, state, t, lr, hp, xp):
    """Schedule-free AdamW (schedulefree.AdamWScheduleFree): as sgd_schedule_free on Adam's
    normalised gradient u = g_t / (sqrt(v_t / (1 - b2^t)) + eps) + weight_decay y, v_t = b2 v + (1 - b2) g^2,
    and beta = b1. eff_lr = lr_s / (sqrt(v_t / (1 - b2^t)) + eps), the multiplier of g_t in z's step.
    """
    b1, b2 = hp["betas"]
    v = state["exp_avg_sq"] * b2 + (1 - b2) * g * g
    denom = xp.sqrt(v / (1 - b2**t)) + hp["eps"]
    u = _l2(g / denom, p, hp["weight_decay"])
    y, new_state, lr_s = _schedule_free(p, u, state, t, lr, b1, hp, xp)
    return y, {**new_state, "exp_avg_sq": v}, lr_s / denom


# --- Sign methods ---------------------------------------------------------------------------


def lion(p, g, state, t, lr, hp, xp):
    """Lion (Chen et al. 2023), as lion-pytorch's update: decoupled weight decay first,
    p <- p (1 - lr_t weight_decay); then c_t = b1 m_{t-1} + (1 - b1) g_t, p <- p - lr_t sign(c_t),
    and m_t = b2 m_{t-1} + (1 - b2) g_t. sign(0) = 0, as torch.sign.
    eff_lr = lr_t, the multiplier of sign(c_t).
    """
    b1, b2 = hp["betas"]
    p = _decay(p, lr, hp)
    c = state["exp_avg"] * b1 + (1 - b1) * g
    m = state["exp_avg"] * b2 + (1 - b2) * g
    return p + (-lr) * xp.sign(c), {"exp_avg": m}, _full(p, lr)


def rprop(p, g, state, t, lr, hp, xp):
    """Rprop (torch.optim.Rprop): a step size per parameter, grown by etas[1] while g_t keeps the
    sign of the previous step's gradient, shrunk by etas[0] when it flips, within step_sizes.

    The step sizes start at the lr of step 1 (torch fills them from the group's lr at the first
    step; later lrs play no part). After a sign change the gradient counts as 0: no step, and the
    next step compares with 0, as torch's Rprop does.
    p <- p - step_size_t sign(g~_t), g~_t = 0 where the sign flipped, else g_t.
    eff_lr = step_size_t, the multiplier of sign(g~_t).
    """
    eta_minus, eta_plus = hp["etas"]
    low, high = hp["step_sizes"]
    size = _select(t == 1, lambda: _full(p, lr), lambda: state["step_size"], xp)
    agreement = xp.sign(g * state["prev"])
    flipped = agreement < 0
    factor = xp.where(agreement > 0, eta_plus, xp.where(flipped, eta_minus, _full(p, 1.0)))
    size = xp.clip(size * factor, low, high)
    g = xp.where(flipped, 0.0, g)
    return p - xp.sign(g) * size, {"prev": g, "step_size": size}, size


def init_adamax(p, hp, xp):
    return {"exp_avg": p * 0, "exp_inf": p * 0}


init_adadelta = zeros_state("square_avg", "acc_delta")
init_radam = zeros_state("exp_avg", "exp_avg_sq")
init_lion = zeros_state("exp_avg")
init_rprop = zeros_state("prev", "step_size")
init_asgd = zeros_state("ax", "eta")
init_adafactor = zeros_state("variance")
init_stateless = zeros_state()



# --- Matrices: rules of torch.optim that see each weight matrix whole ------------------------
#
# A matrix rule takes p, g [..., m, n] (one matrix per leading index: [k, out, in] on MNIST, in
# torch.nn.Linear's orientation) with state entries of their own shapes. The 2-D runner's rules
# above see each point as one vector [..., D]; torch would hold it as the 1 x D matrix, which is
# what the vector forms of the matrix rules below compute.


def _rms_matrix(x, xp):
    """RMS over each matrix (last two axes) of x [..., m, n], keepdims: [..., 1, 1]."""
    return xp.sqrt(xp.sum(x * x, axis=(-2, -1), keepdims=True)) / (x.shape[-2] * x.shape[-1]) ** 0.5


def init_adafactor_matrix(p, hp, xp):
    """Factored second moments of p [..., m, n]: row_var [..., m, 1], col_var [..., 1, n]."""
    return {"row_var": p[..., :1] * 0, "col_var": p[..., :1, :] * 0}


def adafactor_matrix(p, g, state, t, lr, hp, xp):
    """Adafactor (torch.optim.Adafactor) for weight matrices p, g [..., m, n]: the second moment
    is factored into row and column means.

    rho_t and a_t = max(eps2, RMS(p_{t-1})) rho_t as the vector rule (RMS over the whole matrix);
    decoupled weight decay p <- p (1 - lr_t weight_decay);
    R_t = lerp(R_{t-1}, mean_j g_ij^2, t^beta2_decay) [m, 1], C_t = lerp(C_{t-1}, mean_i g_ij^2, ...)
    [1, n]; V_t = R_t C_t / max(mean_i R_t, eps1); u_t = g_t / sqrt(max(V_t, eps1^2));
    p <- p - a_t / max(1, RMS(u_t) / d) u_t.
    eff_lr = a_t / (max(1, RMS(u_t) / d) sqrt(max(V_t, eps1^2))), the multiplier of g_t.
    """
    eps1, eps2 = hp["eps"]
    m, n = g.shape[-2], g.shape[-1]
    rho = xp.minimum(lr, 1 / (t**0.5))
    alpha = xp.maximum(eps2, _rms_matrix(p, xp)) * rho
    p = _decay(p, lr, hp)
    weight = t ** hp["beta2_decay"]
    # torch squares a norm over the axis (torch.norm(g, dim).square_().div_(size))
    row_norm = xp.sqrt(xp.sum(g * g, axis=-1, keepdims=True))
    col_norm = xp.sqrt(xp.sum(g * g, axis=-2, keepdims=True))
    row_var = _lerp(state["row_var"], row_norm * row_norm / n, weight, xp)
    col_var = _lerp(state["col_var"], col_norm * col_norm / m, weight, xp)
    # row_var @ col_var of an [m, 1] and a [1, n] matrix: one product per entry, as broadcasting
    estimate = row_var * col_var / xp.clip(xp.mean(row_var, axis=-2, keepdims=True), eps1, math.inf)
    scale = 1 / xp.sqrt(xp.clip(estimate, eps1 * eps1, math.inf))
    update = scale * g
    ratio = _rms_matrix(update, xp) / hp["d"]
    denom = xp.where(ratio > 1.0, ratio, 1.0 + 0 * ratio)
    step = alpha / denom
    return p + (-step) * update, {"row_var": row_var, "col_var": col_var}, step * scale


def _newton_schulz(x, hp, xp, norm, gram, times):
    """torch.optim.Muon's quintic Newton-Schulz iteration on x, in x's dtype (torch's runs in bfloat16).

    x <- x / max(norm(x), eps) (the Frobenius norm), then ns_steps times: A = gram(x) (x x^T),
    B = b A + c A A, x <- a x + B x, with times(B, x) the product B x. The caller passes the
    matrix with no more rows than columns (torch transposes a tall one) and the products.
    """
    a, b, c = hp["ns_coefficients"]
    x = x / xp.maximum(norm(x), hp["eps"])
    for _ in range(hp["ns_steps"]):
        s = gram(x)
        x = a * x + times(b * s + c * times(s, s), x)
    return x


def _muon_direction(g, state, hp):
    """(the momentum buffer B_t, the matrix Muon orthogonalises U_t), in torch's lerp forms:
    B_t = lerp(B_{t-1}, g_t, 1 - momentum); U_t = lerp(g_t, B_t, momentum) (nesterov) or B_t."""
    mu = hp["momentum"]
    buf = _lerp(state["momentum_buffer"], g, 1 - mu)
    return buf, (_lerp(g, buf, mu) if hp["nesterov"] else buf)


def muon_matrix(p, g, state, t, lr, hp, xp):
    """Muon (torch.optim.Muon, Jordan et al. 2024) for weight matrices p, g [..., m, n].

    B_t = lerp(B_{t-1}, g_t, 1 - mu); U_t = lerp(g_t, B_t, mu) (nesterov) or B_t;
    O_t = NS(U_t) (_newton_schulz; on U_t^T when m > n, transposed back);
    p <- p (1 - lr_t weight_decay) - lr'_t O_t with torch's adjust_lr_fn: lr'_t = lr_t sqrt(max(1, m/n))
    ("original") or lr_t 0.2 sqrt(max(m, n)) ("match_rms_adamw").
    Newton-Schulz runs in p's dtype, where torch's runs in bfloat16 (tests/test_muon.py measures the gap).
    eff_lr = lr'_t, the multiplier of O_t.
    """
    buf, u = _muon_direction(g, state, hp)
    rows, cols = p.shape[-2], p.shape[-1]
    x = xp.matrix_transpose(u) if rows > cols else u
    o = _newton_schulz(x, hp, xp, lambda y: xp.sqrt(xp.sum(y * y, axis=(-2, -1), keepdims=True)),
                       lambda y: xp.matmul(y, xp.matrix_transpose(y)), xp.matmul)
    o = xp.matrix_transpose(o) if rows > cols else o
    ratio = 0.2 * math.sqrt(max(rows, cols)) if hp["adjust_lr_fn"] == "match_rms_adamw" else math.sqrt(max(1, rows / cols))
    adjusted = lr * ratio
    p = _decay(p, lr, hp)
    return p + (-adjusted) * o, {"momentum_buffer": buf}, _full(p, adjusted)


def muon(p, g, state, t, lr, hp, xp):
    """Muon on each point p, g [..., D] as torch sees it: the 1 x D matrix (torch.optim.Muon takes
    matrices only). Its Gram matrix x x^T is the 1 x 1 sum of squares, so Newton-Schulz
    multiplies U_t / ||U_t|| by a scalar: O_t = phi_k(1) U_t / ||U_t|| with phi's recursion
    s <- s (a + b s + c s^2)^2 from s = 1, a normalised momentum step.

    Otherwise as muon_matrix with m = 1, n = D: lr'_t = lr_t ("original": sqrt(max(1, 1/D)) = 1)
    or lr_t 0.2 sqrt(D) ("match_rms_adamw").
    eff_lr = lr'_t, the multiplier of O_t.
    """
    buf, u = _muon_direction(g, state, hp)

    def gram(y):
        return xp.sum(y * y, axis=-1, keepdims=True)

    o = _newton_schulz(u, hp, xp, lambda y: xp.sqrt(gram(y)), gram, lambda s, y: s * y)
    adjusted = lr * (0.2 * _sqrt_size(p, xp)) if hp["adjust_lr_fn"] == "match_rms_adamw" else lr * 1.0
    p = _decay(p, lr, hp)
    return p + (-adjusted) * o, {"momentum_buffer": buf}, _full(p, adjusted)


init_muon = zeros_state("momentum_buffer")
