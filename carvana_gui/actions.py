"""Every menu/toolbar command, declared once: name, text, shortcuts, icon, menu.

The window looks actions up by name (``window.action("undo")``), menus by name
(``window.menu("model")``), and user shortcut overrides from the preferences file
apply by name too, so extensions never dig through widget trees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QWidget

import resources

ICON_DIR = Path(resources.__file__).resolve().parent / "icons"

MENUS = (
    ("file", "&File"),
    ("edit", "&Edit"),
    ("view", "&View"),
    ("image", "&Image"),
    ("model", "&Model"),
    ("help", "&Help"),
)


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str
    menu: str
    shortcuts: tuple[str, ...] = ()
    icon: str | None = None
    tip: str = ""
    checkable: bool = False


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "open_folder",
        "&Open Folder…",
        "file",
        ("Ctrl+O",),
        "open",
        "Open a folder of car images (Kaggle train/ or any folder)",
    ),
    ActionSpec("quit", "&Quit", "file", ("Ctrl+Q",)),
    ActionSpec("undo", "&Undo", "edit", ("Ctrl+Z",), "undo", "Undo the last stroke or action"),
    ActionSpec("redo", "&Redo", "edit", ("Ctrl+Shift+Z", "Ctrl+Y"), "redo", "Redo"),
    ActionSpec(
        "tool_brush",
        "&Brush",
        "edit",
        ("B",),
        "brush",
        "Brush: paint mask (right button erases)",
        True,
    ),
    ActionSpec("tool_eraser", "&Eraser", "edit", ("E",), "eraser", "Eraser: remove mask", True),
    ActionSpec(
        "tool_bucket",
        "Bucket &fill",
        "edit",
        ("G",),
        "bucket",
        "Bucket: fill the clicked region (right button removes it)",
        True,
    ),
    ActionSpec(
        "tool_lasso",
        "&Lasso",
        "edit",
        ("L",),
        "lasso",
        "Lasso: add the enclosed area (right button removes it)",
        True,
    ),
    ActionSpec(
        "fill_holes", "Fill &holes", "edit", ("H",), "fill_holes", "Fill every hole inside the mask"
    ),
    ActionSpec("brush_smaller", "Brush smaller", "edit", ("[",)),
    ActionSpec("brush_larger", "Brush larger", "edit", ("]",)),
    ActionSpec("clear_mask", "&Clear mask", "edit", ("Ctrl+Shift+Del",)),
    ActionSpec(
        "use_ground_truth",
        "Start from &ground truth",
        "edit",
        (),
        None,
        "Replace the mask with the folder's ground-truth mask",
    ),
    ActionSpec("fit", "&Fit to window", "view", ("F",), "fit", "Fit the image to the window"),
    ActionSpec("one_to_one", "&Actual pixels (1:1)", "view", ("1",)),
    ActionSpec("show_mask", "Show &mask", "view", ("M",), "mask", "Show/hide the mask", True),
    ActionSpec(
        "outline", "&Outline only", "view", ("O",), "outline", "Draw only the mask outline", True
    ),
    ActionSpec(
        "confidence",
        "&Confidence band",
        "view",
        ("C",),
        "confidence",
        "Highlight pixels the model was unsure about",
        True,
    ),
    ActionSpec("prev_image", "&Previous image", "image", ("A", "Left"), "prev"),
    ActionSpec("next_image", "&Next image", "image", ("D", "Right"), "next"),
    ActionSpec(
        "next_unreviewed",
        "Next &unreviewed",
        "image",
        ("N",),
        "next_unreviewed",
        "Jump to the next image not marked reviewed",
    ),
    ActionSpec(
        "mark_reviewed",
        "Mark &reviewed",
        "image",
        (),
        "reviewed",
        "Mark this mask as reviewed (Space)",
        True,
    ),
    ActionSpec(
        "auto_mask",
        "&Auto-mask",
        "model",
        ("Ctrl+R",),
        "automask",
        "Predict the mask of this image with the active model (Ctrl+R)",
    ),
    ActionSpec("import_model", "&Import model…", "model", ()),
    ActionSpec("shortcuts", "&Keyboard shortcuts", "help", ("F1",)),
    ActionSpec("about", "&About", "help", ()),
)


def icon(name: str) -> QIcon:
    return QIcon(str(ICON_DIR / f"{name}.svg"))


def build_actions(
    parent: QWidget,
    slots: dict[str, Callable[..., object]],
    overrides: dict[str, str],
) -> dict[str, QAction]:
    """Create a QAction per spec, wired to ``slots[name]``; shortcut overrides win."""
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        action = QAction(spec.text, parent)
        action.setObjectName(spec.name)
        keys = (overrides[spec.name],) if spec.name in overrides else spec.shortcuts
        action.setShortcuts([QKeySequence(k) for k in keys])
        if spec.icon:
            action.setIcon(icon(spec.icon))
        tip = spec.tip or spec.text.replace("&", "").rstrip("…")
        if keys:
            tip += f"  [{keys[0]}]"
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.setCheckable(spec.checkable)
        slot = slots.get(spec.name)
        if slot is not None:
            (action.toggled if spec.checkable else action.triggered).connect(slot)
        actions[spec.name] = action
    return actions


def shortcut_table() -> list[tuple[str, str]]:
    rows = [
        (s.text.replace("&", "").rstrip("…"), ", ".join(s.shortcuts))
        for s in ACTIONS
        if s.shortcuts
    ]
    rows += [
        ("Mark reviewed", "Space"),
        ("Pan", "Middle drag, or Space + drag"),
        ("Zoom", "Wheel"),
        ("Brush size", "Ctrl + wheel, [ ]"),
        ("Erase with brush", "Right drag"),
    ]
    return rows
