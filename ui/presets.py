"""Teacher presets: a RunConfig each, with the story to tell while it runs.

A story is written as prose and Claims (ui.claims): each claim is the words that state
something about the run, with the measure that makes it true, so the story and its checks are
written once, in place. tests/test_presets.py runs every preset's config and checks every claim.
"""

from __future__ import annotations

from dataclasses import dataclass

from optimizers import get_optimizer as opt
from theory.report import optimal_sgd

from . import i18n
from .claims import Claim
from .state import RunConfig, make_config


@dataclass(frozen=True)
class Preset:
    title: str
    config: RunConfig
    story: str  # Markdown: what to look at, and why it happens
    claims: tuple[Claim, ...] = ()  # what the story says about the run, checked by the tests


def preset(title: str, config: RunConfig, *parts: str | Claim) -> Preset:
    """A Preset whose story is `parts` joined, claims by their text."""
    story = "".join(p.text if isinstance(p, Claim) else p for p in parts)
    return Preset(title, config, story, tuple(p for p in parts if isinstance(p, Claim)))


def preset_text(name: str) -> tuple[str, str]:
    """(title, story) of PRESETS[name] in the session's language."""
    p = PRESETS[name]
    return i18n.preset(name, p.title, p.story, p.claims)


C = Claim

PRESETS: dict[str, Preset] = {
    "momentum": preset(
        "Momentum overshoots",
        make_config(
            "quadratic", {"condition": 10.0, "angle": 30.0}, start=(-2.5, 2.0), steps=80,
            optimizers=(opt("sgd", lr=0.3), opt("sgd", lr=0.3, momentum=0.6), opt("sgd", lr=0.3, momentum=0.9)),
        ),
        "A tilted bowl, ten times flatter along its valley than across it, and three times the same learning "
        "rate. Plain SGD walks downhill and then crawls along the flat valley: after 80 steps it is still ",
        C("final_distance", 0, "≈", "0.10", "0.10"),
        " from the minimum, ", C("overshoot_along", 0, "<", 0.0, "never having passed it"),
        ". Momentum keeps a running sum of past gradients, so it picks up speed along the valley — and carries "
        "that speed past the minimum: with momentum 0.9 the path ",
        C("overshoot_along", 2, "≈", "0.38", "overshoots along the valley by 38 % of its starting distance"),
        ", ", C("crossings_along", 2, "=", 4, "passes the minimum along the valley 4 times"),
        " as it spirals in, and its loss curve oscillates: ",
        C("loss_rises", 2, "=", 36, "the loss rises at 36 of the 80 steps"),
        ". Momentum 0.6 ", C("overshoot_along", 1, "<", 0.0, "never passes the minimum along the valley"),
        " (", C("crossings_across", 1, "=", 15, "it zig-zags across it 15 times"), ") and ends ", C("final_distance", 1, "≈", "0.00093", "0.00093"),
        " from it, against ", C("final_distance", 2, "≈", "0.012", "0.012"),
        " for momentum 0.9. The theory panel's closed-form rates per step: ",
        C("rate_formula", 0, "≈", "0.97", "0.97"), " for SGD, ", C("rate_formula", 1, "≈", "0.912", "0.912"),
        " with momentum 0.6, ", C("rate_formula", 2, "≈", "0.949", "0.949"),
        " with 0.9; the best momentum for this lr is near 0.7: set it and the rate becomes ",
        C("rate_formula", 1, "≈", "0.837", "0.837", variant=(
            ("optimizers", (opt("sgd", lr=0.3), opt("sgd", lr=0.3, momentum=0.7))),)),
        ".",
    ),
    "rosenbrock": preset(
        "Adam vs SGD in the Rosenbrock valley",
        make_config(
            "rosenbrock", steps=1000,
            optimizers=(opt("sgd", lr=1e-3), opt("sgd", lr=1e-3, momentum=0.9), opt("adam", lr=1e-2),
                        opt("adam", lr=1e-1)),
        ),
        "Rosenbrock's banana valley is steep across and almost flat along. SGD's step is lr × gradient: it falls "
        "into the valley fast, then the gradient along the valley is tiny and so are its steps — after 1000 steps "
        "it is still ", C("final_distance", 0, "≈", "1.75", "1.75"),
        " from the minimum (1, 1). Momentum accumulates those small gradients and gets there: it ends ",
        C("final_distance", 1, "≈", "0.017", "0.017"),
        " from it. Adam divides each coordinate's step by the running RMS of its gradient, so no step is much "
        "longer than lr, however steep the slope: at lr 0.01 ",
        C("max_step", 2, "<", 0.0142, "no step is longer than 0.0142"), " (lr·√2), and along the valley floor "
        "they are shorter still (the median step is ", C("median_step", 2, "≈", "0.0030", "0.0030"),
        "). After 1000 steps Adam at lr 0.01 is still ", C("final_distance", 2, "≈", "1.36", "1.36"),
        " from the minimum, far behind SGD with momentum; at lr 0.1 it ends ",
        C("final_distance", 3, "≈", "0.0018", "0.0018"),
        " away, closest of the four. All four take the same road, down into the valley and along its floor, so "
        "on the map a path drawn over an earlier one is dashed and the one under it shows through the gaps: "
        "Adam's lr 0.1 path ", C("map_dashed", 3, "=", 1, "is dashed"), " and momentum's ",
        C("hidden_by", 1, "=", 3, "runs under it"), " to the minimum, while SGD and Adam at lr 0.01 stop "
        "part of the way, at their end markers. On the effective learning rate plot, Adam's (lr 0.1) ",
        C("eff_lr_growth_x", 3, "≈", "20", "grows about 20-fold"), " in x and ",
        C("eff_lr_growth_y", 3, "≈", "18", "18-fold"), " in y as the gradients shrink along the valley floor, "
        "while SGD's ", C("eff_lr_growth_x", 0, "=", 1, "stays at lr"), ".",
    ),
    "saddle": preset(
        "Escaping a saddle",
        make_config(
            "saddle", start=(-2.0, 1e-3), steps=100,
            optimizers=(opt("sgd", lr=1e-2), opt("sgd", lr=1e-2, momentum=0.9), opt("rmsprop", lr=1e-2),
                        opt("adam", lr=1e-2)),
        ),
        "f = x² − y² curves up along x and down along y; the start is a hair (y = 0.001) off the ridge line. "
        "Plain gradient descent slides towards the saddle at the centre: its escape speed is proportional to y, "
        "which starts tiny, so ", C("escape_step", 0, "=", -1, "it does not leave within the 100 steps"),
        " — its gradient norm falls steadily to ", C("final_grad_norm", 0, "≈", "0.53", "0.53"),
        " at step 100, ", C("min_grad_norm", 0, ">", 0.5, "never below 0.5"),
        ", as it keeps heading in. Momentum builds speed along x, ",
        C("min_distance", 1, "<", 0.03, "passes within 0.03 of the saddle"), " and is pushed out along y: "
        "its gradient norm ", C("min_grad_norm", 1, "<", 0.05, "dips to 0.045"), " at step ",
        C("argmin_grad_norm", 1, "=", 14, "14"),
        " as it crosses the centre — where a tolerance-based stopping rule would wrongly declare victory — and it "
        "reaches |y| = 1 at step ", C("escape_step", 1, "=", 72, "72"),
        ". RMSProp's running average of squared gradients starts at zero, so its first step is ten times lr "
        "in each coordinate (", C("max_step", 2, "≈", "0.141", "0.141"), " long, its longest): it turns away and reaches |y| = 1 "
        "at step ", C("escape_step", 2, "=", 17, "17"),
        ". Adam moves each coordinate by about lr per step whatever the gradient, so y grows steadily from the "
        "start and passes 1 at step ", C("escape_step", 3, "=", 77, "77"),
        "; it never comes near the saddle (", C("min_distance", 3, ">", 1.6, "always more than 1.6 away"),
        "). The theory panel times plain gradient descent: |y| grows by exactly 1 + 2·lr per step, so it reaches 1 "
        "after log(1/|y₀|)/log(1 + 2·lr) = ", C("escape_formula", 0, "≈", "348.8", "348.8"),
        " steps — raise the steps to 400 to watch it land at step ",
        C("escape_step", 0, "=", 349, "349", variant=(("steps", 400),)), ".",
    ),
    "conditioning": preset(
        "Ill-conditioned valley: why adaptive methods help",
        make_config(
            "quadratic", {"condition": 100.0, "angle": 0.0}, start=(-2.5, 2.0), steps=200,
            optimizers=(opt("sgd", lr=1.0), opt("sgd", lr=1.0, momentum=0.9), opt("adagrad", lr=0.5),
                        opt("rmsprop", lr=0.05), opt("adam", lr=0.1)),
        ),
        "The bowl is 100 times steeper along y than along x (condition number 100). SGD's learning rate is capped "
        "by the steep direction: above lr = 2 its steps across the valley grow (at lr = 2.5 it ",
        C("diverged_at", 0, "=", 33, "diverges at step 33", variant=(("optimizers", (opt("sgd", lr=2.5),)),)),
        "), which leaves it crawling along the flat one: a straight, slow approach along x that ends ",
        C("final_distance", 0, "≈", "0.33", "0.33"),
        " from the minimum after 200 steps. AdaGrad, RMSProp and Adam divide by each coordinate's own gradient "
        "scale, so both coordinates move at a similar pace: AdaGrad ", C("converged_at", 2, "=", 131,
                                                                        "converges at step 131"),
        ", RMSProp ", C("converged_at", 3, "=", 100, "at step 100"), ", Adam ends ",
        C("final_distance", 4, "≈", "6.0e-5", "6.0·10⁻⁵"), " away. Momentum gets there too (",
        C("final_distance", 1, "≈", "3.6e-5", "3.6·10⁻⁵"),
        "). Now set the quadratic's *angle* to 45°: the valley no longer lines up with the axes, per-coordinate "
        "scaling cannot undo it, and AdaGrad, RMSProp and Adam end ",
        C("final_distance", 2, "≈", "0.28", "0.28", variant=(("angle", 45.0),)), ", ",
        C("final_distance", 3, "≈", "0.23", "0.23", variant=(("angle", 45.0),)), " and ",
        C("final_distance", 4, "≈", "0.26", "0.26", variant=(("angle", 45.0),)),
        " from the minimum, while momentum still gets within ",
        C("final_distance", 1, "≈", "5.5e-5", "5.5·10⁻⁵", variant=(("angle", 45.0),)), ".",
    ),
    "divergence": preset(
        "Too large a learning rate diverges",
        make_config(
            "quadratic", {"condition": 10.0, "angle": 30.0}, start=(-2.5, 2.0), steps=100,
            optimizers=(opt("sgd", lr=0.5), opt("sgd", lr=1.5), opt("sgd", lr=1.9), opt("sgd", lr=2.2)),
        ),
        "On a quadratic whose steepest curvature is 1, gradient descent is stable exactly when lr < 2 / 1 = 2. "
        "lr = 0.5 converges smoothly (", C("loss_rises", 0, "=", 0, "its loss never rises"), "; it ends ",
        C("final_distance", 0, "≈", "0.0069", "0.0069"), " from the minimum). lr = 1.5 overshoots and ",
        C("crossings_across", 1, "=", 87, "zig-zags across the valley at 87 of its 100 steps"),
        ", but its larger steps also move faster along the valley: it ends closest, ",
        C("final_distance", 1, "≈", "1.0e-7", "1.0·10⁻⁷"), " away. lr = 1.9 ",
        C("crossings_across", 2, "=", 100, "zig-zags at every step"), " and ends ",
        C("final_distance", 2, "≈", "7.9e-5", "7.9·10⁻⁵"),
        " away. lr = 2.2 overshoots by more each step: its loss ",
        C("loss_rises", 3, "=", 70, "rises at every step"), ", to ", C("last_loss", 3, "≈", "5.4e11", "5.4·10¹¹"),
        " at its last finite point (", C("last_x", 3, "≈", "-5.2e5", "−5.2·10⁵"), ", ",
        C("last_y", 3, "≈", "9.0e5", "9.0·10⁵"),
        "), and the next one leaves the engine's bounds: the legend and the results table say it ",
        C("diverged_at", 3, "=", 71, "diverged at step 71"), ". Try the lr slider of the last optimizer around 2.",
    ),
    "schedule": preset(
        "The schedule matters",
        make_config(
            "quadratic", {"condition": 2.0, "angle": 30.0}, swarm=40, steps=300, noise=0.3,
            optimizers=(opt("sgd", lr=0.5), opt("sgd", lr=0.5, schedule=("step", {"step_size": 100, "gamma": 0.2})),
                        opt("sgd", lr=0.5, schedule=("cosine", {"T_max": 300}))),
        ),
        "Same optimizer from 40 random starts, same noisy gradients for all three (noise 0.3): only the learning "
        "rate schedule differs. Read the loss chart under the results table: each line is the median over the 40 "
        "starts, smoothed over 10 steps (the chart says so; the raw medians stay faint behind, and the *Smoothing* "
        "control above the charts changes the span). With a constant lr the iterates never settle — each step adds "
        "noise of size lr — so the loss stops falling at a noise floor: its median is ",
        C("median_loss", 0, "≈", "0.020", "0.020", steps=(50, 100)), " over steps 50–100 and still ",
        C("median_loss", 0, "≈", "0.019", "0.019", steps=(250, 300)),
        " over steps 250–300. The floor is proportional to the lr: the step schedule divides the lr by 5 at "
        "steps 100 and 200, and the loss walks down a staircase, about fivefold a step: to ",
        C("median_loss", 1, "≈", "0.0033", "0.0033", steps=(150, 200)), " over steps 150–200 and ",
        C("median_loss", 1, "≈", "0.00072", "0.00072", steps=(250, 300)),
        " over steps 250–300, a level for each lr, below where cosine ends. Cosine annealing glides down instead, with no plateau: ",
        C("median_loss", 2, "≈", "0.015", "0.015", steps=(50, 100)), ", then ",
        C("median_loss", 2, "≈", "0.0069", "0.0069", steps=(150, 200)), ", then ",
        C("median_loss", 2, "≈", "0.0012", "0.0012", steps=(250, 300)),
        " over the same windows. The dotted lines of the effective-lr plot show the three schedules.",
    ),
    "optimal_momentum": preset(
        "Optimal momentum: √κ instead of κ",
        make_config("quadratic", {"condition": 100.0, "angle": 30.0}, start=(-2.5, 2.0), steps=300,
                    optimizers=optimal_sgd(100.0)),
        "Gradient descent at its best learning rate, 2/(λ₁ + λₙ) ≈ 1.98, against heavy-ball momentum at its best "
        "lr ≈ 3.31 and β ≈ 0.669 (Goh, *Why Momentum Really Works*, 2017), on a bowl with condition number "
        "κ = 100. The theory panel puts each run's measured rate per step beside the closed form — ",
        C("rate_formula", 0, "≈", "0.9802", "0.9802"), " for gradient descent (",
        C("rate_measured", 0, "≈", "0.9802", "measured 0.9802"), "), ", C("rate_formula", 1, "≈", "0.8182", "0.8182"),
        " for momentum (", C("rate_measured", 1, "≈", "0.827", "measured 0.827"),
        ", a little above: its note says why): about ", C("steps_per_decade_formula", 0, "≈", "115", "115"),
        " steps per tenfold reduction against ", C("steps_per_decade_formula", 1, "≈", "11.5", "11.5"),
        ", ten times fewer, and √100 = 10. Momentum ", C("converged_at", 1, "=", 125, "converges at step 125"),
        "; gradient descent is still ", C("final_distance", 0, "≈", "0.0079", "0.0079"),
        " away at step 300. Now raise the condition number to 1000 and press *Set the optimal values for this "
        "condition number*: gradient descent then needs ",
        C("steps_per_decade_formula", 0, "≈", "1151", "1151", variant=(
            ("condition", 1000.0), ("optimizers", optimal_sgd(1000.0)))),
        " steps per tenfold reduction, ten times more, momentum ",
        C("steps_per_decade_formula", 1, "≈", "36.4", "36.4", variant=(
            ("condition", 1000.0), ("optimizers", optimal_sgd(1000.0)))),
        ", only √10 ≈ 3.2 times more.",
    ),
    "saddle_escape": preset(
        "Timing a saddle escape",
        make_config("saddle", start=(-2.0, 1e-3), steps=100,
                    optimizers=(opt("sgd", lr=0.05), opt("sgd", lr=0.1), opt("sgd", lr=0.2))),
        "Plain gradient descent from a hair off the ridge line (y₀ = 0.001) at three learning rates. Along y "
        "the saddle repels: each step multiplies y by exactly 1 + 2·lr, so |y| reaches 1 after "
        "log(1/|y₀|)/log(1 + 2·lr) steps — ", C("escape_formula", 0, "≈", "72.5", "72.5"), ", ",
        C("escape_formula", 1, "≈", "37.9", "37.9"), " and ", C("escape_formula", 2, "≈", "20.5", "20.5"),
        " here, and the runs get there at steps ", C("escape_step", 0, "=", 73, "73"), ", ",
        C("escape_step", 1, "=", 38, "38"), " and ", C("escape_step", 2, "=", 21, "21"),
        ". The theory panel shows each measured step beside the formula. Move the start's y closer to 0 and the "
        "escape takes longer, but only logarithmically: each factor of 10 closer adds log 10/log(1 + 2·lr) steps "
        "(y₀ = 0.0001 at lr 0.1: step ", C("escape_step", 1, "=", 51, "51", variant=(("start", (-2.0, 1e-4)),)),
        "). At y = 0 exactly gradient descent converges to the saddle (Lee et al. 2016: only starts on that line "
        "do). Past |y| = 10⁶ a path leaves the engine's bounds and is marked diverged — x² − y² has no minimum: the "
        "lr 0.2 run ", C("diverged_at", 2, "=", 62, "diverges at step 62"), ".",
    ),
    "saddle_noise": preset(
        "Noise escapes the saddle (perturbed gradient descent)",
        make_config("saddle", start=(-2.0, 0.0), steps=120, noise=0.01,
                    optimizers=(opt("sgd", lr=0.05), opt("sgd", lr=0.1))),
        "Both runs start exactly on the ridge line y = 0, where noise-free gradient descent slides into the saddle "
        "and stays (press *Remove the gradient noise* in the theory panel to see it: ",
        C("escape_step", 0, "=", -1, "neither leaves", variant=(("noise", 0.0),)),
        "). With gradient noise σ = 0.01 every step kicks y a little, and the saddle multiplies each kick by "
        "1 + 2·lr per step: y grows from the noise alone and the path leaves (Jin et al. 2017). When it leaves "
        "depends on the draw: in this one |y| reaches 1 at step ", C("escape_step", 0, "=", 78, "78"),
        " at lr 0.05 and ", C("escape_step", 1, "=", 45, "45"),
        " at lr 0.1, where the theory panel says half of all noise draws are past |y| = 1 by steps ",
        C("escape_median", 0, "=", 76, "76"), " and ", C("escape_median", 1, "=", 38, "38"),
        ". Change the noise seed for another draw, or lower the noise: ten times less costs only about "
        "log 10/log(1 + 2·lr) more steps.",
    ),
    "edge_of_stability": preset(
        "Edge of stability in the Rosenbrock valley",
        make_config("rosenbrock", start=(0.0, 0.0), steps=5000,
                    optimizers=(opt("sgd", lr=0.0015), opt("sgd", lr=0.0022))),
        "Plain gradient descent is stable at a minimum only if lr·λ_max < 2, where λ_max is the Hessian's "
        "largest eigenvalue there; at Rosenbrock's minimum (1, 1) that is lr·λ_max = ",
        C("sharpness_lr_at_minimum", 0, "≈", "1.50", "1.50"), " for lr 0.0015 and ",
        C("sharpness_lr_at_minimum", 1, "≈", "2.20", "2.20"),
        " for lr 0.0022. Walking up the valley, both runs meet a sharper and sharper valley floor (progressive "
        "sharpening): at lr 0.0015, lr·λ_max along the path rises from ",
        C("sharpness_lr_min", 0, "≈", "0.30", "0.30", steps=(0, 0)), " at the start to ",
        C("sharpness_lr_max", 0, "≈", "1.47", "1.47"), ", the loss ",
        C("loss_rises", 0, "=", 0, "falls at every one of the 5000 steps"), " and the run ends ",
        C("final_distance", 0, "≈", "0.034", "0.034"),
        " from the minimum. At lr 0.0022 the minimum is too sharp to reach: the loss falls until step ",
        C("first_loss_rise", 1, "=", 2535, "2535"), "; from there lr·λ_max hovers between ",
        C("sharpness_lr_min", 1, "≈", "1.88", "1.88", steps=(4000, 5000)), " and ",
        C("sharpness_lr_max", 1, "≈", "2.12", "2.12", steps=(4000, 5000)),
        " (over the last 1000 steps), the path bounces across the valley and the loss ",
        C("loss_rises", 1, "=", 562, "rises at 562 of the last 1000 steps", steps=(4000, 5000)),
        " without diverging (", C("diverged_at", 1, "=", -1, "it never does"), "); it was ",
        C("min_distance", 1, "≈", "0.073", "0.073", steps=(2000, 5000)),
        " from the minimum at its closest and ends ", C("final_distance", 1, "≈", "0.13", "0.13"),
        " away. This is the edge of stability (Cohen et al. 2021) in two dimensions: the page does not plot "
        "λ_max (these numbers come from the Hessian along the path), but the loss plot shows the change from "
        "steady descent to oscillation. The MNIST page's edge-of-stability section shows the same in a network.",
    ),
}
