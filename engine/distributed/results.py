"""What a worker sends back to the driver: small, picklable, no full-resolution arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..proposals import Proposal
from ..store.rle import Rle, decode, encode


@dataclass(frozen=True)
class RleProposal:
    """A :class:`~engine.proposals.Proposal` with its mask as COCO RLE (~50x smaller than the bitmap)."""

    source: str
    label: int | None
    score: float
    name: str
    rle: Rle

    @classmethod
    def encode_all(cls, proposals: Sequence[Proposal], source: str | None = None) -> tuple["RleProposal", ...]:
        """Empty masks are dropped here, as ``ProjectStore.replace_proposals`` would drop them."""
        return tuple(cls(source or p.source, None if p.label is None else int(p.label), float(p.score),
                         str(p.name or ""), encode(p.mask)) for p in proposals if np.any(p.mask))

    def proposal(self) -> Proposal:
        return Proposal(decode(self.rle), self.source, label=self.label, score=self.score, name=self.name)


@dataclass(frozen=True)
class EntryResult:
    """A fresh analysis: the ``AnalysisStore`` entry (.npz bytes: eigenvectors on the patch grid, packed
    object mask, segment labels/features) and the proposals to store. ``entry`` is None when the worker
    could not serialise it (its temp disk full): the proposals are still stored."""

    image_id: int
    sha1: str
    entry: bytes | None
    proposals: tuple[RleProposal, ...]
    seconds: float


@dataclass(frozen=True)
class CachedHit:
    """The driver's analysis cache already holds this image's entry (same bytes, backbone, settings)."""

    image_id: int
    sha1: str


@dataclass(frozen=True)
class ImageFailed:
    """``unreadable``: the file cannot be decoded (marked in the store); otherwise the analysis failed."""

    image_id: int
    reason: str
    unreadable: bool


@dataclass(frozen=True)
class PredictResult:
    image_id: int
    proposals: tuple[RleProposal, ...]
