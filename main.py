"""MaskCurator entry point.

``python main.py``            opens the app on the bundled demo photos (resources/demo)
``python main.py FOLDER``     opens the app on an image folder (its project lives in FOLDER/.maskcurator)
``python main.py COMMAND ...`` runs the headless CLI (batch, train, predict, eval, export, tags, info)
"""

from __future__ import annotations

import sys
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent / "resources" / "demo"
COMMANDS = {"batch", "train", "predict", "eval", "export", "tags", "info", "import"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help", "-q", "--quiet")):
        from engine.cli import main as cli_main

        return cli_main(argv)
    if len(argv) > 1:
        print("usage: main.py [FOLDER] | main.py {batch,train,predict,eval,export,tags,info} ...",
              file=sys.stderr)
        return 2
    from app.main_window import run_app

    return run_app(Path(argv[0]) if argv else DEMO_DIR)


if __name__ == "__main__":
    sys.exit(main())
