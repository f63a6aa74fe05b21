"""PySide6 + pyqtgraph desktop application for Carvana car masks."""
