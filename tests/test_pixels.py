"""The one image decoder (dlnotes.data.pixels) and the views every path makes from it (dlnotes.data.views).

Every file is written here with Pillow from a known array; the references are that array, a hand
computation (alpha over white, 16-bit scaling) or the in-memory path against the streamed one.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import dlnotes
from bad_files import png_header_only
from dlnotes.config import validate
from dlnotes.data.pixels import MAX_PIXELS, read_pixels
from dlnotes.collect import load_data
from dlnotes.data.views import model_pixels
from dlnotes.engine.batching import batches
from dlnotes.errors import UserError

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 16, 3), dtype=np.uint8)
GREY = RGB[..., 0]


def zoo(folder: Path) -> dict[str, np.ndarray]:
    """One file per kind people hand over, and the (H, W, 1) grey pixels each must decode to (None: RGB
    data compared elsewhere)."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = [Image.fromarray(GREY), Image.fromarray(255 - GREY)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])  # first frame wanted
    Image.fromarray(GREY.astype(np.uint16) * 257 + 3).save(folder / "deep.png")  # 16-bit
    alpha = np.where(GREY > 128, 255, 60).astype(np.uint8)
    Image.fromarray(np.stack([GREY, alpha], -1), "LA").save(folder / "grey_alpha.png")
    Image.fromarray(GREY).save(folder / "grey.webp", lossless=True)
    Image.fromarray(GREY.astype(np.float32) / 255, "F").save(folder / "float.tif")
    Image.fromarray(RGB).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    Image.fromarray(RGB).save(folder / "rgb.png")
    over_white = np.rint(GREY * (alpha / 255) + 255 * (1 - alpha / 255)).astype(np.uint8)
    return {"anim.gif": GREY, "deep.png": GREY.astype(np.uint16) * 257 + 3, "grey_alpha.png": over_white,
            "grey.webp": GREY, "float.tif": np.rint(GREY / 255 * 65535).astype(np.uint16), "cmyk.jpg": None,
            "rgb.png": None}


def test_every_mode_people_hand_over_is_read(tmp_path):
    want = zoo(tmp_path)
    for name, grey in want.items():
        for channels in (1, 3):
            got = read_pixels(tmp_path / name, channels)
            assert got.shape == (12, 16, channels), name
            if grey is not None:
                np.testing.assert_array_equal(got[..., 0], grey, err_msg=name)
                assert got.dtype == grey.dtype, name
    np.testing.assert_array_equal(read_pixels(tmp_path / "rgb.png", 3), RGB)
    cmyk = read_pixels(tmp_path / "cmyk.jpg", 3).astype(int)
    assert np.abs(cmyk - RGB).mean() < 4  # JPEG at quality 95, through CMYK and back
    # grey from RGB is ITU-R 601-2 luma, rounded
    luma = np.rint(RGB.astype(float) @ [0.299, 0.587, 0.114])
    assert np.abs(read_pixels(tmp_path / "rgb.png", 1)[..., 0] - luma).max() <= 1


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90 degrees clockwise to view
    Image.fromarray(RGB).save(tmp_path / "phone.png", exif=exif)
    np.testing.assert_array_equal(read_pixels(tmp_path / "phone.png", 3), np.rot90(RGB, k=-1))


@pytest.mark.parametrize("values, words", [
    (np.full((4, 4), np.nan, np.float32), "NaN or infinite"),
    (np.linspace(0, 4.5, 16, dtype=np.float32).reshape(4, 4), "from 0 to 4.5"),
    (np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4), "from -1 to 1"),
])
def test_float_images_outside_the_unit_range_are_refused_naming_the_file(tmp_path, values, words):
    Image.fromarray(values, "F").save(tmp_path / "odd.tif")
    with pytest.raises(UserError, match=r"^'.*odd\.tif' holds .*" + words) as e:
        read_pixels(tmp_path / "odd.tif", 1)
    assert "\n" not in str(e.value)


def test_whole_number_floats_are_read_as_8_and_16_bit_values(tmp_path):
    Image.fromarray(GREY.astype(np.float32), "F").save(tmp_path / "eight.tif")
    np.testing.assert_array_equal(read_pixels(tmp_path / "eight.tif", 1)[..., 0], GREY.astype(np.uint16) * 257)
    Image.fromarray(GREY.astype(np.float32) * 200, "F").save(tmp_path / "sixteen.tif")
    np.testing.assert_array_equal(read_pixels(tmp_path / "sixteen.tif", 1)[..., 0], GREY.astype(np.uint16) * 200)


