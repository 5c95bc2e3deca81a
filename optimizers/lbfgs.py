"""L-BFGS (torch.optim.LBFGS, Liu & Nocedal 1989), vectorised over trajectories.

One call of `lbfgs` is one `optimizer.step(closure)` of torch's LBFGS for every trajectory at
once: up to max_iter inner iterations (two-loop recursion over the curvature pairs, then a fixed
step or torch's strong-Wolfe line search), each trajectory with its own history, counters and
line-search bracket. Nothing loops over trajectories: the loops run over inner iterations, over
the history index and over line-search rounds, until every trajectory's own stopping condition
holds, with masks freezing the ones that have finished (xp.where, never in-place writes).

Shapes: p, g, d [..., D] (the 2-D runner passes [k, N, D], the MNIST trainer [k, 1, P]);
per-trajectory scalars [..., 1]; the history old_dirs / old_stps [..., m, D] with ro [..., m, 1]
(m = history_size), a ring per trajectory: torch's lists, oldest first, are slots head, head + 1,
... (mod m), n_pairs of them. A step copies the history once and then writes each new pair into
its one slot in place (a full list drops its oldest by moving head), so an inner iteration costs
O(D) in memory traffic rather than a copy of the whole history (m x D per array, 40 MB for the
MNIST MLP's default history).

Arithmetic follows torch's CPU kernels: `x.add_(y, alpha=a)` is a fused multiply-add there (one
rounding), so it is written as `_fma`; dot products, torch's `dot` on two doubles, are a plain
sum of products. The comparisons keep the Python semantics of torch's code (`min(a, b)` returns
a unless b < a), so NaNs take the same branches. That exactness is for a few coordinates (D <=
EXACT_D: the 2-D surfaces). On a model's parameter vector (the MNIST MLP, D ~ 10^4 to 10^5) torch's
`dot` is a blocked BLAS sum whose order no array code reproduces, and the exact product would
cost several passes more per history entry: there an axpy is a * b + c and a dot product a
reduction, equal to torch within rounding (tests/test_mnist_lbfgs.py: 1e-6 over 100 steps).

Every closure call is counted ("n_evals" [..., 1]) and, unless record_points is False, recorded
("evals" [..., E, D], the evaluated points in call order, NaN after the last), E = `eval_slots(hp)`.
"""

from __future__ import annotations

C1, C2 = 1e-4, 0.9  # torch's _strong_wolfe defaults (sufficient decrease, curvature)
MAX_LS_ROUNDS = 10_000  # a guard only: every round evaluates or finishes each unfinished trajectory
_SPLIT = 134217729.0  # 2**27 + 1, Dekker's splitting constant for float64
EXACT_D = 8  # up to this many coordinates, torch's arithmetic operation by operation (see above)
SCALARS = ("t", "H_diag", "prev_loss", "n_iter", "func_evals", "n_pairs", "head")  # per trajectory
VECTORS = ("d", "prev_flat_grad")  # [..., D]
HISTORY = ("old_dirs", "old_stps", "ro")  # [..., m, D], ro [..., m, 1]


def max_eval(hp) -> int:
    """torch's max_eval: the given value, or max_iter * 5 // 4 when None."""
    return hp["max_iter"] * 5 // 4 if hp["max_eval"] is None else hp["max_eval"]


def history_passes(hp) -> int:
    """The most two-loop entries one outer step runs: max_iter inner iterations over up to
    history_size pairs (a page's work cap counts them: each is a Python-level pass over D)."""
    return hp["max_iter"] * hp["history_size"]


def eval_slots(hp) -> int:
    """E: the most closure calls one outer step can make.

    The first call, then one per inner iteration without a line search (none after the last, so at
    most max_iter); with the strong-Wolfe search, a search may go one evaluation past max_eval
    (its first trial point is always evaluated), so max_eval + 1.
    """
    limit = max_eval(hp) + 1
    return limit if hp["line_search_fn"] == "strong_wolfe" else min(hp["max_iter"], limit)


