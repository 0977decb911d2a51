"""MaskCurator engine: everything that computes. Qt-free, usable headless (CLI, scripts, tests)."""

__version__ = "0.1.0"
