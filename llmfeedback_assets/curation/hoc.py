"""HOC: estimate the score transition matrix T and the clean prior p from k-NN label consensus.

With clusterable embeddings a point and its two nearest neighbours share one clean score, and their noisy
scores are independent draws from that score's row of T. So the frequency of the noisy triple
(own, 1st neighbour, 2nd neighbour) is  c3[a,b,c] = sum_i p_i T_ia T_ib T_ic , and similarly for pairs
(c2) and singles (c1). We measure c1, c2, c3 on random samples and solve for T (row-softmax) and p (softmax)
by gradient descent on ||c1-c1(T,p)|| + ||c2-c2(T,p)|| + ||c3-c3(T,p)|| (Zhu, Song & Liu, ICML 2021).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def consensus_counts(own: np.ndarray, first: np.ndarray, second: np.ndarray, num_classes: int) -> np.ndarray:
    """Frequencies of the (own, first neighbour, second neighbour) label triples: a (K, K, K) array."""
    k = num_classes
    code = (own.astype(np.int64) * k + first) * k + second
    counts = np.bincount(code, minlength=k ** 3).astype(np.float64)
    return counts.reshape(k, k, k) / max(own.size, 1)


def consensus_from_triples(c3: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First-, second- and third-order consensus from the triple frequencies."""
    return c3.sum(axis=(1, 2)), c3.sum(axis=2), c3


def analytical_consensus(T: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consensus implied by T and p: c1 = p T, c2 = T' diag(p) T, c3[a,b,c] = sum_i p_i T_ia T_ib T_ic."""
    c1 = p @ T
    pt = p[:, None] * T
    c2 = T.T @ pt
    c3 = np.einsum("ia,ib,ic->abc", pt, T, T, optimize=False)
    return c1, c2, c3


def _softmax(z: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def hoc_loss_and_grad(t_logits: np.ndarray, p_logits: np.ndarray,
                      c_est) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss sum_j ||c_est_j - c_j(T, p)|| and its gradient w.r.t. the softmax logits of T (rows) and p.

    Written out by hand: the problem is tiny (K <= ~10), and autograd's per-op overhead made 1501 steps
    take tens of seconds."""
    T = _softmax(t_logits, 1)
    p = _softmax(p_logits, 0)
    ana = analytical_consensus(T, p)
    loss = 0.0
    g = []
    for est, a in zip(c_est, ana, strict=True):
        diff = est - a
        norm = float(np.sqrt(np.sum(diff * diff)))
        loss += norm
        g.append(-diff / norm if norm > 0 else np.zeros_like(diff))
    g1, g2, g3 = g
    # d/dT[i, a]
    g2s = g2 + g2.T
    g3s = g3 + g3.transpose(1, 0, 2) + g3.transpose(2, 0, 1)
    d_t = p[:, None] * (g1[None, :] + T @ g2s.T + np.einsum("abc,ib,ic->ia", g3s, T, T, optimize=False))
    # d/dp[i]
    d_p = T @ g1 + np.einsum("ab,ia,ib->i", g2, T, T, optimize=False) + np.einsum(
        "abc,ia,ib,ic->i", g3, T, T, T, optimize=False)
    # back through the softmaxes
    d_tl = T * (d_t - np.sum(d_t * T, axis=1, keepdims=True))
    d_pl = p * (d_p - np.sum(d_p * p))
    return loss, d_tl, d_pl


@dataclass
class HocSolution:
    transition_matrix: np.ndarray  # (K, K) rows: clean score, columns: noisy score
    clean_prior: np.ndarray  # (K,)
    loss: float
    steps: int


def solve_hoc(c1: np.ndarray, c2: np.ndarray, c3: np.ndarray, *, steps: int = 1501, lr: float = 0.1,
              polish_steps: int = 500, seed: int = 0) -> HocSolution:
    """Fit T and p to measured consensus. Published defaults: Adam (torch's defaults: betas 0.9/0.999,
    eps 1e-8), lr 0.1, 1501 steps, T initialised to softmax(5I - 1) (diagonally dominant, which picks the
    label permutation where most scores are right), p to softmax(1/K + U[0, 0.1)). Runs in float64 and
    returns the iterate with the lowest loss.

    `polish_steps` (our addition) continue Adam with the rate decaying geometrically to lr/1000: at a
    constant lr 0.1 the iterates circle the optimum of this non-smooth loss (a sum of norms) and stall
    about 0.006 away from it in T even on exact consensus; the tail removes that solver error."""
    k = c1.shape[0]
    gen = torch.Generator().manual_seed(int(seed))
    params = [5.0 * np.eye(k) - 1.0,
              np.full(k, 1.0 / k) + torch.rand(k, generator=gen, dtype=torch.float32).double().numpy() * 0.1]
    c_est = tuple(np.asarray(c, dtype=np.float64) for c in (c1, c2, c3))
    b1, b2, eps = 0.9, 0.999, 1e-8
    m = [np.zeros_like(q) for q in params]
    v = [np.zeros_like(q) for q in params]
    best = (float("inf"), params[0].copy(), params[1].copy())
    decay = 1e-3 ** (1.0 / max(polish_steps, 1))
    rate = lr
    for step in range(1, steps + polish_steps + 1):
        loss, *grads = hoc_loss_and_grad(params[0], params[1], c_est)
        if loss < best[0]:
            best = (loss, params[0].copy(), params[1].copy())
        if step > steps:
            rate *= decay
        for q, gq, mq, vq in zip(params, grads, m, v, strict=True):
            mq *= b1
            mq += (1 - b1) * gq
            vq *= b2
            vq += (1 - b2) * gq * gq
            q -= rate * (mq / (1 - b1 ** step)) / (np.sqrt(vq / (1 - b2 ** step)) + eps)
    return HocSolution(transition_matrix=_softmax(best[1], 1), clean_prior=_softmax(best[2], 0),
                       loss=best[0], steps=steps + polish_steps)
