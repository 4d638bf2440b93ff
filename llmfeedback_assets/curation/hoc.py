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


def analytical_consensus(T: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    c1 = p @ T
    c2 = torch.einsum("i,ia,ib->ab", p, T, T)
    c3 = torch.einsum("i,ia,ib,ic->abc", p, T, T, T)
    return c1, c2, c3


@dataclass
class HocSolution:
    transition_matrix: np.ndarray  # (K, K) rows: clean score, columns: noisy score
    clean_prior: np.ndarray  # (K,)
    loss: float
    steps: int


def solve_hoc(c1: np.ndarray, c2: np.ndarray, c3: np.ndarray, *, steps: int = 1501, lr: float = 0.1,
              seed: int = 0) -> HocSolution:
    """Fit T and p to measured consensus. Published defaults: Adam, lr 0.1, 1501 steps, T initialised
    to softmax(5I - 1) (diagonally dominant, which picks the label permutation where most scores are right),
    p to softmax(1/K + U[0, 0.1)). Runs in float64 and returns the iterate with the lowest loss."""
    k = c1.shape[0]
    gen = torch.Generator().manual_seed(int(seed))
    t_logits = (5.0 * torch.eye(k, dtype=torch.float64) - 1.0).requires_grad_(True)
    p_logits = (torch.ones(k, dtype=torch.float64) / k
                + torch.rand(k, generator=gen, dtype=torch.float32).double() * 0.1).requires_grad_(True)
    target = [torch.as_tensor(c, dtype=torch.float64) for c in (c1, c2, c3)]
    opt = torch.optim.Adam([t_logits, p_logits], lr=lr)
    best = (float("inf"), None, None)
    for _ in range(steps):
        opt.zero_grad()
        T = torch.softmax(t_logits, dim=1)
        p = torch.softmax(p_logits, dim=0)
        loss = sum(torch.linalg.norm(est - ana) for est, ana in zip(target, analytical_consensus(T, p),
                                                                       strict=True))
        value = float(loss)
        if value < best[0]:
            best = (value, T.detach().clone(), p.detach().clone())
        loss.backward()
        opt.step()
    return HocSolution(transition_matrix=best[1].numpy(), clean_prior=best[2].numpy(), loss=best[0],
                       steps=steps)
