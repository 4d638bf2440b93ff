"""Exact cosine k-nearest neighbours without an n x n matrix.

The reference builds a dense sample x sample distance matrix in every HOC round and every detection epoch
(50k x 50k floats, 10 GB, about a hundred times per run). All rounds draw from the same n points, so we build
ONE neighbour graph of the whole data set (each point's `L` most similar points, sorted) and read every
round's neighbours off it: the nearest neighbours of a point *within a sample* are the first sample members
in its full neighbour list. Rows whose list holds too few sample members fall back to a brute-force search
against that sample, so the result is exact, never approximate.

The graph is built in row blocks. On CPUs with native bfloat16 matmul the block products run in bf16 (about
4x the fp32 speed here) only to shortlist candidates; the shortlist is re-scored in fp32 and a row is
accepted only when a rigorous bound on the bf16 error proves that no point outside the shortlist can enter
its top `L` (otherwise the row is recomputed in fp32). Either way the neighbours and similarities returned
are the fp32 ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

_BF16_UNIT_ROUNDOFF = 2.0**-8  # bfloat16 keeps 8 significant bits
_FP32_UNIT_ROUNDOFF = 2.0**-24


@dataclass
class KnnGraph:
    """Each row's nearest neighbours (self excluded), most similar first."""

    indices: np.ndarray  # (n, L) int32 (int64 beyond 2^31 rows)
    sims: np.ndarray  # (n, L) float32 cosine similarities
    precision: str  # "fp32" or "bf16+fp32-rerank"
    certified_rows: int  # rows accepted on the bf16 fast path (first or second shortlist)
    recomputed_rows: int  # rows the certificate sent back to fp32
    retried_rows: int = 0  # rows that needed the second, longer bf16 shortlist

    @property
    def n_neighbors(self) -> int:
        return self.indices.shape[1]


def bf16_error_bound(dim: int) -> float:
    """Worst-case |bf16 block product - exact dot product| for any two vectors of norm <= 1.

    Rounding both inputs to bf16 moves each product term by at most (2u + u^2)|x_k y_k| and the terms sum to
    at most ||x|| ||y|| <= 1 (Cauchy-Schwarz); rounding the result to bf16 adds u |s| <= u (1+u)^2;
    fp32 accumulation adds gamma_d per side (the bf16 sum and our fp32 re-score), with a 25% margin.
    The certificate uses the tighter per-row `upper_bound_outside` instead.
    """
    u = _BF16_UNIT_ROUNDOFF
    gamma = dim * _FP32_UNIT_ROUNDOFF / (1.0 - dim * _FP32_UNIT_ROUNDOFF)
    return 2 * u + u * u + u * (1 + u) ** 2 + 2.5 * gamma * (1 + u) ** 2


def upper_bound_outside(lowest_kept: torch.Tensor, row_err: torch.Tensor, max_err: float, dim: int
                        ) -> torch.Tensor:
    """Upper bound on the fp32 similarity of any point whose bf16 product is <= `lowest_kept`.

    With x~ = x - e_x the bf16-rounded vectors, x~.y~ - x.y = -e_x.y~ - x.e_y, so by Cauchy-Schwarz the input
    rounding moves a product by at most ||e_x|| (1 + max||e||) + max||e|| (about 0.0035 for typical unit
    vectors, against 2u = 0.0078 in the worst case); the bf16 rounding of the result z is at most u|z|, so
    z <= lowest_kept / (1 -+ u); fp32 accumulation adds gamma_d on each side (bf16 sum, fp32 re-score).
    """
    u = _BF16_UNIT_ROUNDOFF
    gamma = dim * _FP32_UNIT_ROUNDOFF / (1.0 - dim * _FP32_UNIT_ROUNDOFF)
    z = torch.where(lowest_kept >= 0, lowest_kept / (1.0 - u), lowest_kept / (1.0 + u))
    return z + row_err * (1.0 + max_err) + max_err + 1.25 * gamma * ((1.0 + max_err) ** 2 + 1.0)


def bf16_matmul_is_fast(device: torch.device) -> bool:
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _mask_self(block: torch.Tensor, start: int) -> None:
    rows = torch.arange(block.shape[0], device=block.device)
    block[rows, rows + start] = float("-inf")


