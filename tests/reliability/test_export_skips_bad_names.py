"""An image name a CSV row cannot hold, or two files with one id, are skipped and listed
before the first row is written; the export goes on and stays valid."""

from __future__ import annotations

import shutil

import pytest

from model.cli.main import main as carvana
from tiny_carvana import make_image_folder, save_tiny_model


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_export_skips_and_lists_a_comma_name_and_a_name_clash(tmp_path, capsys):
    train, _ = make_image_folder(tmp_path / "data", cars=1, angles=3)
    names = sorted(p.name for p in train.glob("*.jpg"))
    shutil.copy(train / names[0], train / "bad,name_01.jpg")
    shutil.copy(train / names[1], train / (names[1][:-4] + ".png"))  # one id, two files
    model = save_tiny_model(tmp_path / "tiny.keras")
    code = carvana(["export", str(train), "-o", str(tmp_path / "s.csv"), "--model", str(model)])
    out, err = capsys.readouterr()
    assert code == 2  # finished, some entries skipped
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == "img,rle_mask" and len(rows) == 1 + 2  # names[0], names[2]
    assert "bad,name_01.jpg" in err and "comma" in err
    assert names[1] in err
    assert "valid submission, 2 rows" in out
