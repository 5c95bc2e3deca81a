"""Teacher presets: a RunConfig each, with the story to tell while it runs."""

from __future__ import annotations

from dataclasses import dataclass

from optimizers import get_optimizer as opt
from theory.report import optimal_sgd

from .state import RunConfig, make_config


@dataclass(frozen=True)
class Preset:
    title: str
    config: RunConfig
    story: str  # Markdown: what to look at, and why it happens


PRESETS: dict[str, Preset] = {
    "momentum": Preset(
        "Momentum overshoots",
        make_config(
            "quadratic", {"condition": 10.0, "angle": 30.0}, start=(-2.5, 2.0), steps=80,
            optimizers=(opt("sgd", lr=0.3), opt("sgd", lr=0.3, momentum=0.6), opt("sgd", lr=0.3, momentum=0.9)),
        ),
        "A tilted bowl, three times the same learning rate. Plain SGD walks straight downhill and then "
        "crawls along the flat direction. Momentum keeps a running sum of past gradients, so it picks "
        "up speed along the flat direction — but it also carries that speed **past** the minimum: with "
        "momentum 0.9 the path spirals around the minimum before settling, and its loss curve "
        "oscillates. Momentum 0.6 is close to the sweet spot: faster than SGD, barely any overshoot. "
        "Scrub the playback and watch the dashed first-moment arrow keep pointing the old way after "
        "the path has passed the minimum.",
    ),
    "rosenbrock": Preset(
        "Adam vs SGD in the Rosenbrock valley",
        make_config(
            "rosenbrock", steps=1000,
            optimizers=(opt("sgd", lr=1e-3), opt("sgd", lr=1e-3, momentum=0.9), opt("adam", lr=1e-2),
                        opt("adam", lr=1e-1)),
        ),
        "Rosenbrock's banana valley is steep across and almost flat along. SGD's step is "
        "lr × gradient: it falls into the valley fast, then the gradient along the valley is tiny and "
        "so are its steps — after 1000 steps it is still far from (1, 1). Momentum accumulates those "
        "small gradients and gets there. Adam divides each coordinate's step by the running RMS of "
        "its gradient, so it moves at roughly lr per step whatever the slope: look at the effective "
        "learning rate plot, where Adam's grows by orders of magnitude along the flat valley floor "
        "while SGD's stays at lr.",
    ),
    "saddle": Preset(
        "Escaping a saddle",
        make_config(
            "saddle", start=(-2.0, 1e-3), steps=100,
            optimizers=(opt("sgd", lr=1e-2), opt("sgd", lr=1e-2, momentum=0.9), opt("rmsprop", lr=1e-2),
                        opt("adam", lr=1e-2)),
        ),
        "f = x² − y² curves up along x and down along y; the start is a hair (y = 0.001) off the ridge "
        "line. Plain gradient descent slides to the saddle at the centre and stalls there: its escape "
        "speed is proportional to y, which starts tiny, so it needs many steps to leave. Momentum "
        "builds speed and shoots out. RMSProp and Adam rescale the tiny y-gradient to a full-size step, "
        "so they turn away from the saddle almost at once. Compare the gradient-norm plot: SGD's dips "
        "to near zero at the saddle, where a tolerance-based stopping rule would wrongly declare victory. "
        "The theory panel times plain gradient descent: |y| grows by exactly 1 + 2·lr per step, so it reaches 1 "
        "after log(1/|y₀|)/log(1 + 2·lr) = 348.8 steps, at step 349 — past the 100 steps run here: raise the "
        "steps to 400 to watch it land there.",
    ),
    "conditioning": Preset(
        "Ill-conditioned valley: why adaptive methods help",
        make_config(
            "quadratic", {"condition": 100.0, "angle": 0.0}, start=(-2.5, 2.0), steps=200,
            optimizers=(opt("sgd", lr=1.0), opt("sgd", lr=1.0, momentum=0.9), opt("adagrad", lr=0.5),
                        opt("rmsprop", lr=0.05), opt("adam", lr=0.1)),
        ),
        "The bowl is 100 times steeper along y than along x (condition number 100). SGD's learning "
        "rate is capped by the steep direction (it diverges above 2), which leaves it crawling along "
        "the flat one: see its straight, slow approach along x. AdaGrad, RMSProp and Adam divide by "
        "each coordinate's own gradient scale, so both coordinates move at a similar pace. Now set "
        "the quadratic's *angle* to 45°: the valley no longer lines up with the axes, per-coordinate "
        "scaling cannot undo it, and the adaptive advantage shrinks. Momentum helps either way.",
    ),
    "divergence": Preset(
        "Too large a learning rate diverges",
        make_config(
            "quadratic", {"condition": 10.0, "angle": 30.0}, start=(-2.5, 2.0), steps=100,
            optimizers=(opt("sgd", lr=0.5), opt("sgd", lr=1.5), opt("sgd", lr=1.9), opt("sgd", lr=2.2)),
        ),
        "On a quadratic whose steepest curvature is 1, gradient descent is stable exactly when "
        "lr < 2 / 1 = 2. lr = 0.5 converges smoothly, 1.5 overshoots and zig-zags but converges, 1.9 "
        "zig-zags a long time, and 2.2 overshoots by more each step until it leaves every bound: the "
        "path stops at its last finite point with a red ✕, and the legend and the table say at which "
        "step it diverged. Try the lr slider of the last optimizer around 2.",
    ),
    "schedule": Preset(
        "The schedule matters",
        make_config(
            "quadratic", {"condition": 2.0, "angle": 30.0}, start=(-2.5, 2.0), steps=300, noise=1.0,
            optimizers=(opt("sgd", lr=0.5), opt("sgd", lr=0.5, schedule=("cosine", {"T_max": 300})),
                        opt("sgd", lr=0.5, schedule=("step", {"step_size": 100, "gamma": 0.1})),
                        opt("sgd", lr=0.5, schedule=("inverse_sqrt", {"alpha": 0.1}))),
        ),
        "Same optimizer, same noisy gradients (noise 1.0, identical for all four): only the learning "
        "rate schedule differs. With a constant lr the iterate never settles — each step adds noise "
        "of size lr, so the loss plateaus at a noise floor. Decaying the lr shrinks that noise: the "
        "step schedule drops the floor at steps 100 and 200, cosine annealing glides down to zero, "
        "inverse-sqrt decays more gently. Compare the loss plot's plateaus and the dotted scheduled "
        "lr lines in the effective-lr plot.",
    ),
    "optimal_momentum": Preset(
        "Optimal momentum: √κ instead of κ",
        make_config("quadratic", {"condition": 100.0, "angle": 30.0}, start=(-2.5, 2.0), steps=300,
                    optimizers=optimal_sgd(100.0)),
        "Gradient descent at its best learning rate, 2/(λ₁ + λₙ) ≈ 1.98, against heavy-ball momentum at its best "
        "lr ≈ 3.31 and β ≈ 0.669 (Goh, *Why Momentum Really Works*, 2017), on a bowl with condition number "
        "κ = 100. The theory panel puts each run's measured rate per step beside the closed form — 0.9802 for "
        "gradient descent, 0.8182 for momentum (measured a little above: its note says why): about 115 steps "
        "per tenfold reduction against 11.5, ten times fewer, and √100 = 10. Now raise the condition number to 1000 and press *Set the optimal values for this "
        "condition number*: gradient descent needs ten times more steps, momentum only √10 ≈ 3.2 times more.",
    ),
    "saddle_escape": Preset(
        "Timing a saddle escape",
        make_config("saddle", start=(-2.0, 1e-3), steps=100,
                    optimizers=(opt("sgd", lr=0.05), opt("sgd", lr=0.1), opt("sgd", lr=0.2))),
        "Plain gradient descent from a hair off the ridge line (y₀ = 0.001) at three learning rates. Along y "
        "the saddle repels: each step multiplies y by exactly 1 + 2·lr, so |y| reaches 1 after "
        "log(1/|y₀|)/log(1 + 2·lr) steps — 72.5, 37.9 and 20.5 here, so at steps 73, 38 and 21. The theory "
        "panel shows each measured step beside the formula. Move the start's y closer to 0 and the escape takes "
        "longer, but only logarithmically: each factor of 10 closer adds log 10/log(1 + 2·lr) steps. At y = 0 "
        "exactly gradient descent converges to the saddle (Lee et al. 2016: only starts on that line do). Past "
        "|y| = 10⁶ a path leaves the engine's bounds and is marked diverged: x² − y² has no minimum.",
    ),
    "saddle_noise": Preset(
        "Noise escapes the saddle (perturbed gradient descent)",
        make_config("saddle", start=(-2.0, 0.0), steps=120, noise=0.01,
                    optimizers=(opt("sgd", lr=0.05), opt("sgd", lr=0.1))),
        "Both runs start exactly on the ridge line y = 0, where noise-free gradient descent slides into the "
        "saddle and stays (press *Remove the gradient noise* in the theory panel to see it). With gradient noise "
        "σ = 0.01 every step kicks y a little, and the saddle multiplies each kick by 1 + 2·lr per step: y grows "
        "from the noise alone and the path leaves (Jin et al. 2017). When it leaves depends on the draw; the "
        "theory panel gives the step by which half of all noise draws have |y| ≥ 1, beside this draw's escape "
        "step. Change the noise seed for another draw, or lower the noise: ten times less costs only about "
        "log 10/log(1 + 2·lr) more steps.",
    ),
}