def test_the_pixel_count_is_checked_from_the_header_before_decoding(tmp_path):
    """The bomb's data is 64 bytes: decoding it would fail as truncated, so the pixel-count message proves
    the header was checked first. Arrays are held to the same limit."""
    png_header_only(tmp_path / "bomb.png", 30000, 30000)
    with pytest.raises(UserError, match=r"^'.*bomb\.png' has more than 64,000,000 pixels"):
        read_pixels(tmp_path / "bomb.png", 3)
    png_header_only(tmp_path / "ok.png", 8, 8)  # the same file at a small size: decoding is what fails there
    with pytest.raises(UserError, match="not a readable image"):
        read_pixels(tmp_path / "ok.png", 3)
    with pytest.raises(UserError, match="more than"):
        read_pixels(np.broadcast_to(np.uint8(0), (MAX_PIXELS // 1000 + 1, 1000)), 1)


def test_paths_pil_images_and_arrays_give_the_same_batch(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "a.png")
    pre = {"image_size": 10, "channels": 3}
    want = model_pixels([tmp_path / "a.png"], pre)
    assert want.shape == (1, 3, 10, 10) and want.dtype == np.uint8
    for source in (Image.open(tmp_path / "a.png"), RGB, RGB.transpose(2, 0, 1),
                   np.dstack([RGB, np.full(RGB.shape[:2], 255, np.uint8)])):
        np.testing.assert_array_equal(model_pixels([source], pre), want)
    floats = model_pixels([RGB / 255.0], pre).astype(int)  # resized at 16 bits: rounded once, at the end
    assert np.abs(floats - want).max() <= 1


def test_the_decoder_and_views_import_without_torch():
    code = ("import sys; import dlnotes.data.views, dlnotes.data.pixels, dlnotes.data.digit_photos; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert r.returncode == 0, r.stderr


def folder_of_kinds(root: Path) -> Path:
    """Two classes, each holding every kind of file of ``zoo`` (and some plain PNGs)."""
    for c in ("a", "b"):
        zoo(root / c)
        for i in range(3):
            Image.fromarray(np.roll(RGB, 3 * i + (c == "b"), axis=1)).save(root / c / f"p{i}.png")
    return root


@pytest.mark.parametrize("channels", [1, 3])
def test_streamed_and_in_memory_folders_give_the_same_pixels(tmp_path, channels):
    """The in-memory path and the streaming workers decode and resize with the same code: the same uint8
    pixels, whatever the file's mode (p / 255 is computed as a division in one, a product in the other)."""
    folder_of_kinds(tmp_path / "f")
    base = {"name": "image_folder", "root": str(tmp_path / "f"), "image_size": 9, "channels": channels,
            "batch_size": 5, "standardize": False, "val_fraction": 0.0, "test_fraction": 0.3}
    cfg = {"model": {"name": "mlp", "hidden_sizes": [4]}}
    memory = load_data(validate({**cfg, "data": {**base, "stream": False}}))
    stream = load_data(validate({**cfg, "data": {**base, "stream": True, "workers": 2}}))
    for name in ("train", "test"):
        a = torch.cat([x for x, _ in batches(memory.split(name), 5, torch.device("cpu"))])
        b = torch.cat([x for x, _ in batches(stream.split(name), 5, torch.device("cpu"))])
        assert a.shape == b.shape and a.shape[1] == channels
        assert torch.equal((a * 255).round(), (b * 255).round())
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


def test_a_bad_image_in_a_worker_is_one_line_and_exit_2(tmp_path, cli):
    folder_of_kinds(tmp_path / "f")
    png_header_only(tmp_path / "f" / "b" / "bomb.png", 30000, 30000)
    cfg = {"name": "w", "data": {"name": "image_folder", "root": str(tmp_path / "f"), "image_size": 8,
                                 "stream": True, "workers": 1, "standardize": False, "val_fraction": 0},
           "model": {"name": "mlp", "hidden_sizes": [4]}, "train": {"epochs": 1}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = cli("train", "--config", tmp_path / "c.yaml", "--out", tmp_path / "run", "-q")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "bomb.png' has more than 64,000,000 pixels" in lines[0], r.stderr


def test_libjpeg_warnings_stay_off_stderr(tmp_path, capfd):
    import io

    buf = io.BytesIO()
    Image.fromarray(RGB).save(buf, "JPEG")
    data = buf.getvalue()
    sos = data.find(b"\xff\xda")
    (tmp_path / "odd.jpg").write_bytes(data[:sos] + b"\x00\x11\x22" + data[sos:])  # extraneous bytes
    assert read_pixels(tmp_path / "odd.jpg", 3).shape == (12, 16, 3)
    assert capfd.readouterr().err == ""


def test_quiet_silences_the_statistics_line(tmp_path, capfd):
    folder_of_kinds(tmp_path / "f")
    data = {"name": "image_folder", "root": str(tmp_path / "f"), "image_size": 8, "stream": True, "workers": 0,
            "val_fraction": 0.0}
    cfg = {"model": {"name": "mlp", "hidden_sizes": [4]}, "data": data}
    load_data(validate(cfg), quiet=True)
    assert "normalisation statistics" not in capfd.readouterr().err
    load_data(validate(cfg))
    assert "normalisation statistics of" in capfd.readouterr().err


def test_predict_reads_a_folder_of_every_kind(tmp_path):
    """A float TIFF no longer fails a predict folder: each file gets its row."""
    folder_of_kinds(tmp_path / "f")
    cfg = {"name": "p", "seed": 0, "data": {"name": "image_folder", "root": str(tmp_path / "f"), "image_size": 8,
                                            "channels": 1, "val_fraction": 0.0, "test_fraction": 0.3},
           "model": {"name": "mlp", "hidden_sizes": [4]}, "train": {"epochs": 1}}
    run = dlnotes.train(validate(cfg), out=tmp_path / "run", quiet=True)
    rows = run.predict(tmp_path / "f" / "a")
    assert len(rows) == 10 and {Path(r["input"]).name for r in rows} >= {"float.tif", "deep.png", "cmyk.jpg"}
