"""Live training curves: loss per epoch (+ smoothed per-batch loss) and select-set Dice.

Typed events (``finetune_events.Batch`` / ``Epoch``) arrive once per batch. Storing a
point is cheap; redrawing is not, so curves are redrawn at most every ``REDRAW_MS`` by a
timer on the GUI thread, however fast batches come in.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from model.workflows.finetune_events import Batch, Epoch

REDRAW_MS = 500
BACKGROUND, FOREGROUND, AXIS = "#23272e", "#dfe5ec", "#7d8794"  # resources/style.qss colours
SMOOTHING = 0.9  # exponential moving average of the batch loss


class TrainingPlots(QWidget):
    """Two stacked plots fed with a fine-tune run's Batch and Epoch events."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(BACKGROUND)  # the window's dark theme (resources/style.qss)
        self.loss_plot = self.view.addPlot(row=0, col=0, title="Loss")
        self.loss_plot.addLegend(offset=(-5, 5), labelTextColor=FOREGROUND, brush=(35, 39, 46, 200))
        self.loss_plot.setLabel("bottom", "epoch")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.3)
        self.loss_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.dice_plot = self.view.addPlot(row=1, col=0, title="Dice on the select cars")
        self.dice_plot.setLabel("bottom", "epoch")
        self.dice_plot.showGrid(x=True, y=True, alpha=0.3)
        self.dice_plot.getAxis("bottom").enableAutoSIPrefix(False)
        for plot in (self.loss_plot, self.dice_plot):
            plot.setTitle(plot.titleLabel.text, color=FOREGROUND)
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(pg.mkPen(AXIS))
                axis.setTextPen(pg.mkPen(FOREGROUND))
        self.dice_plot.setYRange(0.0, 1.0, padding=0.02)  # Dice lives in [0, 1]: keep the scale
        self.dice_plot.enableAutoRange(y=False)
        self.batch_curve = self.loss_plot.plot(
            pen=pg.mkPen((140, 150, 190), width=1), name="batch loss (smoothed)"
        )
        self.train_curve = self.loss_plot.plot(
            pen=pg.mkPen((90, 160, 255), width=2),
            symbol="o",
            symbolSize=6,
            symbolBrush=(90, 160, 255),
            name="train loss",
        )
        self.val_curve = self.loss_plot.plot(
            pen=pg.mkPen((255, 170, 60), width=2),
            symbol="s",
            symbolSize=6,
            symbolBrush=(255, 170, 60),
            name="select loss",
        )
        self.dice_curve = self.dice_plot.plot(
            pen=pg.mkPen((80, 200, 120), width=2),
            symbol="o",
            symbolSize=6,
            symbolBrush=(80, 200, 120),
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        self.reset()

    def reset(self) -> None:
        self.batch_x: list[float] = []
        self.batch_loss: list[float] = []
        self.epochs: list[float] = []
        self.train_loss: list[float] = []
        self.val_loss: list[float] = []
        self.val_dice: list[float] = []
        self._ema: float | None = None
        self._dirty = True
        self._redraw()

    def add(self, event: object) -> None:
        """Take one event; anything but Batch and Epoch is ignored."""
        if isinstance(event, Batch):
            if math.isfinite(event.loss):
                loss = event.loss
                self._ema = (
                    loss if self._ema is None else SMOOTHING * self._ema + (1 - SMOOTHING) * loss
                )
                self.batch_x.append(event.epoch - 1 + event.batch / max(1, event.batches))
                self.batch_loss.append(self._ema)
        elif isinstance(event, Epoch):
            self.epochs.append(float(event.epoch))
            self.train_loss.append(float(event.loss))
            self.val_loss.append(float(event.val_loss))
            self.val_dice.append(float(event.val_dice))
        else:
            return
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def _redraw(self) -> None:
        if not self._dirty:
            self._timer.stop()  # nothing new: stop ticking until the next point
            return
        self._dirty = False
        self.batch_curve.setData(self.batch_x, self.batch_loss)
        self.train_curve.setData(self.epochs, self.train_loss)
        finite = [
            (e, v) for e, v in zip(self.epochs, self.val_loss, strict=True) if math.isfinite(v)
        ]
        self.val_curve.setData([e for e, _ in finite], [v for _, v in finite])
        dice = [(e, v) for e, v in zip(self.epochs, self.val_dice, strict=True) if math.isfinite(v)]
        self.dice_curve.setData([e for e, _ in dice], [v for _, v in dice])

    def flush(self) -> None:
        """Redraw now (tests, screenshots)."""
        self._redraw()
