"""Odd inputs never ship a wrong row or stop a whole run; each test carries its reproduction.

3. Wrong-size masks: masks-to-csv encoded a 1000x700 mask as if it were 1280x1918 and
   validate-submission said OK (Dice 0.000086 on Kaggle).
4. Two files, one id: dup.jpg + dup.png -> "2 masks written", one file; export "2 rows",
   one row, "valid".
5. One bad entry stopped a run: a symlink loop ("Too many levels of symbolic links")
   aborted predict; a comma in a name aborted an export midway.
10. New model-version folders were 0700 (tempfile.mkdtemp): others could not read them.
"""

from __future__ import annotations

import csv
import os
import stat
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from model.cli.main import main
from model.data.dataset import list_images, scan_folder
from model.data.masks import read_image, write_mask

HW = (6, 10)


def _image(path, hw=HW, seed=0):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rng.integers(0, 256, (*hw, 3), dtype=np.uint8))
    return path


def _mask(path, hw=HW):
    mask = np.zeros(hw, np.uint8)
    mask[1:-1, 1:-1] = 1
    return write_mask(path, mask)


class FakePredictor:
    """Predictor.predict_paths without Keras: the mask is the bright half of channel 0."""

    name = "fake"

    def predict_paths(self, paths, tta=False, on_error=None, **_):
        for path in paths:
            try:
                image = read_image(path)
            except Exception as exc:
                on_error(path, exc)
                continue
            mask = (image[..., 0] > 127).astype(np.uint8)
            yield path, SimpleNamespace(mask=mask, prob=mask.astype(np.float32))


@pytest.fixture
def fake_model(monkeypatch):
    import model.cli.network as network

    monkeypatch.setattr(network, "_load_predictor_and_path", lambda args: (FakePredictor(), None))


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))[1:]


# -- 3. wrong-size masks ---------------------------------------------------------------------


