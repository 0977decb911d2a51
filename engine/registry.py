"""One small generic registry for everything the engine can plug in (methods, export formats, evaluations).

Why: a family (a method, an export format, an evaluation) adds itself by *registering* an entry from
its own module, like timm's ``register_model``; nothing else lists families by name. A registry that
knows its home ``package`` imports every submodule of it (``pkgutil``) the first time it is read, so
a new module dropped into that package is found without touching any list.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownEntryError(LookupError):
    """``get(name)`` of a name nobody registered; the message lists what is available."""

    def __str__(self) -> str:  # LookupError would quote the message like a dict key
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Named entries of one kind (``entry.name`` is the key, unless ``key`` says otherwise).

    ``package``: dotted name whose submodules register the entries; imported lazily on first read.
    """

    def __init__(self, kind: str, package: str | None = None, key: Callable[[T], str] = lambda e: e.name):
        self.kind = kind
        self.package = package
        self._key = key
        self._entries: dict[str, T] = {}
        self._discovered = package is None
        self._lock = threading.RLock()

    # -- writing ---------------------------------------------------------------------------------

    def register(self, entry: T) -> T:
        """Add ``entry`` (returns it, so it also works as a decorator); a second entry of the same name
        replaces the first (a re-imported module, a user override)."""
        name = self._key(entry)
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} entries need a non-empty string name, got {name!r}")
        with self._lock:
            self._entries[name] = entry
        return entry

    __call__ = register

    # -- reading ---------------------------------------------------------------------------------

    def get(self, name: str) -> T:
        self.discover()
        try:
            return self._entries[name]
        except KeyError:
            available = ", ".join(self.names()) or "(none registered)"
            raise UnknownEntryError(f"unknown {self.kind} {name!r}; available: {available}") from None

    def names(self) -> tuple[str, ...]:
        self.discover()
        return tuple(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        self.discover()
        return sorted(self._entries.items())

    def values(self) -> list[T]:
        return [e for _, e in self.items()]

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    # -- discovery -------------------------------------------------------------------------------

    def discover(self) -> None:
        """Import every submodule / subpackage of ``package`` once (they register themselves)."""
        if self._discovered:
            return
        with self._lock:
            if self._discovered:
                return
            self._discovered = True  # set first: a submodule reading the registry must not recurse
            try:
                import_submodules(self.package)  # type: ignore[arg-type]
            except BaseException:
                self._discovered = False
                raise


def import_submodules(package: str) -> list[str]:
    """Import ``package`` and each of its direct submodules (private ``_x`` ones skipped); their names."""
    pkg = importlib.import_module(package)
    names = []
    for info in pkgutil.iter_modules(getattr(pkg, "__path__", []), prefix=f"{package}."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
    return names
