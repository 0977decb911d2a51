"""MaskCurator entry point.

``python main.py``                         opens the app on the bundled demo photos (resources/demo)
``python main.py FOLDER``                  opens the app on an image folder (its project lives in FOLDER/.maskcurator)
``python main.py --backbone NAME FOLDER``  … analysing with backbone NAME for this run (hub name, ``filters``,
                                           ``random_*``, or a checkpoint file); the stored preference is kept
``python main.py COMMAND ...``             runs the headless CLI (batch, train, predict, eval, export, tags, info)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent / "resources" / "demo"
COMMANDS = {"batch", "train", "predict", "eval", "export", "tags", "info", "import"}


def parse_app_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="main.py", description="MaskCurator: curate segmentation pseudo-labels. "
                                f"Subcommands ({', '.join(sorted(COMMANDS))}) run the headless CLI.")
    p.add_argument("folder", nargs="?", type=Path, default=DEMO_DIR, help="image folder (default: the demo photos)")
    p.add_argument("--backbone", help="backbone for this run: a hub name (dino_vits16 …), 'filters' where "
                   "available, random_vits16 (meaningless segments), or a checkpoint file")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and (argv[0] in COMMANDS or argv[0] in ("-q", "--quiet")):
        from engine.cli import main as cli_main

        return cli_main(argv)
    args = parse_app_args(argv)  # -h / bad arguments exit here with argparse's message
    from app.main_window import run_app

    return run_app(args.folder, backbone=args.backbone, device=args.device)


if __name__ == "__main__":
    sys.exit(main())
