"""K-means in torch, so dataset-wide clustering runs on the same device as the features.

DSM clusters per-image eigenvectors and dataset-wide segment features; STEGO's cluster probe is a
cosine k-means. scikit-learn's KMeans is CPU-only and single-problem; these run many small problems
at once (``batched_kmeans``) on GPU when present. Initialisation is k-means++ with a fixed seed, so
results are reproducible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _distances(x: torch.Tensor, centers: torch.Tensor, cosine: bool) -> torch.Tensor:
    """(B, N, k) distances; for cosine, 1 - cos (inputs are already normalised)."""
    if cosine:
        return 1.0 - x @ centers.transpose(1, 2)
    return torch.cdist(x, centers).pow(2)


def _plus_plus_init(x: torch.Tensor, k: int, generator: torch.Generator, cosine: bool) -> torch.Tensor:
    b, n, _ = x.shape
    batch = torch.arange(b, device=x.device)
    first = torch.randint(n, (b,), generator=generator, device="cpu").to(x.device)
    centers = [x[batch, first]]
    closest = _distances(x, centers[0][:, None], cosine)[..., 0].clamp_min(0)
    for _ in range(1, k):
        weights = closest + 1e-12
        pick = torch.multinomial(weights.cpu().double(), 1, generator=generator)[:, 0].to(x.device)
        c = x[batch, pick]
        centers.append(c)
        closest = torch.minimum(closest, _distances(x, c[:, None], cosine)[..., 0].clamp_min(0))
    return torch.stack(centers, dim=1)


def batched_kmeans(x: torch.Tensor, k: int, iters: int = 50, seed: int = 0,
                   cosine: bool = False, tol: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster B independent point sets at once.

    ``x`` is (B, N, D). Returns ``labels`` (B, N) int64 and ``centers`` (B, k, D). With ``cosine`` the
    points and centres are L2-normalised (spherical k-means). ``k`` larger than N is clamped to N.
    Empty clusters are re-seeded at the point farthest from its centre, so every label is used when
    N >= k.
    """
    if x.ndim != 3:
        raise ValueError(f"expected (B, N, D), got {tuple(x.shape)}")
    b, n, _ = x.shape
    if n == 0:
        raise ValueError("cannot cluster zero points")
    k = max(1, min(int(k), n))
    x = x.float()
    if cosine:
        x = F.normalize(x, dim=-1)
    generator = torch.Generator().manual_seed(int(seed))
    centers = _plus_plus_init(x, k, generator, cosine)
    batch = torch.arange(b, device=x.device)
    labels = torch.zeros(b, n, dtype=torch.long, device=x.device)
    for _ in range(max(1, iters)):
        dist = _distances(x, centers, cosine)
        labels = dist.argmin(dim=-1)
        one_hot = F.one_hot(labels, k).to(x.dtype)  # (B, N, k)
        counts = one_hot.sum(dim=1)  # (B, k)
        sums = one_hot.transpose(1, 2) @ x  # (B, k, D)
        new = sums / counts.clamp_min(1)[..., None]
        empty = counts == 0
        if empty.any():
            far = dist.gather(-1, labels[..., None])[..., 0].argmax(dim=1)  # (B,)
            new = torch.where(empty[..., None], x[batch, far][:, None, :], new)
        if cosine:
            new = F.normalize(new, dim=-1)
        shift = (new - centers).abs().max()
        centers = new
        if shift < tol:
            break
    labels = _distances(x, centers, cosine).argmin(dim=-1)
    return labels, centers


def kmeans(x: torch.Tensor, k: int, iters: int = 50, seed: int = 0,
           cosine: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """K-means of one point set ``x`` (N, D) -> (labels (N,), centers (k, D))."""
    if x.ndim != 2:
        raise ValueError(f"expected (N, D), got {tuple(x.shape)}")
    labels, centers = batched_kmeans(x[None], k, iters=iters, seed=seed, cosine=cosine)
    return labels[0], centers[0]
