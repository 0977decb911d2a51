"""What to review next in a large folder: the filmstrip's filters, sort orders, progress and jump-by-name.

Why here (Qt-free) and as store queries: with 50,000 images the app must not walk records in Python
to filter or sort; every view is one SQL query (:meth:`ProjectStore.image_ids`) that the app and the
CLI can both use, and the rules (an unreadable image is not "to do": there is nothing to curate on it;
"least certain first" = lowest open-proposal score) live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

#: filter name -> (menu title, ``ProjectStore.image_ids`` conditions).
STATUS_FILTERS: dict[str, tuple[str, dict]] = {
    "all": ("All images", {}),
    "todo": ("To do", {"status": "todo", "unreadable": False}),
    "accepted": ("Accepted", {"status": "accepted"}),
    "rejected": ("Rejected", {"status": "rejected"}),
    "unreadable": ("Unreadable", {"unreadable": True}),
}

#: sort name -> (menu title, ``ProjectStore.image_ids`` order).
SORT_ORDERS: dict[str, tuple[str, str]] = {
    "name": ("File name", "path"),
    "confidence": ("Least certain first", "score"),
    "added": ("Order added", "id"),
}


@dataclass(frozen=True)
class ReviewView:
    """One filmstrip view: a status filter, optionally only images with open proposals from ``source``."""

    filter: str = "all"
    source: str | None = None
    sort: str = "name"

    def __post_init__(self) -> None:
        if self.filter not in STATUS_FILTERS:
            raise ValueError(f"unknown review filter {self.filter!r}; expected one of {list(STATUS_FILTERS)}")
        if self.sort not in SORT_ORDERS:
            raise ValueError(f"unknown sort order {self.sort!r}; expected one of {list(SORT_ORDERS)}")

    @property
    def is_filtered(self) -> bool:
        return self.filter != "all" or self.source is not None


@dataclass(frozen=True)
class ReviewProgress:
    """Counts for the "N of M reviewed" line; reviewed = accepted + rejected."""

    total: int
    accepted: int
    rejected: int
    todo: int
    unreadable: int

    @property
    def reviewed(self) -> int:
        return self.accepted + self.rejected

    @property
    def text(self) -> str:
        return f"{self.reviewed:,} of {self.total:,} reviewed"

    @property
    def detail(self) -> str:
        return (f"{self.accepted:,} accepted, {self.rejected:,} rejected, {self.todo:,} to do"
                + (f", {self.unreadable:,} unreadable" if self.unreadable else ""))


def review_progress(store) -> ReviewProgress:
    c = store.status_counts()
    return ReviewProgress(c["total"], c["accepted"], c["rejected"], c["todo"], c["unreadable"])


def ordered_ids(store, view: ReviewView) -> list[int]:
    """Image ids of ``view`` in its sort order (one query)."""
    return store.image_ids(**STATUS_FILTERS[view.filter][1], proposal_source=view.source,
                           order=SORT_ORDERS[view.sort][1])


def find_images(store, text: str, limit: int = 20) -> list[int]:
    """Images whose name matches ``text`` (case-insensitive), best first: the exact relative path or file
    name, then names starting with it, then names containing it (each group by path)."""
    needle = text.strip().replace("\\", "/").casefold()
    if not needle:
        return []
    ranked: list[tuple[int, str, int]] = []
    # SQL narrows first (LIKE ignores the case of ASCII letters only: other names are compared here)
    rows = store.image_names(contains=needle if needle.isascii() else None)
    for image_id, rel in rows:
        path = rel.casefold()
        name = path.rpartition("/")[2]
        if needle in (path, name):
            rank = 0
        elif name.startswith(needle) or path.startswith(needle):
            rank = 1
        elif needle in path:
            rank = 2
        else:
            continue
        ranked.append((rank, path, image_id))
    ranked.sort()
    return [i for _, _, i in ranked[:limit]]


__all__ = ["SORT_ORDERS", "STATUS_FILTERS", "ReviewProgress", "ReviewView", "find_images", "ordered_ids",
           "review_progress"]
