"""Compiled pieces of the NumPy MLP's forward/backward pass: the parts between the matrix products.

The products run in BLAS, which releases the GIL, so the two training threads (one per core,
see the trainer's shards) overlap there. The elementwise work between them (bias and ReLU,
softmax and cross-entropy, the ReLU mask, copying the used rows of W1 in and the gradient rows
out) is many small NumPy calls that mostly hold the GIL, and the two threads queue for it. Here
each is one Numba loop that releases the GIL, doing the same operations in the same order as
the MLP's array code: float32 stays float32 (`a.dtype.type(x)` types a constant like the
arrays), the loss sums in float64.

This file is ordinary Python, but it is loaded through the kernel cache (kernels.mlp_steps), so
that a worker process compiles it once per machine; importing it directly compiles it here.
"""

import math

import numpy as np
from numba import njit

OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


def _signatures(template: str) -> list[str]:
    return [template.replace("F", dtype) for dtype in ("float32", "float64")]


@njit(_signatures("void(F[:, :, ::1], F[:, :, :])"), **OPTIONS)
def bias_relu(a1, b1):
    """a1 [K, B, H] <- maximum(a1 + b1, 0) (NaN stays NaN, as np.maximum)."""
    zero = a1.dtype.type(0.0)
    for k in range(a1.shape[0]):
        for b in range(a1.shape[1]):
            for h in range(a1.shape[2]):
                v = a1[k, b, h] + b1[k, 0, h]
                a1[k, b, h] = v if not v < 0 else zero


@njit(_signatures("void(F[:, :, ::1], F[:, :, :], int64[::1], float64[::1], F[:, :, :])"), **OPTIONS)
def softmax_xent(z, b2, y, loss, gb2):
    """z [K, B, C] (a1 @ W2) <- (softmax(z + b2) - onehot(y)) / B; loss [K] <- mean cross-entropy
    (float64); gb2 [K, 1, C] <- the sum of the new z over the batch."""
    n_k, n_b, n_c = z.shape
    typed = z.dtype.type
    inv, zero, one = typed(1.0 / n_b), typed(0.0), typed(1.0)
    for k in range(n_k):
        total = 0.0
        for c in range(n_c):
            gb2[k, 0, c] = 0
        for b in range(n_b):
            top = z[k, b, 0] + b2[k, 0, 0]
            for c in range(n_c):
                v = z[k, b, c] + b2[k, 0, c]
                z[k, b, c] = v
                if v > top or v != v:
                    top = v
            s = zero
            for c in range(n_c):
                v = z[k, b, c] - top
                z[k, b, c] = v
                s += math.exp(v)
            total += math.log(np.float64(s)) - np.float64(z[k, b, y[b]])
            for c in range(n_c):
                e = math.exp(z[k, b, c]) / s
                if c == y[b]:
                    e -= one
                e *= inv
                z[k, b, c] = e
                gb2[k, 0, c] += e
        loss[k] = total / n_b


@njit(_signatures("void(F[:, :, ::1], F[:, :, ::1], F[:, :, :])"), **OPTIONS)
def relu_grad(da1, a1, gb1):
    """da1 [K, B, H] <- da1 * (a1 > 0); gb1 [K, 1, H] <- its sum over the batch."""
    zero, one = da1.dtype.type(0.0), da1.dtype.type(1.0)
    for k in range(da1.shape[0]):
        for h in range(da1.shape[2]):
            gb1[k, 0, h] = 0
        for b in range(da1.shape[1]):
            for h in range(da1.shape[2]):
                v = da1[k, b, h] * (one if a1[k, b, h] > 0 else zero)
                da1[k, b, h] = v
                gb1[k, 0, h] += v


@njit(_signatures("void(F[:, :, :], int64[::1], F[:, :, ::1])"), cache=True, nogil=True)
def take_rows(w, rows, out):
    """out [K, n, H] <- w[:, rows] (w [K, R, H])."""
    for k in range(w.shape[0]):
        for i in range(rows.shape[0]):
            out[k, i, :] = w[k, rows[i], :]


@njit(_signatures("void(F[:, :, ::1], int64[::1], int64[::1], F[:, :, :])"), cache=True, nogil=True)
def put_rows(src, rows, others, out):
    """out[:, rows] <- src [K, n, H]; out[:, others] <- 0."""
    for k in range(out.shape[0]):
        for i in range(rows.shape[0]):
            out[k, rows[i], :] = src[k, i, :]
        for i in range(others.shape[0]):
            out[k, others[i], :] = 0
