"""Hyperparameters as kernel inputs: trace leaves that carry their values, and the value rows.

Numeric hyperparameters (pairs flattened, `betas[0]`, `betas[1]`) become leaves h0, h1, ... that
the kernel loads from its hpv argument, so one kernel serves every value; bools and strings stay
Python values, so the rules' branches on them resolve while tracing. The scheduled lr is a
kernel input of its own and is left out. The L1 penalty's strengths (not hyperparameters of the
rule: OptimizerConfig.l1_subgradient, .l1_proximal) are appended by the trajectory tracer under
their attribute names, where it traces the penalty (L1_INPUTS).
"""

from __future__ import annotations

from .tracer import leaf

L1_INPUTS = ("l1_subgradient", "l1_proximal")


def hp_leaves(hp: dict) -> tuple[dict, list[str]]:
    """(hp with leaves for numbers, the flattened names in kernel order)."""
    leaves, names = {}, []
    for name, value in hp.items():
        if name == "lr":
            continue
        if isinstance(value, (bool, str)):
            leaves[name] = value
        elif isinstance(value, tuple):
            items = []
            for i, v in enumerate(value):
                names.append(f"{name}[{i}]")
                items.append(leaf(f"h{len(names) - 1}", float(v)))
            leaves[name] = tuple(items)
        else:
            names.append(name)
            leaves[name] = leaf(f"h{len(names) - 1}", float(value))
    return leaves, names


def hp_values(config, hp_names) -> list[float]:
    """The numeric hyperparameters of `config` in kernel order (pairs flattened)."""
    hp = config.hp
    out = []
    for name in hp_names:
        base, _, index = name.partition("[")
        value = getattr(config, base) if base in L1_INPUTS else hp[base]
        out.append(float(value[int(index[:-1])]) if index else float(value))
    return out
