"""The window's actions as data: one table of specs, grouped into menus and the toolbar (labelme's way).

Why a table: the keyboard map, the menus, the toolbar and the README's shortcut list read from one
place, and the window only supplies a slot per action key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QToolBar

K = Qt.Key


@dataclass(frozen=True)
class ActionSpec:
    key: str
    text: str
    shortcuts: tuple = ()
    tip: str = ""
    checkable: bool = False


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open", "Open folder…", ("Ctrl+O",)),
    ActionSpec("export", "Export…", ("Ctrl+E",), "Export COCO / semantic PNGs"),
    ActionSpec("import", "Import annotations…", ("Ctrl+I",),
               "COCO, labelme or class-index masks as proposals to curate (source 'import')"),
    ActionSpec("jump", "Jump to image…", ("Ctrl+G",), "Type part of a file name above the image list"),
    ActionSpec("settings", "Preferences…", ("Ctrl+,",)),
    ActionSpec("quit", "Quit", ("Ctrl+Q",), "Save the view state and quit"),
    ActionSpec("fit", "Fit to window", ("F", "Ctrl+0"), "Show the whole image (also: double-click the image)"),
    ActionSpec("one_to_one", "Actual size (1:1)", ("Ctrl+1",), "One image pixel per screen pixel"),
    ActionSpec("prev", "Previous", (K.Key_Left, "A"), "Previous image"),
    ActionSpec("next", "Next", (K.Key_Right, "D"), "Next image"),
    ActionSpec("next_todo", "Next to-do", ("N",), "Next image still to review"),
    ActionSpec("accept_image", "Accept image", (K.Key_Return, K.Key_Enter),
               "Mark the image reviewed/accepted and go to the next to-do (with a prompt mask: commit it)"),
    ActionSpec("reject_image", "Reject image", (K.Key_Backspace, K.Key_Delete),
               "Reject the whole image (excluded from export) and go on"),
    ActionSpec("undo", "Undo", ("Ctrl+Z",)),
    ActionSpec("redo", "Redo", ("Ctrl+Shift+Z", "Ctrl+Y")),
    ActionSpec("brush", "Brush", ("B",), "Paint into the selected segment (new segment if none)", True),
    ActionSpec("erase", "Erase", ("E",), "Erase from the selected segment", True),
    ActionSpec("prompt", "Prompt", ("P",), "Click = object, right-click = not object, drag = box, "
               "Shift+drag = scribble; Enter commits, Esc discards", True),
    ActionSpec("polygon", "Polygon", ("G",), "Click vertices; the first vertex, a double-click or Enter closes; "
               "Backspace removes the last, Esc discards. Editing: drag a vertex, click an edge to insert, "
               "right-click or Delete removes", True),
    ActionSpec("box", "Box", ("R",), "Drag a rectangle: a new accepted segment", True),
    ActionSpec("edit_polygon", "Edit as polygon", ("Shift+G",),
               "Show the selected segment as an editable polygon (the Layers tab sets the tolerance)"),
    ActionSpec("delete_vertex", "Delete vertex", (),
               "Polygon tool: Backspace / Delete remove the last vertex (drawing) or the one under the mouse"),
    ActionSpec("view_mode", "Select / pan", (K.Key_Escape,),
               "Leave the tool (Prompt: discard the prompts first); in Select / pan: clear the selection"),
    ActionSpec("merge", "Merge", ("M",), "Merge the selected segments"),
    ActionSpec("accept_segments", "Accept segments", ("Y",),
               "Accept the selected segments; with an active class (1–9) also label them with it, in one undo step"),
    ActionSpec("apply_class_on_accept", "Apply class on accept", (),
               "Y labels the selected segments with the active class as it accepts them", True),
    ActionSpec("toggle_hidden", "Hide / show segments", ("H",),
               "Hide the selected segments on the image (not drawn, not clickable); again: show them"),
    ActionSpec("bring_front", "Bring to front", ("Ctrl+]",), "Draw the selected segments above the others"),
    ActionSpec("send_back", "Send to back", ("Ctrl+[",), "Draw the selected segments below the others"),
    ActionSpec("reject_segments", "Reject segments", ("X",)),
    ActionSpec("radius_down", "Smaller brush", ("[",)),
    ActionSpec("radius_up", "Larger brush", ("]",)),
    ActionSpec("analyse_all", "Analyse all", ("Ctrl+R",), "Analyse every image and cluster the dataset (DSM)"),
    ActionSpec("reanalyse", "Re-analyse image", ("Ctrl+Shift+R",),
               "Recompute this image and replace its open proposals"),
    ActionSpec("train", "Train…", ("Ctrl+T",), "Train a method on this folder"),
    *(ActionSpec(f"eigen{k}", f"Eigenvector {k}", (f"Alt+{k}",)) for k in range(1, 10)),
    ActionSpec("class0", "No class", ("0", "`"), "New and accepted segments get no class"),
    *(ActionSpec(f"class{k}", f"Class {k}", (str(k),), f"Make class {k} of the palette the active one")
      for k in range(1, 10)),
)

TOOLBAR = ("open", None, "prev", "next", "next_todo", None, "accept_image", "reject_image", None, "undo",
           "redo", None, "prompt", "polygon", "box", "brush", "erase", "merge", None, "analyse_all", "train", "export",
           "settings")

MENUS = (("&File", ("open", "import", "export", "settings", "quit")),
         ("&Edit", ("undo", "redo", "merge", "accept_segments", "reject_segments", "apply_class_on_accept",
                    "toggle_hidden", "bring_front", "send_back")),
         ("&Review", ("prev", "next", "next_todo", "jump", "accept_image", "reject_image")),
         ("&View", ("fit", "one_to_one")),
         ("&Tools", ("prompt", "polygon", "box", "edit_polygon", "brush", "erase", "view_mode", "radius_down",
                     "radius_up")),
         ("&Analysis", ("analyse_all", "reanalyse", "train")))


def _sequence(s) -> QKeySequence:
    return QKeySequence(s)


def build_actions(window: QMainWindow, slots: dict[str, Callable]) -> dict[str, QAction]:
    """One QAction per spec, wired to ``slots[key]`` (checkable ones get the new state), added to the
    window so their shortcuts work even when the toolbar is hidden; plus the toolbar and menus."""
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        act = QAction(spec.text, window)
        keys = [_sequence(s) for s in spec.shortcuts]
        if keys:
            act.setShortcuts(keys)
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        slot = slots[spec.key]
        if spec.checkable:
            act.setCheckable(True)
            act.toggled.connect(slot)
        else:
            act.triggered.connect(lambda _=False, s=slot: s())
        names = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys)
        tip = spec.tip or spec.text
        act.setToolTip(f"{tip} ({names})" if names else tip)
        window.addAction(act)
        actions[spec.key] = act
    tb = QToolBar("Main")
    tb.setObjectName("mainToolbar")
    tb.setMovable(False)
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    for key in TOOLBAR:
        if key is None:
            tb.addSeparator()
        else:
            tb.addAction(actions[key])
    window.addToolBar(tb)
    menu = window.menuBar()
    for title, keys in MENUS:
        m = menu.addMenu(title)
        m.setObjectName(f"menu{title.strip('&')}")
        for key in keys:
            m.addAction(actions[key])
    actions["quit"].setMenuRole(QAction.MenuRole.QuitRole)
    return actions
