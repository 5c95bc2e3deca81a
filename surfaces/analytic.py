"""Classic 2-D test functions with closed-form gradients.

Each surface is a formula `value(x, y, xp)` and its hand-derived gradient `grad(x, y, xp) ->
(d/dx, d/dy)` over coordinate arrays x, y: [...] (closures over the parameters where the surface
has any), plus a `_build_*` that adds what the plots need: bounds, critical points, starts, LaTeX.
Critical points without a closed form are refined by Newton's method from published digits.
"""

from __future__ import annotations

import math
from typing import Any

from hyperparams import Hyperparameter

from .base import Surface, SurfaceEntry, TorchLoss, constant_hess, critical_points, latex_number, with_formula

TWO_PI = 2.0 * math.pi


def _torch_xy(*lines: str, imports: tuple[str, ...] = ()) -> TorchLoss:
    """The PyTorch source of a loss over x, y = p (the lines after the unpacking)."""
    return TorchLoss(body=("x, y = p", *lines), imports=imports)


def _rosenbrock(c):
    a, b = c["a"], c["b"]

    def value(x, y, xp):
        return (a - x) ** 2 + b * (y - x * x) ** 2

    def grad(x, y, xp):
        valley = y - x * x
        return 2.0 * (x - a) - 4.0 * b * x * valley, 2.0 * b * valley

    return value, grad


def _rosenbrock_hess(b):
    def hess(x, y, xp):
        return 2.0 - 4.0 * b * (y - x * x) + 8.0 * b * x * x, -4.0 * b * x, 2.0 * b + 0.0 * x

    return hess


def _build_rosenbrock(entry: SurfaceEntry, params: dict[str, Any]) -> Surface:
    a, b = params["a"], params["b"]
    return Surface(
        entry, params,
        latex=rf"f(x, y) = ({latex_number(a)} - x)^2 + {latex_number(b)}\,(y - x^2)^2",
        **with_formula(_rosenbrock, {"a": a, "b": b}),
        # Widened when the minimum (a, a^2) moves out of the classic frame.
        bounds=((min(-2.0, a - 1.0), max(2.0, a + 1.0)), (-1.0, max(3.0, a * a + 1.0))),
        minima=((a, a * a),),
        default_starts=((-1.5, 2.0), (-1.0, 1.0), (1.5, -0.5)),
        min_value=0.0,
        hess_xy=_rosenbrock_hess(b),
        torch_loss=_torch_xy(f"a, b = {a!r}, {b!r}", "return (a - x) ** 2 + b * (y - x * x) ** 2"),
    )


def _quadratic(c):
    a11, a12, a22 = c["a11"], c["a12"], c["a22"]

    def value(x, y, xp):
        return 0.5 * (a11 * x * x + 2.0 * a12 * x * y + a22 * y * y)

    def grad(x, y, xp):
        return a11 * x + a12 * y, a12 * x + a22 * y

    return value, grad


def _build_quadratic(entry: SurfaceEntry, params: dict[str, Any]) -> Surface:
    # Curvature 1 across the valley and 1/condition along it: the stable learning rates stay the
    # same (below 2) whatever the condition number, which only slows progress along the valley.
    kappa, angle = params["condition"], params["angle"]
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    matrix = {"a11": c * c / kappa + s * s, "a12": c * s * (1.0 / kappa - 1.0), "a22": s * s / kappa + c * c}
    rotation = rf"R({latex_number(angle)}^\circ)"
    return Surface(
        entry, params,
        latex=(
            rf"f(p) = \tfrac{{1}}{{2}}\, p^\top A\, p,\quad A = {rotation}\,"
            rf"\mathrm{{diag}}\!\left(\tfrac{{1}}{{{latex_number(kappa)}}}, 1\right){rotation}^\top"
        ),
        **with_formula(_quadratic, matrix),
        bounds=((-3.0, 3.0), (-3.0, 3.0)),
        minima=((0.0, 0.0),),
        default_starts=((-2.5, 2.0), (2.5, -0.5), (0.5, 2.5)),
        min_value=0.0,
        hess_xy=constant_hess(matrix["a11"], matrix["a12"], matrix["a22"]),
        torch_loss=TorchLoss(body=(
            f"condition, angle = {kappa!r}, {angle!r}  # A = R(angle) diag(1/condition, 1) R(angle)^T",
            "c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))",
            "a11, a12, a22 = c * c / condition + s * s, c * s * (1 / condition - 1), s * s / condition + c * c",
            "x, y = p",
            "return 0.5 * (a11 * x * x + 2 * a12 * x * y + a22 * y * y)",
        ), imports=("import math",)),
    )