class _Bf16Shortlister:
    """bf16 products of row blocks, a shortlist per row, fp32 re-score and the certificate."""

    def __init__(self, xt: torch.Tensor, k: int, block_rows: int):
        self.xt, self.k, self.block_rows = xt, k, block_rows
        self.n, self.dim = xt.shape
        self.xb = xt.to(torch.bfloat16)
        self.row_err = torch.linalg.vector_norm(xt - self.xb.float(), dim=1)  # ||x - bf16(x)|| per row
        self.max_err = float(self.row_err.max())
        # preallocated: fresh 100+ MB tensors per block cost as much in page faults as the math
        self.prod = torch.empty((block_rows, self.n), dtype=torch.bfloat16, device=xt.device)

    def rows(self, rows: np.ndarray | slice, n_cand: int):
        """(indices (b, k), sims (b, k), certified (b,) bool) for a contiguous slice or an index array."""
        xt, k = self.xt, self.k
        if isinstance(rows, slice):
            b = rows.stop - rows.start
            approx = self.prod[:b]
            torch.mm(self.xb[rows], self.xb.T, out=approx)
            _mask_self(approx, rows.start)
            query = xt[rows]
            row_err = self.row_err[rows]
        else:
            sel = torch.as_tensor(rows, device=xt.device)
            b = rows.size
            approx = self.prod[:b]
            torch.mm(self.xb[sel], self.xb.T, out=approx)
            approx[torch.arange(b, device=xt.device), sel] = float("-inf")
            query = xt[sel]
            row_err = self.row_err[sel]
        # unsorted topk is ~30% cheaper; the shortlist is re-sorted by exact similarity below
        shortlist_vals, shortlist = approx.topk(n_cand, dim=1, sorted=False)
        cand = torch.index_select(xt, 0, shortlist.reshape(-1)).view(b, n_cand, self.dim)
        exact = torch.bmm(cand, query.unsqueeze(2)).squeeze(2)
        exact, order = exact.sort(dim=1, descending=True)
        shortlist = shortlist.gather(1, order)
        if n_cand >= self.n - 1:  # the shortlist is every other point
            ok = np.ones(b, dtype=bool)
        else:
            # Every point outside the shortlist has a bf16 score <= the shortlist's lowest, so its fp32
            # similarity is below upper_bound_outside; if that is below the k-th exact similarity of the
            # shortlist, no outside point can be a neighbour.
            lowest = shortlist_vals.min(dim=1).values.float()
            bound = upper_bound_outside(lowest, row_err, self.max_err, self.dim)
            ok = (bound < exact[:, k - 1]).cpu().numpy()
        return shortlist[:, :k].cpu().numpy(), exact[:, :k].cpu().numpy(), ok


