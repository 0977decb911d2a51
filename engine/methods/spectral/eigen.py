"""Eigenvectors of the normalised graph Laplacian, computed without dense shift-invert.

DSM solves the generalised problem (D − W) v = λ D v with ``eigsh(sigma=0)``, i.e. an O(N³) LU of a
singular matrix. The same pairs come from the *top* eigenvectors u of S = D^-1/2 W D^-1/2:
λ = 1 − μ and v = D^-1/2 u (see methods.md §1c: ~10× faster, identical Fiedler vector). We use

* ``torch.linalg.eigh`` (batched) on GPU and for tiny graphs, and
* ``scipy.sparse.linalg.eigsh(S, which="LA")`` (Lanczos, matrix-vector products only) on CPU at every
  practical size (measured 3-7x faster than dense ``eigh`` from 400 to 1200 nodes once BLAS runs on one
  thread, see :func:`engine.device.single_blas_thread`), falling back to dense ``eigh`` when ARPACK
  does not converge. Tolerance :data:`EIGSH_TOL` keeps |cos| > 0.999 to the dense vectors
  (tests/test_speed_paths.py).

Vectors are returned as v = D^-1/2 u scaled to unit length (D-orthogonal, the random-walk eigenvectors
DSM thresholds), with DSM's sign rule: the positive side of every non-trivial vector is the minority.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ...device import single_blas_thread

log = logging.getLogger(__name__)

#: Below this many nodes a dense eigh is cheaper than Lanczos on CPU (ARPACK's fixed overhead). It was
#: 600, but with one BLAS thread eigsh wins from ~100 nodes up (400 nodes: 21 ms vs 115 ms dense).
DENSE_MAX_NODES_CPU = 64

#: ARPACK relative tolerance of the Ritz values (eigenvectors are then accurate to |cos| > 0.999).
EIGSH_TOL = 1e-5


def normalised_affinity(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """S = D^-1/2 W D^-1/2 and d^-1/2 for (…, N, N) affinities (degrees clamped at 1e-12)."""
    d_isqrt = w.sum(-1).clamp_min(1e-12).rsqrt()
    return d_isqrt[..., :, None] * w * d_isqrt[..., None, :], d_isqrt


def _top_eigh(s: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest k eigenpairs of symmetric (B, N, N) → μ (B, k) descending, u (B, k, N)."""
    mu, u = torch.linalg.eigh(s)
    return mu[..., -k:].flip(-1), u[..., :, -k:].flip(-1).transpose(-1, -2)


def _top_eigsh(s: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.sparse.linalg import ArpackNoConvergence, eigsh

    n = s.shape[0]
    v0 = np.random.default_rng(seed).standard_normal(n).astype(s.dtype)
    try:
        with single_blas_thread():
            mu, u = eigsh(s, k=k, which="LA", v0=v0, tol=EIGSH_TOL, maxiter=20 * n)
    except ArpackNoConvergence:
        log.info("eigsh did not converge on %d nodes; using dense eigh", n)
        mu_t, u_t = _top_eigh(torch.from_numpy(s)[None], k)
        return mu_t[0].numpy(), u_t[0].numpy()
    order = np.argsort(-mu)
    return mu[order], u[:, order].T


def sign_fix(vectors: torch.Tensor) -> torch.Tensor:
    """DSM sign rule on (…, K, N): flip a vector when 0.5 < fraction(v > 0) < 1; index 0 made positive."""
    frac = (vectors > 0).float().mean(-1)
    flip = (frac > 0.5) & (frac < 1.0)
    flip[..., 0] = vectors[..., 0, :].sum(-1) < 0
    return torch.where(flip[..., None], -vectors, vectors)


def laplacian_eigs(w: torch.Tensor, k: int, solver: str = "auto", seed: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Smallest ``k`` eigenpairs of the normalised Laplacian of affinity ``w`` ((N, N) or (B, N, N)).

    Returns eigenvalues (…, k) ascending in [0, 2) and sign-fixed unit eigenvectors (…, k, N), on the
    device of ``w``. ``solver``: ``"auto"`` | ``"eigh"`` (torch, batched) | ``"eigsh"`` (scipy, CPU).
    """
    single = w.ndim == 2
    if single:
        w = w[None]
    if w.ndim != 3 or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"affinity must be (N, N) or (B, N, N), got {tuple(w.shape)}")
    n = w.shape[-1]
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= N, got k={k}, N={n}")
    if solver == "auto":
        solver = "eigh" if (w.device.type != "cpu" or n <= DENSE_MAX_NODES_CPU or k >= n - 1) else "eigsh"
    if solver not in ("eigh", "eigsh"):
        raise ValueError(f"unknown solver {solver!r}")
    s, d_isqrt = normalised_affinity(w.float())
    s = 0.5 * (s + s.transpose(-1, -2))  # exact symmetry for the solvers
    if solver == "eigh" or k >= n - 1:
        mu, u = _top_eigh(s, k)
    else:
        pairs = [_top_eigsh(si.cpu().numpy(), k, seed) for si in s]
        mu = torch.from_numpy(np.stack([p[0] for p in pairs])).to(w.device)
        u = torch.from_numpy(np.stack([p[1] for p in pairs])).to(w.device)
    values = (1.0 - mu.float()).clamp(0.0, 2.0 - 1e-6)
    v = u.float() * d_isqrt[..., None, :]
    v = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    v = sign_fix(v)
    if single:
        return values[0], v[0]
    return values, v