def _saddle_value(x, y, xp):
    return x * x - y * y


def _saddle_grad(x, y, xp):
    return 2.0 * x, -2.0 * y


def _build_saddle(entry: SurfaceEntry, params: dict[str, Any]) -> Surface:
    return Surface(
        entry, params,
        latex=r"f(x, y) = x^2 - y^2",
        value_xy=_saddle_value, grad_xy=_saddle_grad, hess_xy=constant_hess(2.0, 0.0, -2.0),
        torch_loss=_torch_xy("return x * x - y * y"),
        bounds=((-2.5, 2.5), (-2.5, 2.5)),
        minima=(),
        saddles=((0.0, 0.0),),
        # Almost on the attracting axis: plain gradient descent stalls at the saddle for a while.
        default_starts=((-2.0, 1e-3), (-2.0, 0.5), (2.0, -0.1)),
        min_value=None,
    )


def _monkey_value(x, y, xp):
    return x * x * x - 3.0 * x * y * y


def _monkey_grad(x, y, xp):
    return 3.0 * (x * x - y * y), -6.0 * x * y


def _monkey_hess(x, y, xp):
    return 6.0 * x, -6.0 * y, -6.0 * x


def _build_monkey_saddle(entry: SurfaceEntry, params: dict[str, Any]) -> Surface:
    return Surface(
        entry, params,
        latex=r"f(x, y) = x^3 - 3 x y^2",
        value_xy=_monkey_value, grad_xy=_monkey_grad, hess_xy=_monkey_hess,
        torch_loss=_torch_xy("return x * x * x - 3 * x * y * y"),
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        minima=(),
        saddles=((0.0, 0.0),),
        default_starts=((1.5, 1e-3), (1.5, 0.5), (-0.5, 1.5)),
        min_value=None,
    )


def _himmelblau_value(x, y, xp):
    return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2


def _himmelblau_grad(x, y, xp):
    u, v = x * x + y - 11.0, x + y * y - 7.0
    return 4.0 * x * u + 2.0 * v, 2.0 * u + 4.0 * y * v


def _himmelblau_hess(x, y, xp):
    u, v = x * x + y - 11.0, x + y * y - 7.0
    return 4.0 * u + 8.0 * x * x + 2.0, 4.0 * (x + y), 2.0 + 4.0 * v + 8.0 * y * y


# Six-digit locations (the minima as published), refined here to double precision.
HIMMELBLAU_MINIMA = critical_points(
    _himmelblau_grad, ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))
)
HIMMELBLAU_SADDLES = critical_points(
    _himmelblau_grad, ((3.385154, 0.073852), (0.086678, 2.884255), (-3.073026, -0.081353), (-0.127961, -1.953715))
)


def _build_himmelblau(entry: SurfaceEntry, params: dict[str, Any]) -> Surface:
    return Surface(
        entry, params,
        latex=r"f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        value_xy=_himmelblau_value, grad_xy=_himmelblau_grad, hess_xy=_himmelblau_hess,
        torch_loss=_torch_xy("return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2"),
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        minima=HIMMELBLAU_MINIMA,
        saddles=HIMMELBLAU_SADDLES,
        default_starts=((0.0, 0.0), (-4.0, 0.0), (0.0, -4.5), (-0.3, -0.95)),
        min_value=0.0,
    )


def _beale_terms(x, y):
    y2 = y * y
    return y2, 1.5 - x + x * y, 2.25 - x + x * y2, 2.625 - x + x * y2 * y


def _beale_value(x, y, xp):
    _, t1, t2, t3 = _beale_terms(x, y)
    return t1 * t1 + t2 * t2 + t3 * t3


def _beale_grad(x, y, xp):
    y2, t1, t2, t3 = _beale_terms(x, y)
    gx = 2.0 * (t1 * (y - 1.0) + t2 * (y2 - 1.0) + t3 * (y2 * y - 1.0))
    gy = 2.0 * x * (t1 + 2.0 * y * t2 + 3.0 * y2 * t3)
    return gx, gy