def knn_graph(
    x: np.ndarray | torch.Tensor,
    n_neighbors: int,
    *,
    precision: str = "auto",
    block_rows: int = 1024,
    candidates: int | None = None,
    device: str | None = None,
    groups: np.ndarray | None = None,
) -> KnnGraph:
    """Exact top-`n_neighbors` cosine neighbours of every row of `x` (rows must be L2-normalised).

    precision: "fp32" (plain blocked fp32 products), "bf16" (bf16 shortlist + fp32 re-score + certificate)
    or "auto" (bf16 when the CPU has native bf16 matmul and the data is large and wide enough, n >= 8192
    and d >= 128, for the products to dominate the cost).
    candidates: shortlist length on the bf16 path (default n_neighbors + max(16, n_neighbors // 2)). Rows
    the certificate rejects get a second bf16 pass with a 4x longer shortlist, and those it still rejects
    an fp32 pass.
    groups: optional label per row; rows of one group are never each other's neighbours (answers to one
    instruction share its words, not their quality). Uses the fp32 path.
    """
    dev = torch.device(device or "cpu")
    xt = torch.as_tensor(x, dtype=torch.float32).to(dev).contiguous()
    n, dim = xt.shape
    if n < 2:
        raise ValueError(f"a neighbour graph needs at least 2 rows, got {n}")
    g = None if groups is None else torch.as_tensor(np.asarray(groups), device=dev)
    largest = 1 if g is None else int(torch.unique(g, return_counts=True)[1].max())
    k = int(min(n_neighbors, n - largest))
    if k < 1:
        raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors}")
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
    # deep neighbours (large k) sit where similarities are densely packed, so the margin grows with k
    n_cand = min(n - 1, candidates if candidates is not None else k + max(16, k // 2))
    if n_cand < k:
        raise ValueError(f"candidates ({candidates}) must be >= n_neighbors ({k})")
    # bf16 pays off only when the products dominate, i.e. for wide embeddings; topk costs the same either way
    use_bf16 = g is None and (precision == "bf16" or (
        precision == "auto" and bf16_matmul_is_fast(dev) and n >= 8192 and dim >= 128 and n_cand < n - 1))

    indices = np.empty((n, k), dtype=np.int32 if n < 2 ** 31 else np.int64)
    sims = np.empty((n, k), dtype=np.float32)
    certified = 0
    rows_fp32 = np.arange(n)
    block_rows = max(1, min(block_rows, n))
    with torch.inference_mode():
        if use_bf16:
            short = _Bf16Shortlister(xt, k, block_rows)
            rejected = []
            for start in range(0, n, block_rows):
                stop = min(n, start + block_rows)
                idx, val, ok = short.rows(slice(start, stop), n_cand)
                indices[start:stop], sims[start:stop] = idx, val
                certified += int(ok.sum())
                rejected.append(np.flatnonzero(~ok) + start)
            retry = np.concatenate(rejected)
            rows_fp32 = retry[:0]
            wide = min(n - 1, 4 * n_cand)
            for s in range(0, retry.size, block_rows):
                chunk = retry[s:s + block_rows]
                idx, val, ok = short.rows(chunk, wide)
                indices[chunk[ok]], sims[chunk[ok]] = idx[ok], val[ok]
                certified += int(ok.sum())
                rows_fp32 = np.concatenate([rows_fp32, chunk[~ok]])
            del short
        if rows_fp32.size:
            prod32 = torch.empty((min(block_rows, rows_fp32.size), n), dtype=torch.float32, device=dev)
            for s in range(0, rows_fp32.size, block_rows):
                chunk = rows_fp32[s:s + block_rows]
                rows = torch.as_tensor(chunk, device=dev)
                block = prod32[:chunk.size]
                if use_bf16:
                    torch.mm(xt[rows], xt.T, out=block)
                    block[torch.arange(chunk.size, device=dev), rows] = float("-inf")
                else:  # contiguous row range
                    torch.mm(xt[chunk[0]:chunk[-1] + 1], xt.T, out=block)
                    _mask_self(block, int(chunk[0]))
                if g is not None:
                    block.masked_fill_(g[torch.as_tensor(chunk, device=dev)][:, None] == g[None, :],
                                       float("-inf"))
                vals, idx = block.topk(k, dim=1, sorted=False)
                vals, order = vals.sort(dim=1, descending=True)
                indices[chunk] = idx.gather(1, order).cpu().numpy()
                sims[chunk] = vals.cpu().numpy()
    return KnnGraph(
        indices=indices,
        sims=sims,
        precision="bf16+fp32-rerank" if use_bf16 else "fp32",
        certified_rows=certified,
        recomputed_rows=int(rows_fp32.size) if use_bf16 else 0,
        retried_rows=int(retry.size) if use_bf16 else 0,
    )


def brute_force_in_sample(x: torch.Tensor, rows: np.ndarray, sample: np.ndarray, k: int,
                          member: np.ndarray | None = None, block_rows: int = 1024,
                          groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k neighbours of points `rows` among points `sample` (fp32, self and, with `groups`, its group
    excluded): global indices, sims.

    Few rows (the usual case) are compared with every point and non-members masked out, which avoids
    copying the sample's embeddings; many rows are compared with the gathered sample only."""
    out_idx = np.empty((rows.size, k), dtype=np.int64)
    out_sim = np.empty((rows.size, k), dtype=np.float32)
    n = x.shape[0]
    with torch.inference_mode():
        if rows.size * 8 < sample.size:
            if member is None:
                member = np.zeros(n, dtype=bool)
                member[sample] = True
            outside = torch.as_tensor(~member, device=x.device)
            for s in range(0, rows.size, block_rows):
                chunk = torch.as_tensor(rows[s:s + block_rows], device=x.device)
                block = x[chunk] @ x.T
                block.masked_fill_(outside, float("-inf"))
                block[torch.arange(chunk.numel(), device=x.device), chunk] = float("-inf")
                if groups is not None:
                    g = torch.as_tensor(np.asarray(groups), device=x.device)
                    block.masked_fill_(g[chunk][:, None] == g[None, :], float("-inf"))
                vals, idx = block.topk(k, dim=1)
                out_idx[s:s + chunk.numel()] = idx.cpu().numpy()
                out_sim[s:s + chunk.numel()] = vals.cpu().numpy()
            return out_idx, out_sim
        pool = x[torch.as_tensor(sample, device=x.device)]
        lookup = np.full(n, -1, dtype=np.int64)  # position of each point in the sample, -1 if absent
        lookup[sample] = np.arange(sample.size)
        for s in range(0, rows.size, block_rows):
            chunk = rows[s:s + block_rows]
            block = x[torch.as_tensor(chunk, device=x.device)] @ pool.T
            own = lookup[chunk]
            has = np.flatnonzero(own >= 0)
            if has.size:
                block[torch.as_tensor(has, device=x.device), torch.as_tensor(own[has], device=x.device)] = (
                    float("-inf"))
            if groups is not None:
                g = np.asarray(groups)
                same = torch.as_tensor(g[chunk][:, None] == g[sample][None, :], device=x.device)
                block.masked_fill_(same, float("-inf"))
            vals, idx = block.topk(k, dim=1)
            out_idx[s:s + chunk.size] = sample[idx.cpu().numpy()]
            out_sim[s:s + chunk.size] = vals.cpu().numpy()
    return out_idx, out_sim


def neighbors_in_sample(graph: KnnGraph, x: torch.Tensor, sample: np.ndarray, k: int,
                        member: np.ndarray | None = None, groups: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray, int]:
    """The k nearest neighbours of each sampled point among the OTHER sampled points (outside its group,
    with `groups`, as the graph was built).

    Returns (indices (m, k) global, sims (m, k), number of rows answered by brute force). Exact: rows whose
    graph list has fewer than k sample members are searched against the whole sample.
    """
    n = graph.indices.shape[0]
    if member is None:
        member = np.zeros(n, dtype=bool)
        member[sample] = True
    cand = graph.indices[sample]  # (m, L)
    in_sample = member[cand]
    rank = np.cumsum(in_sample, axis=1, dtype=np.int16)
    keep = in_sample & (rank <= k)  # each row's first k members, in neighbour order
    short = rank[:, -1] < k
    if short.any():  # placeholders so that every row selects exactly k; brute force overwrites them
        keep[short] = np.arange(cand.shape[1]) < k
    idx = cand[keep].reshape(-1, k).astype(np.int64)
    sims = graph.sims[sample][keep].reshape(-1, k)
    rows = np.flatnonzero(short)
    if rows.size:
        b_idx, b_sim = brute_force_in_sample(x, sample[rows], sample, k, member, groups=groups)
        idx[rows] = b_idx
        sims[rows] = b_sim
    return idx, sims, int(rows.size)


def _binom_cdf(x: int, trials: int, prob: float) -> float:
    """P(Binomial(trials, prob) <= x), summed in log space (no scipy import on the hot path)."""
    if x < 0:
        return 0.0
    if x >= trials:
        return 1.0
    lp, lq = math.log(prob), math.log1p(-prob)
    total = 0.0
    for j in range(x + 1):
        total += math.exp(math.lgamma(trials + 1) - math.lgamma(j + 1) - math.lgamma(trials - j + 1)
                          + j * lp + (trials - j) * lq)
    return min(total, 1.0)


def graph_size_for_sampling(n: int, sample_size: int, needed: int, *, tail: float = 1e-4,
                            cap: int = 128) -> int:
    """Graph width L such that a point misses `needed` in-sample neighbours among its first L with
    probability <= `tail` (each other point is in the sample with probability (m-1)/(n-1)). Rows that still
    fall short are answered by brute force, so this only trades memory for fallback work."""
    if n <= 1:
        return 1
    f = (sample_size - 1) / (n - 1)
    if f >= 1.0:
        return min(n - 1, needed)
    if f <= 0:
        return min(n - 1, cap)
    width = needed
    while width < cap and _binom_cdf(needed - 1, width, f) > tail:
        width += 1
    return int(min(n - 1, width))