def init_lbfgs(p, hp, xp):
    """The state before the first step: torch's, as arrays (n_iter 0, no curvature pairs).

    d, prev_flat_grad [..., D]; t, H_diag, prev_loss, n_iter, func_evals, n_pairs, head [..., D]
    too (one value per trajectory, repeated over D so the runner records them as it records any
    state); old_dirs, old_stps [..., m, D] and ro [..., m, 1].
    """
    zero = xp.zeros_like(p)
    hist = xp.stack([zero] * hp["history_size"], axis=-2)
    return {"d": zero, "t": zero, "H_diag": zero + 1, "prev_flat_grad": zero, "prev_loss": zero,
            "n_iter": zero, "func_evals": zero, "n_pairs": zero, "head": zero,
            "old_dirs": hist, "old_stps": hist, "ro": hist[..., :1]}


def lbfgs(p, g, state, t, lr, hp, xp, closure, record_points: bool = True):
    """One torch.optim.LBFGS.step(closure) for every trajectory: (p_new, state_new, eff_lr).

    p: [..., D]; g: the gradient at p (unused: the step's first closure call gives it, with the
    loss); t: the outer step count (unused: torch counts inner iterations, state n_iter);
    lr: broadcastable to [..., 1]; hp: torch's hyperparameters (max_eval None: max_iter * 5 // 4);
    closure(x [..., D]) -> (loss [..., 1], gradient [..., D]).
    eff_lr: the step length t of this step's last inner iteration (torch's state["t"] after the
    step), the multiplier of that iteration's direction d; 0 where the step made no iteration
    (its first gradient already had max |g| <= tolerance_grad). The step as a whole moves by the
    sum of several such t d.
    state_new also holds "n_evals" [..., 1] and, with record_points, "evals" [..., E, D] (see the
    module docstring).
    """
    max_iter, limit = hp["max_iter"], max_eval(hp)
    tol_grad, tol_change = hp["tolerance_grad"], hp["tolerance_change"]
    wolfe = hp["line_search_fn"] == "strong_wolfe"
    rec = _Recorder(p, eval_slots(hp) if record_points else 0, xp)
    one = xp.ones_like(p[..., :1])  # [..., 1] ones (p * 0 would carry a diverged point's NaN)
    s = {name: state[name][..., :1] for name in SCALARS}  # one value per trajectory, [..., 1]
    s.update({name: state[name] for name in VECTORS})
    # the step's own copy of the history, [R, m, D] (R trajectories), written in place below
    s.update({name: xp.reshape(xp.asarray(state[name], copy=True), (-1, *state[name].shape[-2:])) for name in HISTORY})

    loss, flat_grad = closure(p)
    rec.add(p, one > 0)
    current_evals = one
    func_evals = s["func_evals"] + 1
    running = ~(_amax(flat_grad, xp) <= tol_grad) & _finite(loss, flat_grad, xp)
    ran = running
    x = p
    n_iter = 0
    while n_iter < max_iter and bool(xp.any(running)):
        n_iter += 1
        s["n_iter"] = xp.where(running, s["n_iter"] + 1, s["n_iter"])
        first = running & (s["n_iter"] == 1)
        later = running & ~first
        _update_memory(s, flat_grad, later, xp)
        d = xp.where(first, -flat_grad, xp.where(later, _two_loop(s, flat_grad, xp), s["d"]))
        s["d"] = d
        s["prev_flat_grad"] = xp.where(running, flat_grad, s["prev_flat_grad"])
        s["prev_loss"] = xp.where(running, loss, s["prev_loss"])
        inv = 1.0 / xp.sum(xp.abs(flat_grad), axis=-1, keepdims=True)
        step = xp.where(first, xp.where(inv < 1.0, inv, one) * lr, one * lr)
        s["t"] = xp.where(running, step, s["t"])
        gtd = _dot(flat_grad, d, xp)
        running = running & ~(gtd > -tol_change)
        if wolfe:
            f_new, g_new, step, ls_evals = _strong_wolfe(closure, x, s["t"], d, loss, flat_grad, gtd,
                                                         limit - current_evals, running, tol_change, rec, xp)
            s["t"] = xp.where(running, step, s["t"])
            x = xp.where(running, _fma(s["t"], d, x, xp), x)
            loss = xp.where(running, f_new, loss)
            flat_grad = xp.where(running, g_new, flat_grad)
        else:
            x = xp.where(running, _fma(s["t"], d, x, xp), x)
            ls_evals = one - 1
            if n_iter != max_iter:  # torch evaluates again unless this is the last iteration
                f_new, g_new = closure(x)
                rec.add(x, running)
                loss = xp.where(running, f_new, loss)
                flat_grad = xp.where(running, g_new, flat_grad)
                ls_evals = xp.where(running, one, ls_evals)
        current_evals = current_evals + ls_evals
        func_evals = func_evals + ls_evals
        done = ((current_evals >= limit) | (_amax(flat_grad, xp) <= tol_grad)
                | (_amax(d * s["t"], xp) <= tol_change) | (xp.abs(loss - s["prev_loss"]) < tol_change))
        running = running & ~done & _finite(loss, flat_grad, xp)
    s["func_evals"] = func_evals
    for name in HISTORY:
        s[name] = xp.reshape(s[name], state[name].shape)
    new_state = {name: s[name] * xp.ones_like(p) if name in SCALARS else s[name] for name in s}
    new_state["n_evals"] = rec.count
    if record_points:
        new_state["evals"] = rec.points()
    return x, new_state, xp.where(ran, s["t"], one - 1) * xp.ones_like(p)