def _beale_hess(x, y, xp):
    y2, t1, t2, t3 = _beale_terms(x, y)
    a1, a2, a3 = y - 1.0, y2 - 1.0, y2 * y - 1.0  # d t_i / dx
    b1, b2, b3 = x, 2.0 * x * y, 3.0 * x * y2  # d t_i / dy
    hxx = 2.0 * (a1 * a1 + a2 * a2 + a3 * a3)
    hxy = 2.0 * (a1 * b1 + t1 + a2 * b2 + 2.0 * y * t2 + a3 * b3 + 3.0 * y2 * t3)
    hyy = 2.0 * (b1 * b1 + b2 * b2 + 2.0 * x * t2 + b3 * b3 + 6.0 * x * y * t3)
    return hxx, hxy, hyy


# On the line x = 0 the y-derivative vanishes; (0, 1) is where the x-derivative does too.
BEALE_SADDLES = ((0.0, 1.0),) + critical_points(_beale_grad, ((0.100538, -2.644514),))


def _build_beale(entry: SurfaceEntry, params: dict[str, Any]) -> Surface:
    return Surface(
        entry, params,
        latex=r"f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
        value_xy=_beale_value, grad_xy=_beale_grad, hess_xy=_beale_hess,
        torch_loss=_torch_xy("return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2 + (2.625 - x + x * y ** 3) ** 2"),
        bounds=((-4.5, 4.5), (-4.5, 4.5)),
        minima=((3.0, 0.5),),
        saddles=BEALE_SADDLES,
        default_starts=((1.0, 1.5), (-2.0, -1.0), (-3.5, 4.0)),
        min_value=0.0,
    )


def _rastrigin(c):
    amplitude = c["A"]

    def value(x, y, xp):
        ripples = xp.cos(TWO_PI * x) + xp.cos(TWO_PI * y)
        return 2.0 * amplitude + x * x + y * y - amplitude * ripples

    def grad(x, y, xp):
        k = TWO_PI * amplitude
        return 2.0 * x + k * xp.sin(TWO_PI * x), 2.0 * y + k * xp.sin(TWO_PI * y)

    return value, grad


def _rastrigin_hess(amplitude):
    k = TWO_PI * TWO_PI * amplitude

    def hess(x, y, xp):
        return 2.0 + k * xp.cos(TWO_PI * x), 0.0 * x, 2.0 + k * xp.cos(TWO_PI * y)

    return hess


def _build_rastrigin(entry: SurfaceEntry, params: dict[str, Any]) -> Surface:
    amplitude = params["A"]
    return Surface(
        entry, params,
        latex=(
            rf"f(x, y) = {latex_number(2 * amplitude)} + x^2 + y^2"
            rf" - {latex_number(amplitude)}\,(\cos 2\pi x + \cos 2\pi y)"
        ),
        **with_formula(_rastrigin, {"A": amplitude}),
        hess_xy=_rastrigin_hess(amplitude),
        torch_loss=_torch_xy(f"A = {amplitude!r}",
                             "return 2 * A + x * x + y * y - A * (torch.cos(2 * math.pi * x) + torch.cos(2 * math.pi * y))",
                             imports=("import math",)),
        bounds=((-5.12, 5.12), (-5.12, 5.12)),
        minima=((0.0, 0.0),),
        default_starts=((-4.2, 4.6), (3.3, -2.7), (0.4, 0.6)),
        min_value=0.0,
    )


def _ackley_value(x, y, xp):
    r = xp.sqrt(0.5 * (x * x + y * y))
    ripples = xp.exp(0.5 * (xp.cos(TWO_PI * x) + xp.cos(TWO_PI * y)))
    return 20.0 + math.e - 20.0 * xp.exp(-0.2 * r) - ripples


def _ackley_grad(x, y, xp):
    r = xp.sqrt(0.5 * (x * x + y * y))
    # The cone term's gradient 2 e^{-0.2 r} (x, y) / r has no limit at the origin; take the
    # subgradient 0 there, dividing by 1 instead of 0 so that no NaN or warning appears.
    cone = 2.0 * xp.exp(-0.2 * r) / xp.where(r > 0.0, r, 1.0)
    ripples = math.pi * xp.exp(0.5 * (xp.cos(TWO_PI * x) + xp.cos(TWO_PI * y)))
    return cone * x + ripples * xp.sin(TWO_PI * x), cone * y + ripples * xp.sin(TWO_PI * y)


