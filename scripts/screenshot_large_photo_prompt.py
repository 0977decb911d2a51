"""Screenshot of the Prompt tool on a 24 MP photo: a Weizmann horse upscaled to 6000x4000, two
simulator clicks, the preview computed at the overlay's 2048 px (status bar: its time per click).

    QT_QPA_PLATFORM=offscreen python scripts/screenshot_large_photo_prompt.py [out.png]

Enter would then store the same prompts' mask at full resolution (tests/test_app_prompts.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
W, H = 6000, 4000


def main(out: Path) -> int:
    import cv2
    import numpy as np
    from shot_project import large_horse_folder

    made = large_horse_folder("mc_bigprompt_", (W, H))
    if made is None:
        return 1
    folder, gt = made

    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.resources import style_sheet
    from engine.prompts.clicks import next_click

    app = QApplication.instance() or QApplication([])
    app.setStyleSheet(style_sheet())
    win = MainWindow(folder, device="cpu")
    win.resize(1500, 950)
    win.show()

    def pump_until(cond, seconds: float) -> bool:
        end = time.time() + seconds
        while not cond() and time.time() < end:
            app.processEvents()
            time.sleep(0.01)
        return cond()

    if not pump_until(lambda: win.canvas.image_shape is not None, 120):
        print("the photo did not open")
        return 1
    win.canvas.set_mode("prompt")
    oh, ow = win.canvas.overlay_shape
    target = cv2.resize(gt.view(np.uint8), (ow, oh), interpolation=cv2.INTER_NEAREST) > 0
    pred = np.zeros_like(target)
    for _ in range(2):
        c = next_click(pred, target)
        answers = []
        win.prompt.previewed.connect(answers.append)
        win.prompt.click((c.x + 0.5) * W / ow, (c.y + 0.5) * H / oh, c.positive)
        if not pump_until(lambda: bool(answers), 120):
            print("no preview")
            return 1
        win.prompt.previewed.disconnect(answers.append)
        pred = answers[-1].mask
    app.processEvents()
    win.grab().save(str(out))
    print(f"{out}: preview {pred.shape[1]}x{pred.shape[0]} of a {W}x{H} photo, {win.prompt.last_seconds * 1000:.0f} ms")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots" / "20_large_photo_prompt.png"))
