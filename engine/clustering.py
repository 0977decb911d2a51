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


class StreamingKMeans:
    """Mini-batch k-means (Sculley 2010) fed chunk by chunk: memory is one chunk plus the centres.

    Why: dataset-wide clustering of segment features must not hold every analysis (or every feature
    row) of a 100k-image dataset at once; a distributed batch (issue 15) can also merge chunks from
    many workers in one process. Usage::

        km = StreamingKMeans(k=20, cosine=True, seed=0)
        for chunk in chunks():           # (n_i, D) float arrays / tensors, any n_i >= 1
            km.partial_fit(chunk)
        labels = km.predict(chunk)       # (n_i,) int64 nearest centre

    The first ``init_size`` rows are buffered and clustered with k-means++ + Lloyd
    (:func:`batched_kmeans`) to initialise; every later chunk moves each centre towards the mean of
    its assigned rows with the per-centre rate 1/count (so a centre converges to the running mean of
    everything assigned to it). ``cosine``: rows and centres L2-normalised (spherical k-means), like
    :func:`kmeans` with ``cosine=True``. Call :meth:`finalize` (or :meth:`predict`) after the last
    chunk when the data had fewer than ``init_size`` rows. Deterministic for a given seed and chunk
    order. Centres live on ``device``; chunks may be numpy or torch on any device.
    """

    def __init__(self, k: int, cosine: bool = False, seed: int = 0, device: torch.device | str = "cpu",
                 init_size: int | None = None, init_iters: int = 50):
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = int(k)
        self.cosine = cosine
        self.seed = int(seed)
        self.device = torch.device(device)
        self.init_size = int(init_size) if init_size is not None else max(20 * self.k, 4096)
        self.init_iters = init_iters
        self.centers: torch.Tensor | None = None  # (k, D) float32
        self.counts: torch.Tensor | None = None  # (k,) rows absorbed per centre
        self.n_seen = 0
        self._buffer: list[torch.Tensor] = []
        self._buffered = 0

    def _prep(self, chunk) -> torch.Tensor:
        x = torch.as_tensor(chunk).to(self.device, torch.float32)
        if x.ndim != 2:
            raise ValueError(f"expected (n, D) rows, got {tuple(x.shape)}")
        return F.normalize(x, dim=-1) if self.cosine else x

    def _assign(self, x: torch.Tensor) -> torch.Tensor:
        return _distances(x[None], self.centers[None], self.cosine)[0].argmin(dim=-1)

    def _initialise(self) -> None:
        x = torch.cat(self._buffer)
        self._buffer, self._buffered = [], 0
        k = min(self.k, len(x))
        labels, centers = batched_kmeans(x[None], k, iters=self.init_iters, seed=self.seed, cosine=self.cosine)
        if k < self.k:  # fewer rows than clusters so far: duplicate centres (they separate later)
            centers = torch.cat([centers, centers[:, :1].expand(-1, self.k - k, -1)], dim=1)
        self.centers = centers[0].contiguous()
        self.counts = torch.bincount(labels[0], minlength=self.k).to(torch.float32)

    def partial_fit(self, chunk) -> "StreamingKMeans":
        x = self._prep(chunk)
        if len(x) == 0:
            return self
        self.n_seen += len(x)
        if self.centers is None:
            self._buffer.append(x)
            self._buffered += len(x)
            if self._buffered >= self.init_size:
                self._initialise()
            return self
        labels = self._assign(x)
        counts = torch.bincount(labels, minlength=self.k).to(torch.float32)
        sums = torch.zeros_like(self.centers).index_add_(0, labels, x)
        hit = counts > 0
        self.counts = self.counts + counts
        rate = torch.where(hit, counts / self.counts.clamp_min(1.0), torch.zeros_like(counts))[:, None]
        means = sums / counts.clamp_min(1.0)[:, None]
        new = self.centers + rate * (means - self.centers)
        self.centers = F.normalize(new, dim=-1) if self.cosine else new
        return self

    def finalize(self) -> "StreamingKMeans":
        """Initialise from the buffered rows if fewer than ``init_size`` arrived (small datasets)."""
        if self.centers is None:
            if not self._buffer:
                raise ValueError("StreamingKMeans: no rows seen")
            self._initialise()
        return self

    def predict(self, chunk) -> torch.Tensor:
        """(n,) int64 index of the nearest centre, on ``device``."""
        self.finalize()
        x = self._prep(chunk)
        if len(x) == 0:
            return torch.zeros(0, dtype=torch.long, device=self.device)
        return self._assign(x)

    def inertia(self, chunk) -> float:
        """Sum of distances (squared Euclidean, or 1 − cos) of ``chunk`` to their nearest centres."""
        self.finalize()
        x = self._prep(chunk)
        return float(_distances(x[None], self.centers[None], self.cosine)[0].min(dim=-1).values.sum())
