"""Teacher presets: a RunConfig each, with the story to tell while it runs."""

from __future__ import annotations

from dataclasses import dataclass

from optimizers import get_optimizer as opt

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
        "to near zero at the saddle, where a tolerance-based stopping rule would wrongly declare victory.",
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
}
