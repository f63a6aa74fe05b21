"""Every menu/toolbar command, declared once (name, text, shortcuts, icon, menu), and the
menu bar and toolbar laid out from those declarations.

The window looks actions up by name (``window.action("undo")``), menus by name
(``window.menu("model")``), and user shortcut overrides from the preferences file
apply by name too, so extensions never dig through widget trees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QMenuBar, QMessageBox, QToolBar, QWidget

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
    key_hint: str = ""  # a key handled outside QAction (Space): shown in menu/tooltip only


# Actions that act on the shown image: disabled (and greyed) while none is shown.
NO_IMAGE_MESSAGE = "No image shown: open a folder first (File → Open Folder…, Ctrl+O)."
NEEDS_IMAGE = (
    "fill_holes",
    "clear_mask",
    "use_ground_truth",
    "fit",
    "one_to_one",
    "prev_image",
    "next_image",
    "next_unreviewed",
    "mark_reviewed",
    "accept_next",
    "refine_edge",
    "refine_edge_here",
    "auto_mask",
    "diff_truth",
    "show_before",
    "next_worst",
)

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
        "Lasso: drag around an area, or click points (double-click or Enter closes, "
        "Backspace removes the last point, Esc cancels); right button removes",
        True,
    ),
    ActionSpec(
        "tool_edge_brush",
        "Edge &brush",
        "edit",
        ("T",),
        "edge_brush",
        "Edge brush: paint roughly over the car's edge; each pixel under the stroke goes to "
        "the side (car or not) whose colours it resembles, so the mask snaps to the edge",
        True,
    ),
    ActionSpec(
        "tool_smart",
        "&Smart click",
        "edit",
        ("S",),
        "smart",
        "Smart click: left click = this is car, right click = not car; the mask around "
        "the click follows the car's edge (Shift+click does the same with the brush)",
        True,
    ),
    ActionSpec(
        "refine_edge",
        "Refine &edge",
        "edit",
        ("P",),
        "refine_edge",
        "Refine edge: re-decide the mask's edge band at full resolution from the photo "
        "(your strokes and clicks stay); Shift+P only around the cursor",
    ),
    ActionSpec(
        "refine_edge_here",
        "Refine edge under the &cursor",
        "edit",
        ("Shift+P",),
        None,
        "Refine the mask's edge only around the mouse pointer (120 px)",
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
    ActionSpec(
        "diff_truth",
        "&Difference to truth",
        "view",
        ("X",),
        None,
        "Show where the mask differs from the ground truth: magenta false car, cyan missed car",
        True,
    ),
    ActionSpec(
        "show_before",
        "Show auto-mask (&before)",
        "view",
        ("V",),
        None,
        "Flip between your mask and the model's auto-mask, to see what was changed",
        True,
    ),
    ActionSpec("prev_image", "&Previous image", "image", ("A", "Left"), "prev"),
    ActionSpec("next_image", "&Next image", "image", ("D", "Right"), "next"),
    ActionSpec(
        "next_worst",
        "Next &worst",
        "image",
        ("W",),
        None,
        "Go to the next image by Dice against the ground truth, worst first",
    ),
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
        "Mark this mask as reviewed",
        True,
        key_hint="Space",
    ),
    ActionSpec(
        "accept_next",
        "&Accept and next",
        "image",
        ("R",),
        "accept_next",
        "Mark this mask reviewed and go to the next unreviewed image",
    ),
    ActionSpec(
        "auto_mask",
        "&Auto-mask",
        "model",
        ("Ctrl+R",),
        "automask",
        "Predict the mask of this image with the active model",
    ),
    ActionSpec(
        "automask_tta",
        "Auto-mask with flip &TTA",
        "model",
        (),
        None,
        "Average the prediction with the mirrored image's: a little more precise, "
        "about twice the model time",
        True,
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
        # "text\tkey": a menu shows the key of an action whose key is not a QAction shortcut
        text = f"{spec.text}\t{spec.key_hint}" if spec.key_hint else spec.text
        action = QAction(text, parent)
        action.setObjectName(spec.name)
        keys = (overrides[spec.name],) if spec.name in overrides else spec.shortcuts
        action.setShortcuts([QKeySequence(k) for k in keys])
        if spec.icon:
            action.setIcon(icon(spec.icon))
        tip = spec.tip or spec.text.replace("&", "").rstrip("…")
        key = keys[0] if keys else spec.key_hint
        if key:  # the key once, here: spec tips never name it themselves
            tip += f"  [{key}]"
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.setCheckable(spec.checkable)
        slot = slots.get(spec.name)
        if slot is not None:
            (action.toggled if spec.checkable else action.triggered).connect(slot)
        actions[spec.name] = action
    return actions


def _plain(text: str) -> str:
    return text.split("\t")[0].replace("&", "").rstrip("…")


def shortcut_table(extra: Iterable[QAction] = ()) -> list[tuple[str, str]]:
    """(command, keys) rows for F1: the declared actions, then ``extra`` actions with a
    shortcut (those panels add to the menus, e.g. File → Export), then mouse gestures."""
    rows = [(_plain(s.text), ", ".join(s.shortcuts)) for s in ACTIONS if s.shortcuts]
    declared = {s.name for s in ACTIONS}
    for action in extra:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
        if action.objectName() not in declared and any(keys):
            rows.append((_plain(action.text()), ", ".join(keys)))
    rows += [
        ("Mark reviewed", "Space"),
        ("Lasso by points", "Click points; double-click or Enter closes, Backspace, Esc"),
        ("Pan", "Middle drag, or Space + drag"),
        ("Zoom", "Wheel"),
        ("Brush size", "Ctrl + wheel, [ ]"),
        ("Erase with brush", "Right drag"),
        ("Smart click with the brush", "Shift + click (right: not car)"),
    ]
    return rows


SEPARATE_AFTER = ("redo", "tool_smart", "brush_larger", "one_to_one", "next_unreviewed")
TOOLBAR_GROUPS = (
    ("open_folder",),
    ("prev_image", "next_image", "next_unreviewed", "mark_reviewed", "accept_next"),
    ("auto_mask", "confidence"),
    (
        "tool_brush",
        "tool_eraser",
        "tool_bucket",
        "tool_lasso",
        "tool_smart",
        "tool_edge_brush",
        "refine_edge",
        "fill_holes",
    ),
    ("undo", "redo"),
)


def build_menus(bar: QMenuBar, actions: dict[str, QAction], recent: QMenu) -> dict[str, QMenu]:
    """The menu bar in ACTIONS order; returns the menus by name."""
    menus = {key: bar.addMenu(title) for key, title in MENUS}
    for spec in ACTIONS:
        menu = menus[spec.menu]
        menu.addAction(actions[spec.name])
        if spec.name == "open_folder":
            menu.addMenu(recent)
            menu.addSeparator()
        if spec.name in SEPARATE_AFTER:
            menu.addSeparator()
    menus["view"].addSeparator()
    return menus


def build_toolbar(window: QMainWindow, actions: dict[str, QAction], overlay) -> QToolBar:
    """The main toolbar: navigation, auto-mask, tools, undo, brush size, overlay style."""
    bar = QToolBar("Tools", window)
    bar.setObjectName("main_toolbar")
    bar.setMovable(False)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    for names in TOOLBAR_GROUPS:
        bar.addActions([actions[name] for name in names])
        bar.addSeparator()
    bar.addWidget(overlay.brush_widget)
    bar.addSeparator()
    bar.addActions([actions["show_mask"], actions["outline"]])
    bar.addWidget(overlay.style_widget)
    bar.addSeparator()
    bar.addAction(actions["fit"])
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    auto_button = bar.widgetForAction(actions["auto_mask"])
    auto_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    auto_button.setObjectName("primary")
    return bar


def menu_actions(bar: QMenuBar) -> list[QAction]:
    """Every action in the menu bar's menus and their submenus, in menu order."""
    found: list[QAction] = []

    def walk(menu: QMenu) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu())
            elif not action.isSeparator():
                found.append(action)

    for top in bar.actions():
        if top.menu() is not None:
            walk(top.menu())
    return found