def _ackley_hess(x, y, xp):
    r2 = 0.5 * (x * x + y * y)
    r = xp.sqrt(r2)
    safe_r = xp.where(r > 0.0, r, 1.0)
    # the cone term is (20 - 20 e^{-0.2 r}): its gradient c(r) (x, y), c = 2 e^{-0.2 r} / r, and
    # its Hessian c I + c'(r) / (2 r) (x, y)(x, y)^T; unbounded at the origin, taken as 0 there
    decay = 2.0 * xp.exp(-0.2 * r)
    cone = xp.where(r > 0.0, decay / safe_r, 0.0)
    radial = xp.where(r > 0.0, -decay * (0.2 / safe_r + 1.0 / (safe_r * safe_r)) / (2.0 * safe_r), 0.0)
    ripples = math.pi * xp.exp(0.5 * (xp.cos(TWO_PI * x) + xp.cos(TWO_PI * y)))
    sx, sy = xp.sin(TWO_PI * x), xp.sin(TWO_PI * y)
    hxx = cone + radial * x * x + ripples * (TWO_PI * xp.cos(TWO_PI * x) - math.pi * sx * sx)
    hyy = cone + radial * y * y + ripples * (TWO_PI * xp.cos(TWO_PI * y) - math.pi * sy * sy)
    hxy = radial * x * y - math.pi * ripples * sx * sy
    return hxx, hxy, hyy


def _build_ackley(entry: SurfaceEntry, params: dict[str, Any]) -> Surface:
    return Surface(
        entry, params,
        latex=(
            r"f(x, y) = -20\, e^{-0.2 \sqrt{(x^2 + y^2)/2}}"
            r" - e^{(\cos 2\pi x + \cos 2\pi y)/2} + e + 20"
        ),
        value_xy=_ackley_value, grad_xy=_ackley_grad, hess_xy=_ackley_hess,
        torch_loss=_torch_xy("r = torch.sqrt(0.5 * (x * x + y * y))",
                             "ripples = torch.exp(0.5 * (torch.cos(2 * math.pi * x) + torch.cos(2 * math.pi * y)))",
                             "return 20 + math.e - 20 * torch.exp(-0.2 * r) - ripples", imports=("import math",)),
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        minima=((0.0, 0.0),),
        default_starts=((-4.0, 3.5), (3.0, -4.2), (1.2, -0.7)),
        min_value=0.0,
    )


def _camel_value(x, y, xp):
    x2, y2 = x * x, y * y
    return (4.0 - 2.1 * x2 + x2 * x2 / 3.0) * x2 + x * y + (4.0 * y2 - 4.0) * y2


def _camel_grad(x, y, xp):
    x2 = x * x
    return (8.0 - 8.4 * x2 + 2.0 * x2 * x2) * x + y, x + (16.0 * y * y - 8.0) * y


def _camel_hess(x, y, xp):
    x2 = x * x
    return 8.0 - 25.2 * x2 + 10.0 * x2 * x2, 0.0 * x + 1.0, 48.0 * y * y - 8.0


# Six-digit locations (the minima as published), refined here to double precision.
CAMEL_MINIMA = critical_points(
    _camel_grad,
    (
        (0.089842, -0.712656), (-0.089842, 0.712656),  # global
        (1.703607, -0.796084), (-1.703607, 0.796084),
        (1.607105, 0.568651), (-1.607105, -0.568651),
    ),
)
CAMEL_SADDLES = ((0.0, 0.0),) + critical_points(
    _camel_grad,
    (
        (1.109205, -0.768268), (-1.109205, 0.768268),
        (1.296070, 0.605084), (-1.296070, -0.605084),
        (1.638068, 0.228674), (-1.638068, -0.228674),
    ),
)


