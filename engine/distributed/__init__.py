"""Batch analysis and prediction on a Ray cluster (``main.py batch|predict ... --ray [ADDRESS]``).

Why a package of its own: Ray is an optional extra (``pip install -e .[cluster]``). Nothing outside
this package imports it, and this package imports ``ray`` only inside functions, so the default
single-machine path never loads it. Workers are Ray actors that load the backbone / predictor once and
send back compact results (RLE proposals, the analysis-cache entry bytes); the driver is the only
writer to the SQLite store and the analysis cache. Layer: above ``engine.curation`` (it reuses its
jobs' rules), below ``engine.cli``.
"""

from .results import CachedHit, EntryResult, ImageFailed, PredictResult, RleProposal

__all__ = ["CachedHit", "EntryResult", "ImageFailed", "PredictResult", "RleProposal"]