def _update_memory(s, flat_grad, mask, xp):
    """Add the curvature pair (y, s) = (g - prev_g, t d) where mask and y.s > 1e-10, over the
    oldest pair of a full history (which then starts one slot later); H_diag = y.s / y.y there
    (torch's update of its lists: pop(0), append)."""
    y = flat_grad - s["prev_flat_grad"]
    step = s["d"] * s["t"]
    ys = _dot(y, step, xp)
    add = mask & (ys > 1e-10)
    m = s["old_dirs"].shape[-2]
    full = s["n_pairs"] == m
    slot = (s["head"] + xp.where(full, 0 * s["n_pairs"], s["n_pairs"])) % m  # [..., 1]
    _write(s["old_dirs"], slot, add, y, xp)
    _write(s["old_stps"], slot, add, step, xp)
    _write(s["ro"], slot, add, 1.0 / ys, xp)
    s["H_diag"] = xp.where(add, ys / _dot(y, y, xp), s["H_diag"])
    s["head"] = xp.where(add & full, (s["head"] + 1) % m, s["head"])
    s["n_pairs"] = xp.where(add & ~full, s["n_pairs"] + 1, s["n_pairs"])


def _index(hist, slot, xp):
    """(rows, slots): integer indices of each trajectory's slot `slot` [..., 1] in hist [R, m, X]."""
    rows = xp.arange(hist.shape[0], device=hist.device)
    return rows, xp.reshape(xp.astype(slot, xp.int64), (-1,))


def _write(hist, slot, mask, new, xp):
    """hist [R, m, X] with new [..., X] in each trajectory's slot `slot` where mask [..., 1], in place
    (hist is the step's own copy)."""
    at = _index(hist, slot, xp)
    flat = xp.reshape(new, (hist.shape[0], hist.shape[-1]))
    hist[at] = xp.where(xp.reshape(mask, (-1, 1)), flat, hist[at])


def _ordered(hist, head, count: int, lead, xp):
    """Entries 0 .. count - 1 (oldest first) of each trajectory's ring hist [R, m, X] starting at
    slot head [..., 1], as [..., count, X] (lead: the leading shape). A slice (no copy) where every
    ring starts at slot 0 (until a history is full); one gather otherwise."""
    m = hist.shape[-2]
    first = int(xp.min(head))
    if first == int(xp.max(head)) and first + count <= m:
        out = hist[:, first:first + count, :]
    else:
        rows = xp.arange(hist.shape[0], device=hist.device)
        slots = (xp.reshape(xp.astype(head, xp.int64), (-1, 1)) + xp.arange(count, device=hist.device)) % m
        out = hist[rows[:, None], slots]
    return xp.reshape(out, (*lead, count, hist.shape[-1]))