def _build_six_hump_camel(entry: SurfaceEntry, params: dict[str, Any]) -> Surface:
    return Surface(
        entry, params,
        latex=r"f(x, y) = \left(4 - 2.1 x^2 + \tfrac{x^4}{3}\right) x^2 + xy + (4y^2 - 4)\, y^2",
        value_xy=_camel_value, grad_xy=_camel_grad, hess_xy=_camel_hess,
        torch_loss=_torch_xy("return (4 - 2.1 * x ** 2 + x ** 4 / 3) * x ** 2 + x * y + (4 * y ** 2 - 4) * y ** 2"),
        bounds=((-3.0, 3.0), (-2.0, 2.0)),
        minima=CAMEL_MINIMA,
        saddles=CAMEL_SADDLES,
        default_starts=((-2.0, 1.5), (2.2, -1.2), (0.5, 1.0)),
        min_value=float(_camel_value(*CAMEL_MINIMA[0], None)),
    )


def _booth_value(x, y, xp):
    return (x + 2.0 * y - 7.0) ** 2 + (2.0 * x + y - 5.0) ** 2


def _booth_grad(x, y, xp):
    r1, r2 = x + 2.0 * y - 7.0, 2.0 * x + y - 5.0
    return 2.0 * r1 + 4.0 * r2, 4.0 * r1 + 2.0 * r2


def _build_booth(entry: SurfaceEntry, params: dict[str, Any]) -> Surface:
    return Surface(
        entry, params,
        latex=r"f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2",
        value_xy=_booth_value, grad_xy=_booth_grad, hess_xy=constant_hess(10.0, 8.0, 10.0),
        torch_loss=_torch_xy("return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2"),
        bounds=((-10.0, 10.0), (-10.0, 10.0)),
        minima=((1.0, 3.0),),
        default_starts=((-8.0, 8.0), (8.0, -6.0), (-8.0, -8.0)),
        min_value=0.0,
    )


ANALYTIC = (
    SurfaceEntry(
        "rosenbrock", "Rosenbrock",
        "A narrow curved valley: reaching it is easy, following it to the minimum is slow.",
        (
            Hyperparameter("a", 1.0, -10.0, 10.0, help="minimum at (a, a^2)"),
            Hyperparameter("b", 100.0, 0.0, 1e4, log=True, ui_low=1.0, ui_high=1000.0,
                           help="steepness of the valley walls"),
        ),
        log_levels=True, build=_build_rosenbrock,
    ),
    SurfaceEntry(
        "quadratic", "Ill-conditioned quadratic",
        "A tilted elliptic bowl: the larger the condition number, the more gradient descent zig-zags.",
        (
            Hyperparameter("condition", 10.0, 1.0, 1e4, log=True,
                           help="ratio of largest to smallest curvature (condition number)"),
            Hyperparameter("angle", 30.0, -90.0, 90.0, help="direction of the valley, degrees"),
        ),
        log_levels=False, build=_build_quadratic,
    ),
    SurfaceEntry(
        "saddle", "Saddle", "x² − y²: a saddle point that attracts along x and repels along y.",
        (), log_levels=False, build=_build_saddle,
    ),
    SurfaceEntry(
        "monkey_saddle", "Monkey saddle",
        "x³ − 3xy²: a flat, degenerate saddle with three descending valleys.",
        (), log_levels=False, build=_build_monkey_saddle,
    ),
    SurfaceEntry(
        "himmelblau", "Himmelblau",
        "Four equal minima: where an optimizer ends up depends on where it starts.",
        (), log_levels=True, build=_build_himmelblau,
    ),
    SurfaceEntry(
        "beale", "Beale",
        "Flat plateaus and steep ridges around a minimum at (3, 0.5).",
        (), log_levels=True, build=_build_beale,
    ),
    SurfaceEntry(
        "rastrigin", "Rastrigin",
        "A bowl covered in regularly spaced local minima.",
        (Hyperparameter("A", 10.0, 0.0, 50.0, help="height of the ripples"),),
        log_levels=False, build=_build_rastrigin,
    ),
    SurfaceEntry(
        "ackley", "Ackley",
        "A nearly flat, rippled plain around a deep funnel at the origin.",
        (), log_levels=False, build=_build_ackley,
    ),
    SurfaceEntry(
        "six_hump_camel", "Six-hump camel",
        "Six local minima, two of them global, separated by saddles.",
        (), log_levels=True, build=_build_six_hump_camel,
    ),
    SurfaceEntry(
        "booth", "Booth", "A gently tilted quadratic bowl with its minimum at (1, 3).",
        (), log_levels=False, build=_build_booth,
    ),
)