def test_masks_to_csv_refuses_a_mask_of_another_size(tmp_path, capsys):
    """Was: a 7x5 mask encoded silently as a 1280x1918 row, exit 0."""
    masks = tmp_path / "masks"
    _mask(masks / "000000000001_01_mask.gif", (7, 5))
    out = tmp_path / "out.csv"
    assert main(["masks-to-csv", str(masks), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "000000000001_01_mask.gif" in err and "7x5" in err and "1280x1918" in err
    assert "nothing written" in err
    assert not out.exists() and not out.with_name("out.csv.partial").exists()

    _mask(masks / "000000000002_01_mask.gif", HW)  # one right, one wrong: still refused
    assert main(["masks-to-csv", str(masks), "-o", str(out), "--size", "6x10"]) == 1
    err = capsys.readouterr().err
    assert "000000000001_01_mask.gif" in err and "7x5" in err and "6x10" in err
    assert "000000000002" not in err and not out.exists()


def test_masks_to_csv_takes_each_size_from_its_image(tmp_path, capsys):
    images, masks = tmp_path / "images", tmp_path / "masks"
    _image(images / "a.jpg", (6, 10))
    _image(images / "b.png", (8, 5))
    _mask(masks / "a_mask.gif", (6, 10))
    _mask(masks / "b_mask.png", (8, 5))
    out = tmp_path / "out.csv"
    assert main(["masks-to-csv", str(masks), "-o", str(out), "--images", str(images)]) == 0
    assert [r[0] for r in _rows(out)] == ["a.jpg", "b.jpg"]

    _mask(masks / "b_mask.png", (5, 8))  # transposed: same pixel count, wrong size
    _mask(masks / "c_mask.png", (6, 10))  # no image c.*
    out.unlink()
    capsys.readouterr()
    assert main(["masks-to-csv", str(masks), "-o", str(out), "--images", str(images)]) == 1
    err = capsys.readouterr().err
    assert "b_mask.png: mask is 5x8 (HxW) but its image in" in err and "is 8x5" in err
    assert "c_mask.png: no image with id 'c'" in err
    assert not out.exists()


def test_validate_submission_checks_rows_against_their_images(tmp_path, capsys):
    """Was: no --images; with the Carvana default size every one of these rows was OK."""
    images = tmp_path / "images"
    _image(images / "000000000001_01.jpg", (2, 3))
    _image(images / "000000000002_01.jpg", (2, 3))
    sub = tmp_path / "sub.csv"
    sub.write_text(
        "img,rle_mask\n000000000001_01.jpg,1 6\n000000000002_01.jpg,1 7\n000000000003_01.jpg,1 2\n"
    )
    assert main(["validate-submission", str(sub)]) == 0  # the size alone cannot tell
    capsys.readouterr()
    assert main(["validate-submission", str(sub), "--images", str(images)]) == 1
    out = capsys.readouterr().out
    assert "line 2" not in out
    assert "line 3: 000000000002_01.jpg: bad rle_mask:" in out and "2x3 = 6 pixels" in out
    assert "line 4: 000000000003_01.jpg: no image with id '000000000003_01'" in out


# -- 4. two files, one id --------------------------------------------------------------------


@pytest.fixture
def clash_folder(tmp_path):
    folder = tmp_path / "images"
    for name in ("dup.jpg", "dup.png", "ok.jpg"):
        _image(folder / name)
    return folder


def test_list_images_reports_two_files_with_one_id(clash_folder):
    records = list_images(clash_folder)
    assert [r.name for r in records] == ["ok.jpg"]
    assert [e.path.name for e in records.skipped] == ["dup.jpg", "dup.png"]
    assert "also used by dup.png" in records.skipped[0].reason
    layout = scan_folder(clash_folder)
    assert [r.name for r in layout.images] == ["ok.jpg"]
    assert {e.path.name for e in layout.skipped} == {"dup.jpg", "dup.png"}


def test_predict_lists_clashing_ids_and_exits_partial(clash_folder, tmp_path, fake_model, capsys):
    """Was: "3 masks written" with two files; dup_mask.png from whichever came last."""
    out = tmp_path / "out"
    assert main(["predict", str(clash_folder), "-o", str(out)]) == 2
    captured = capsys.readouterr()
    assert "1 masks written" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["ok_mask.png"]
    assert "dup.jpg: image id 'dup' is also used by dup.png" in captured.err
    assert "2 images skipped" in captured.err


def test_export_writes_every_listed_image_once(clash_folder, tmp_path):
    """Was: export reported 2 rows for dup.* and wrote one ("valid")."""
    from model.workflows.submission_export import export_submission

    records = list_images(clash_folder)
    result = export_submission(records, tmp_path / "sub.csv", FakePredictor())
    rows = _rows(result.path)
    assert result.written == len(rows) == len(records) == 1
    assert [r[0] for r in rows] == ["ok.jpg"]


def test_folder_scan_warns_about_left_out_files(clash_folder, qapp):
    from carvana_gui.panels.image_list import FolderScanThread

    thread = FolderScanThread(clash_folder)
    layouts, warnings = [], []
    thread.scanned.connect(layouts.append)
    thread.warning.connect(warnings.append)
    thread.run()  # synchronously: signals go straight to the slots
    assert [r.name for r in layouts[0].images] == ["ok.jpg"]
    assert len(warnings) == 1 and warnings[0].startswith("2 file(s) left out: dup.jpg")


# -- 5. one bad entry must not stop a run ----------------------------------------------------


@pytest.fixture
def loop_folder(tmp_path):
    folder = tmp_path / "images"
    _image(folder / "ok.jpg")
    (folder / "a.jpg").symlink_to("b.jpg")
    (folder / "b.jpg").symlink_to("a.jpg")
    (folder / "gone.jpg").symlink_to("nowhere.jpg")
    return folder


def test_symlink_loop_is_skipped_and_listed(loop_folder):
    """Was: OSError "Too many levels of symbolic links" from the scan itself."""
    records = list_images(loop_folder)
    assert [r.name for r in records] == ["ok.jpg"]
    reasons = {e.path.name: e.reason for e in records.skipped}
    assert set(reasons) == {"a.jpg", "b.jpg", "gone.jpg"}
    assert "symbolic links" in reasons["a.jpg"] and "broken symbolic link" in reasons["gone.jpg"]
    assert [r.name for r in scan_folder(loop_folder).images] == ["ok.jpg"]


def test_predict_with_a_symlink_loop_finishes_and_lists_it(
    loop_folder, tmp_path, fake_model, capsys
):
    out = tmp_path / "out"
    assert main(["predict", str(loop_folder), "-o", str(out)]) == 2
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["ok_mask.png"]
    assert "a.jpg: cannot read this entry (Too many levels of symbolic links)" in captured.err


def test_comma_names_are_listed_before_any_row_is_written(tmp_path):
    """Was: SubmissionError at the comma image, midway through the export."""
    from model.data.dataset import split_submission_records, submission_name_problem
    from model.workflows.submission_export import export_submission

    assert submission_name_problem("000000000001_01.jpg") is None
    assert "comma" in submission_name_problem("a,b.jpg")
    assert "line break" in submission_name_problem("a\nb.jpg")
    assert "double quote" in submission_name_problem('a"b.jpg')
    folder = tmp_path / "images"
    for name in ("a.jpg", "b,c.jpg", "d.jpg"):
        _image(folder / name)
    usable, skipped = split_submission_records(list_images(folder))
    assert [r.name for r in usable] == ["a.jpg", "d.jpg"]
    assert [e.path.name for e in skipped] == ["b,c.jpg"] and "comma" in skipped[0].reason
    result = export_submission(usable, tmp_path / "sub.csv", FakePredictor())
    assert [r[0] for r in _rows(result.path)] == ["a.jpg", "d.jpg"]


# -- 10. model versions readable by others --------------------------------------------------


def test_new_model_version_folder_follows_the_umask(tmp_path, monkeypatch):
    """Was: 0700, whatever the umask (tempfile.mkdtemp)."""
    import model.data.masks as masks
    from model.store.versions import ModelStore

    monkeypatch.setattr(masks, "_UMASK", 0o022)
    model_file = tmp_path / "m.keras"
    model_file.write_bytes(b"not really a model")
    info = ModelStore(tmp_path / "store").add(model_file, {"epochs": 1})
    assert stat.S_IMODE(os.stat(info.path.parent).st_mode) == 0o755