def _two_loop(s, flat_grad, xp):
    """-H g by the two-loop recursion over each trajectory's first n_pairs pairs (torch's order).

    The loops run over the history index up to the largest n_pairs; entries at or past a
    trajectory's own n_pairs leave its vectors unchanged.
    """
    count, common = int(xp.max(s["n_pairs"])), int(xp.min(s["n_pairs"]))

    def masked(i, new, old):  # entries every trajectory has need no mask
        return new if i < common else xp.where(i < s["n_pairs"], new, old)

    lead = flat_grad.shape[:-1]
    ro = _ordered(s["ro"], s["head"], count, lead, xp)
    if flat_grad.shape[-1] <= EXACT_D:
        # a few coordinates: the history in order at once, split once (not per entry)
        ordered = {name: _ordered(s[name], s["head"], count, lead, xp) for name in ("old_dirs", "old_stps")}
        splits = {name: _split(a) for name, a in ordered.items()}

        def entry(name, i, split):
            a = ordered[name][..., i, :]
            return (a, splits[name][0][..., i, :], splits[name][1][..., i, :]) if split else a
    else:  # a model's parameters: one entry at a time, never a copy of the whole history

        def entry(name, i, split):
            return _ordered(s[name], (s["head"] + i) % s[name].shape[-2], 1, lead, xp)[..., 0, :]

    q = -flat_grad
    al = [None] * count
    for i in range(count - 1, -1, -1):
        al[i] = _dot(entry("old_stps", i, False), q, xp) * ro[..., i, :]
        q = masked(i, _fma(-al[i], entry("old_dirs", i, True), q, xp), q)
    r = q * s["H_diag"]
    for i in range(count):
        be = _dot(entry("old_dirs", i, False), r, xp) * ro[..., i, :]
        r = masked(i, _fma(al[i] - be, entry("old_stps", i, True), r, xp), r)
    return r