def show_shortcuts(parent: QMainWindow) -> QMessageBox:
    """F1: every command with a key, including those panels added (File → Export)."""
    table = shortcut_table(menu_actions(parent.menuBar()))
    rows = "".join(f"<tr><td>{a}</td><td><b>{k}</b></td></tr>" for a, k in table)
    box = QMessageBox(
        QMessageBox.Icon.Information,
        "Keyboard shortcuts",
        f"<table cellpadding=3>{rows}</table>",
        parent=parent,
    )
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def about_text(engine: str = "") -> str:
    """Help → About: what the app does, what runs the network, and where its log file is
    (to send with a report)."""
    from carvana_gui.log_file import log_path

    ran = f"the last auto-mask ran on {engine}" if engine else "no auto-mask yet"
    return (
        "Auto-mask car photos with a SegNet-style network, touch the masks up with "
        "brush, bucket and lasso, and export Kaggle RLE submissions.\n\n"
        f"Inference engine: {ran} (auto: OpenVINO on a CPU where it is installed, else "
        "Keras; set CARVANA_ENGINE=keras or openvino to choose).\n\n"
        f"Errors and warnings are logged to:\n{log_path()}"
    )


def show_about(parent: QWidget, engine: str = "") -> None:
    QMessageBox.about(parent, "Carvana Masks", about_text(engine))
