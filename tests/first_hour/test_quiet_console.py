"""A quiet console by default: no TensorFlow/absl start-up lines from the CLI or the window,
a clear message when the window cannot open, and a log file for errors and warnings."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tiny_carvana import make_image_folder, save_tiny_model

REPO = Path(__file__).resolve().parents[2]
CHATTER = ("tensorflow", "oneDNN", "cuda", "cuInit", "absl", "E0000", "I0000", "W0000")


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env.pop("CARVANA_VERBOSE", None)
    env["CARVANA_MODELS_DIR"] = str(tmp_path / "models")
    env["CARVANA_GUI_CONFIG_DIR"] = str(tmp_path / "config")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _carvana(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "model.cli.main", *args],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _chatter(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(word in line for word in CHATTER)]


def test_help_prints_nothing_on_stderr(tmp_path):
    result = _carvana(["--help"], tmp_path)
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_export_prints_nothing_from_tensorflow(tmp_path):
    train, _ = make_image_folder(tmp_path / "data", cars=1, angles=2)
    model = save_tiny_model(tmp_path / "tiny.keras")
    result = _carvana(["export", str(train), "-o", "sub.csv", "--model", str(model)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "valid submission, 2 rows" in result.stdout
    assert _chatter(result.stderr) == []
    verbose = _carvana(["--verbose", "export", str(train), "-o", "v.csv", "--model", str(model)],
                       tmp_path)  # fmt: skip
    # --verbose shows the logs (TensorFlow's own start-up lines only appear where TensorFlow
    # probes devices, which the Keras engine no longer does for a CPU-only export)
    assert verbose.returncode == 0 and "INFO model.cli.network: model tiny" in verbose.stderr


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_window_start_with_the_model_worker_prints_nothing_from_tensorflow(tmp_path):
    script = textwrap.dedent(
        """
        import time
        from carvana_gui.app import create_app
        from carvana_gui.main_window import MainWindow

        app = create_app()
        window = MainWindow()
        window.show()
        window.automask.discover()  # the worker imports Keras, as at every start
        deadline = time.time() + 240
        while not window.automask.discovered and time.time() < deadline:
            app.processEvents()
            time.sleep(0.01)
        assert window.automask.discovered
        window.close()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert _chatter(result.stderr) == [], result.stderr


def test_missing_xcb_libraries_name_the_command_that_fixes_it():
    from carvana_gui.platform_check import platform_problem

    def find(name):
        return None if name in ("xcb-icccm", "xcb-keysyms") else f"lib{name}.so"

    message = platform_problem({"DISPLAY": ":0"}, find, "linux")
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in message
    assert platform_problem({"DISPLAY": ":0"}, lambda name: "x.so", "linux") is None
    assert platform_problem({"QT_QPA_PLATFORM": "offscreen"}, lambda name: None, "linux") is None
    assert "no display" in platform_problem({}, find, "linux")
    assert platform_problem({}, find, "darwin") is None


def test_warnings_and_errors_go_to_a_rotating_log_file(tmp_path, monkeypatch):
    from logging.handlers import RotatingFileHandler

    from carvana_gui.log_file import install_log_file, log_path

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = install_log_file()
    try:
        assert path == log_path() == tmp_path / "state" / "carvana-gui" / "carvana-gui.log"
        logging.getLogger("carvana_gui.test").warning("the disk said no")
        logging.getLogger("carvana_gui.test").info("not worth keeping")
        for handler in logging.getLogger().handlers:
            handler.flush()
        text = path.read_text()
        assert "the disk said no" in text and "not worth keeping" not in text
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, RotatingFileHandler):
                root.removeHandler(handler)
                handler.close()


@pytest.mark.parametrize("flag", ["--verbose", "--debug"])
def test_window_flags_are_accepted(flag):
    from carvana_gui.app import parse_args

    args = parse_args([flag])
    assert args.verbose or args.debug


def test_help_about_names_the_log_file(tmp_path, monkeypatch):
    from carvana_gui.actions import about_text

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert str(tmp_path / "state" / "carvana-gui" / "carvana-gui.log") in about_text()


def test_the_command_line_parser_imports_no_framework(tmp_path):
    """`carvana --help` and every option list come without Keras, TensorFlow or Ray (the
    engine and precision choices live in keras-free model.choices)."""
    code = (
        "import sys\n"
        "from model.cli.main import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'openvino', 'ray') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=_env(tmp_path), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