def _strong_wolfe(closure, x, t, d, f, g, gtd, max_ls, active, tol_change, rec, xp):
    """torch's _strong_wolfe (c1 = 1e-4, c2 = 0.9) for the active trajectories: (f_new, g_new, t, evals).

    Each trajectory is bracketing, zooming or done; each round gives every unfinished one its
    next trial point and evaluates them all in one closure call. max_ls: [..., 1] evaluations
    left to each (torch's max_eval - current_evals).
    """
    BRACKET, ZOOM, DONE = 0, 1, 2
    zero = xp.zeros_like(t)
    d_norm = _amax(d, xp)
    f_new, g_new = closure(_fma(t, d, x, xp))
    rec.add(_fma(t, d, x, xp), active)
    evals = xp.where(active, zero + 1, zero)
    ls_iter = zero
    gtd_new = _dot(g_new, d, xp)
    t_prev, f_prev, g_prev, gtd_prev = zero, f, g, gtd
    phase = xp.where(active, zero + BRACKET, zero + DONE)
    # the bracket's two ends (a single Wolfe point is stored at both) and which end is low
    b = [zero, zero]
    bf, bg, bgtd = [f, f], [g, g], [gtd, gtd]
    low1 = zero > 0  # low_pos == 1
    insuf = zero > 0
    for _ in range(MAX_LS_ROUNDS):
        if not bool(xp.any(phase != DONE)):
            break
        br = phase == BRACKET
        exhausted = br & (ls_iter >= max_ls)
        armijo = br & ~exhausted & ((f_new > f + C1 * t * gtd) | ((ls_iter > 1) & (f_new >= f_prev)))
        curv = br & ~exhausted & ~armijo & (xp.abs(gtd_new) <= -C2 * gtd)
        up = br & ~exhausted & ~armijo & ~curv & (gtd_new >= 0)
        go_on = br & ~exhausted & ~armijo & ~curv & ~up
        to_zoom = armijo | up
        ends = (exhausted, to_zoom, curv)
        b = [_pick(ends, (zero, t_prev, t), b[0], xp), _pick(ends, (t, t, t), b[1], xp)]
        bf = [_pick(ends, (f, f_prev, f_new), bf[0], xp), _pick(ends, (f_new, f_new, f_new), bf[1], xp)]
        bg = [_pick(ends, (g, g_prev, g_new), bg[0], xp), _pick(ends, (g_new, g_new, g_new), bg[1], xp)]
        bgtd = [xp.where(to_zoom, gtd_prev, bgtd[0]), xp.where(to_zoom, gtd_new, bgtd[1])]
        ended = exhausted | to_zoom | curv
        low1 = xp.where(ended, ~(bf[0] <= bf[1]), low1)
        insuf = xp.where(to_zoom, zero > 0, insuf)
        phase = xp.where(exhausted | curv, zero + DONE, xp.where(to_zoom, zero + ZOOM, phase))
        # bracketing: extrapolate by cubic interpolation within [t + 0.01 (t - t_prev), 10 t]
        t_next = _cubic(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, xp, t + 0.01 * (t - t_prev), t * 10)
        t_prev, f_prev = xp.where(go_on, t, t_prev), xp.where(go_on, f_new, f_prev)
        g_prev, gtd_prev = xp.where(go_on, g_new, g_prev), xp.where(go_on, gtd_new, gtd_prev)
        t = xp.where(go_on, t_next, t)
        # zooming: interpolate inside the bracket, kept 0.1 of its length from the ends when stuck
        zm = phase == ZOOM
        stop = zm & ((ls_iter >= max_ls) | (xp.abs(b[1] - b[0]) * d_norm < tol_change))
        phase = xp.where(stop, zero + DONE, phase)
        zoom = zm & ~stop
        t_z = _cubic(b[0], bf[0], bgtd[0], b[1], bf[1], bgtd[1], xp)
        hi, lo = _pymax(b[0], b[1], xp), _pymin(b[0], b[1], xp)
        eps = 0.1 * (hi - lo)
        near = _pymin(hi - t_z, t_z - lo, xp) < eps
        move = near & (insuf | (t_z >= hi) | (t_z <= lo))
        t_z = xp.where(move, xp.where(xp.abs(t_z - hi) < xp.abs(t_z - lo), hi - eps, lo + eps), t_z)
        insuf = xp.where(zoom, near & ~move, insuf)
        t = xp.where(zoom, t_z, t)
        trial = go_on | zoom
        if not bool(xp.any(trial)):
            continue
        point = _fma(t, d, x, xp)
        f_e, g_e = closure(point)
        rec.add(point, trial)
        evals = xp.where(trial, evals + 1, evals)
        ls_iter = xp.where(trial, ls_iter + 1, ls_iter)
        f_new, g_new = xp.where(trial, f_e, f_new), xp.where(trial, g_e, g_new)
        gtd_new = xp.where(trial, _dot(g_e, d, xp), gtd_new)
        # zooming: the trial point replaces the high end, or becomes the low end
        f_low = xp.where(low1, bf[1], bf[0])
        high_gets = zoom & ((f_new > f + C1 * t * gtd) | (f_new >= f_low))
        ok = zoom & ~high_gets
        met = ok & (xp.abs(gtd_new) <= -C2 * gtd)
        b_hi, b_lo = xp.where(low1, b[0], b[1]), xp.where(low1, b[1], b[0])
        swap = ok & ~met & (gtd_new * (b_hi - b_lo) >= 0)  # the old low end becomes the high end
        new = (t, f_new, g_new, gtd_new)
        ends = [b, bf, bg, bgtd]
        for j, items in enumerate(ends):
            low_val = xp.where(low1, items[1], items[0])
            # high_gets: the high end takes the trial point; ok: the low end does, and with swap the
            # high end takes the old low end first
            at0 = (high_gets & low1) | (swap & low1) | (ok & ~low1)
            at1 = (high_gets & ~low1) | (swap & ~low1) | (ok & low1)
            val0 = xp.where(swap & low1, low_val, new[j])
            val1 = xp.where(swap & ~low1, low_val, new[j])
            ends[j] = [xp.where(at0, val0, items[0]), xp.where(at1, val1, items[1])]
        b, bf, bg, bgtd = ends
        low1 = xp.where(high_gets, ~(bf[0] <= bf[1]), low1)
        phase = xp.where(met, zero + DONE, phase)
    pick = (low1,)
    return (_pick(pick, (bf[1],), bf[0], xp), _pick(pick, (bg[1],), bg[0], xp),
            _pick(pick, (b[1],), b[0], xp), evals)


def _pick(masks, values, otherwise, xp):
    """values[i] where masks[i] (the first mask that holds), else otherwise."""
    out = otherwise
    for mask, value in reversed(list(zip(masks, values))):
        out = xp.where(mask, value, out)
    return out


