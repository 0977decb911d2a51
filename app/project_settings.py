"""What a project remembers for the app: the analysis settings (Preferences) and the view state
(layers, brush radius, window geometry), in the project store's settings table.

Why here: the window only says *when* to load and save; the keys and the environment overrides used
by tests and screenshots (``MASKCURATOR_BACKBONE`` / ``MASKCURATOR_MAX_SIDE``) live in one place.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, fields, replace

from engine.curation import CurationSettings

from .settings_dialog import BACKBONE_ENV

log = logging.getLogger(__name__)

MAX_SIDE_ENV = "MASKCURATOR_MAX_SIDE"


def load_preferences(store, default_backbone: str | None = None) -> CurationSettings:
    """The persisted analysis settings; what the project never stored comes from the defaults, and the
    backbone from the user's preference (``default_backbone``): a new project inherits it."""
    base = CurationSettings()
    if default_backbone:
        base = replace(base, backbone=default_backbone)
    values = {}
    for f in fields(base):
        default = getattr(base, f.name)
        try:
            values[f.name] = type(default)(store.get_setting(f"analysis.{f.name}", default))
        except (TypeError, ValueError):
            values[f.name] = default
    try:
        return CurationSettings(**values)
    except ValueError as exc:  # a hand-edited / older project: fall back rather than refuse to open
        log.warning("stored analysis settings ignored: %s", exc)
        return base


def with_environment(settings: CurationSettings, backbone: str | None = None) -> CurationSettings:
    """What runs: the preferences with this run's overrides (``main.py --backbone``, the environment);
    never persisted."""
    if backbone or os.environ.get(BACKBONE_ENV):
        settings = replace(settings, backbone=backbone or os.environ[BACKBONE_ENV])
    if os.environ.get(MAX_SIDE_ENV):
        settings = replace(settings, max_side=int(os.environ[MAX_SIDE_ENV]))
    return settings


def save_preferences(store, settings: CurationSettings) -> None:
    for name, value in asdict(settings).items():
        store.set_setting(f"analysis.{name}", value)


def restore_view(store, canvas) -> bytes | None:
    """Layer states and brush radius onto the canvas; returns the saved window geometry (hex) if any."""
    states = store.get_setting("view.layers", {}) or {}
    for name, layer in canvas.layers.items():
        state = states.get(name)
        if isinstance(state, dict):
            try:
                layer.restore(state)
            except (TypeError, ValueError):
                log.warning("view state of layer %s ignored", name)
    canvas.set_brush_radius(float(store.get_setting("view.brush_radius", canvas.brush_radius)))
    geometry = store.get_setting("view.geometry")
    return bytes.fromhex(geometry) if geometry else None


def last_image(store) -> int | None:
    """The image the project was closed on, if it still exists (reopen where the user left off)."""
    image_id = store.get_setting("view.last_image")
    try:
        return int(image_id) if image_id is not None and store.image(int(image_id)) else None
    except Exception:  # deleted / never stored
        return None


def save_view(store, canvas, geometry_hex: str, current_image: int | None = None) -> None:
    if current_image is not None:
        store.set_setting("view.last_image", int(current_image))
    store.set_setting("view.layers", {name: layer.state() for name, layer in canvas.layers.items()})
    store.set_setting("view.brush_radius", canvas.brush_radius)
    store.set_setting("view.geometry", geometry_hex)
