"""Rules that evaluate the loss within their step (L-BFGS) on the MNIST MLP: torch's step(closure).

A torch loop calls `optimizer.step(closure)` once per mini-batch, the closure recomputing that
batch's loss and gradient at the parameters the optimizer has moved to; L-BFGS calls it up to
max_eval times (its inner iterations and line search). `ClosureRule` does the same for every row
of a group at once: the rule (optimizers/lbfgs.py, vectorised over rows) gets a closure over the
step's mini-batch, evaluated by a model of the group's own rows, so no row waits for a Python
loop over the others and the rest of the shard is not evaluated again. It runs on the array code
(OptimizerInfo.array_only): the fused kernels do not take a closure.

Nothing here imports Streamlit or Plotly.
"""

from __future__ import annotations

from optimizers import transforms as tf
from optimizers.lbfgs import history_passes

from .mlp import make_model


def work_weight(config, batch_size: int) -> int:
    """How many configurations' work one step of `config` costs, in the unit of the pages' work cap
    (ui/mnist_limits.work: one compiled forward/backward and update). 1, except for a closure rule
    (L-BFGS): up to eval_slots forward/backward passes on the array code (about 11 compiled ones
    each, measured) and max_iter x history_size two-loop passes over the parameters (about
    60 / batch_size of a compiled step each: 0.4 ms at H = 64, against 2.2 ms for Adam's whole
    array-code step at batch 64). The default L-BFGS at batch 64: 2,095."""
    if config.info.closure_calls is None:
        return 1
    return 11 * config.info.closure_calls(config.hp) + -(-60 * history_passes(config.hp) // batch_size)


class ClosureRule:
    """One group of internal rows whose rule calls the loss as a closure (OptimizerInfo.closure_calls).

    The closure of a step: x [k, 1, P] -> (loss [k, 1, 1], gradient [k, 1, P]) on the step's
    mini-batch, in the model's dtype: the mean cross-entropy plus, with a subgradient L1 penalty,
    l1 * sum(|x|) (what a torch loop adding that term to the closure's loss returns), and the
    gradient after the run's transforms (the L1 subgradient, clipping), as every rule receives it.
    A proximal L1 penalty soft-thresholds the rows by lr * l1 after the step (optimizers.stepper).
    """

    def __init__(self, group, config, shard_model, chain, bounds: dict, device: str):
        """group: the rows (optimizers.stepper.Group); config: the TrainConfig; shard_model: the
        shard's model (its backend, dtype and compiled step kernels); chain, bounds: the run's
        gradient transforms and clip bounds."""
        self.group, self.chain, self.bounds = group, chain, bounds
        self.info, self.hp = group.config.info, group.config.hp
        rows = group.stop - group.start
        self.model = make_model(config.backend, config.hidden, rows, config.dtype, device,
                                getattr(shard_model, "kernels", None))
        self.l1 = self.model.asarray([[[group.config.l1_subgradient]]])  # [1, 1, 1]

    def init(self, p, xp) -> dict:
        """The rule's state for the group's rows p [k, 1, P]."""
        return self.info.init(p, self.hp, xp)

    def _penalised(self, x, loss, g, xp):
        """(loss [k, 1, 1] with the L1 term, g [k, 1, P] after the transforms) at x [k, 1, P]; loss: [k] NumPy."""
        loss = self.model.asarray(loss.reshape(-1, 1, 1))
        if self.group.config.l1_subgradient > 0:
            loss = loss + self.l1 * xp.sum(xp.abs(x), axis=-1, keepdims=True)
        g = tf.apply(self.chain, g, {**self.bounds, "l1": (x, self.l1)}, xp)
        return loss, xp.asarray(g, copy=True)  # the model reuses its gradient buffer; the rule keeps g

    def step(self, p, first: tuple, xb, yb, state: dict, t: int, lr, xp) -> tuple:
        """One step(closure) of every row: (p_new [k, 1, P], state_new, eff_lr [k, 1, P], n_evals [k, 1, 1]).

        p: the rows' parameters; first: (loss [k] NumPy, gradient [k, 1, P] before the transforms)
        at p, which the trainer computed with the whole shard (the step's first closure call, at
        p itself, returns them); xb, yb: the mini-batch as the models take it; t: 1-based; lr:
        [k, 1, 1]. n_evals: the closure calls of the step, the first included.
        """
        at_start = self._penalised(p, *first, xp)

        def closure(x):
            if x is p:
                return at_start
            loss, g = self.model.loss_grad(x, xb, yb)
            return self._penalised(x, loss, g, xp)

        p_new, state, eff = self.info.rule(p, None, state, t, lr, self.hp, xp, closure=closure, record_points=False)
        n_evals = state.pop("n_evals")
        strength = self.group.config.l1_proximal
        if strength > 0:
            p_new = tf.soft_threshold(p_new, lr * strength, xp)
        return p_new, state, eff, n_evals