def _cubic(x1, f1, g1, x2, f2, g2, xp, low=None, high=None):
    """torch's _cubic_interpolate: the minimiser of the cubic through (x1, f1, g1), (x2, f2, g2),
    clamped to [low, high] (default: between x1 and x2); their midpoint where the cubic has none."""
    ordered = x1 <= x2
    if low is None:
        low, high = xp.where(ordered, x1, x2), xp.where(ordered, x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    real = d2_square >= 0
    d2 = xp.sqrt(xp.where(real, d2_square, 0 * d2_square))
    min_pos = xp.where(ordered, x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
                       x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)))
    return xp.where(real, _pymin(_pymax(min_pos, low, xp), high, xp), (low + high) / 2.0)


def _pymax(a, b, xp):
    """Python's max(a, b): b only where b > a."""
    return xp.where(b > a, b, a)


def _pymin(a, b, xp):
    """Python's min(a, b): b only where b < a."""
    return xp.where(b < a, b, a)


def _dot(a, b, xp):
    """[..., 1] dot product over the last axis, as torch's dot on a few doubles: the products
    summed left to right (as NumPy sums fewer than 8 entries; written out, since a reduction call
    costs more than the arithmetic on these tiny arrays). Past EXACT_D entries, a reduction."""
    prod = a * b
    if prod.shape[-1] > EXACT_D:
        return xp.sum(prod, axis=-1, keepdims=True)
    out = prod[..., :1]
    for j in range(1, prod.shape[-1]):
        out = out + prod[..., j:j + 1]
    return out


def _finite(loss, g, xp):
    """[..., 1] whether the loss and gradient are finite. Where they are not, the trajectory stops
    (torch would go on from NaNs): the runner marks that point diverged and freezes the path before
    it, so nothing computed after it would be kept."""
    return xp.isfinite(loss) & xp.all(xp.isfinite(g), axis=-1, keepdims=True)


def _amax(a, xp):
    """[..., 1] max |a| over the last axis."""
    return xp.max(xp.abs(a), axis=-1, keepdims=True)


def _fma(a, b, c, xp):
    """a * b + c rounded once, as torch's CPU `c.add_(b, alpha=a)` computes it (a fused
    multiply-add): Dekker's exact product and Knuth's exact sum, then one final addition. Where
    the parts overflow (|a b| near the float64 limit), the plain a * b + c. b may come as
    (b, b_hi, b_lo), already split. Past EXACT_D coordinates, a * b + c (see the module docstring)."""
    if not isinstance(b, tuple) and b.shape[-1] > EXACT_D:
        return a * b + c
    b, b_hi, b_lo = b if isinstance(b, tuple) else (b, *_split(b))
    p = a * b
    a_hi, a_lo = _split(a)
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo  # p + e == a b exactly
    total = p + c
    virtual = total - p
    err = (p - (total - virtual)) + (c - virtual)  # total + err == p + c exactly
    fused = total + (err + e)
    return xp.where(xp.isfinite(fused), fused, total)


def _split(a):
    t = _SPLIT * a
    hi = t - (t - a)
    return hi, a - hi


class _Recorder:
    """The points of every closure call, compacted per trajectory: points() [..., E, D], NaN after
    the last; count [..., 1]."""

    def __init__(self, p, slots: int, xp):
        """slots: E (0: count only, no points)."""
        self.xp = xp
        ones = xp.ones_like(p[..., :1])
        self.slots = slots
        if slots:
            self.slot = xp.stack([ones * i for i in range(slots)], axis=-2)  # [..., E, 1]: 0 .. E-1
            self.out = self.slot * xp.ones_like(p[..., None, :]) * float("nan")
        self.count = ones - 1

    def add(self, x, mask):
        """Record x [..., D] as the next evaluation of the trajectories where mask [..., 1]."""
        xp = self.xp
        if self.slots:
            at = (self.slot == self.count[..., None, :]) & mask[..., None, :]
            self.out = xp.where(at, x[..., None, :], self.out)
        self.count = xp.where(mask, self.count + 1, self.count)

    def points(self):
        return self.out
