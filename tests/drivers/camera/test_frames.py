"""Frame arithmetic and image files, numpy-only paths and Pillow paths."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.camera.frames import prepare, read_image, resize, to_gray, write_image
from drivers.camera.replay import part_image


def test_box_resize_averages_each_cell():
    f = np.array([[0, 10, 100, 100], [20, 30, 100, 100], [0, 0, 255, 255], [0, 0, 255, 255]], dtype=np.uint8)
    assert resize(f, 2, 2).tolist() == [[15, 100], [0, 255]]
    assert resize(f, 4, 4) is not None and np.array_equal(resize(f, 4, 4), f)


def test_resize_rgb_keeps_channels_and_enlarges_by_nearest():
    f = np.zeros((2, 2, 3), dtype=np.uint8)
    f[0, 0] = (255, 0, 0)
    big = resize(f, 4, 4)
    assert big.shape == (4, 4, 3)
    assert big[:2, :2].tolist() == [[[255, 0, 0]] * 2] * 2 and big[3, 3].tolist() == [0, 0, 0]


def test_gray_uses_bt601_luma():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    assert to_gray(rgb).tolist() == [[76, 150, 29]]


def test_prepare_matches_the_model_feature_pipeline():
    features = pytest.importorskip("models.features")
    frame = part_image(3, width=640, height=480, color=True)
    ours = prepare(frame, width=96, height=96, grayscale=True)
    assert ours.shape == (96, 96) and ours.dtype == np.uint8 and ours.flags.c_contiguous
    assert np.array_equal(features.image_features(ours, size=96), ours)
    assert np.abs(features.image_features(frame, size=96).astype(int) - ours.astype(int)).max() <= 1


@pytest.mark.parametrize("suffix", [".pgm", ".png"])
def test_gray_roundtrip(tmp_path, suffix):
    frame = part_image(1)
    path = write_image(tmp_path / f"a{suffix}", frame)
    assert np.array_equal(read_image(path), frame)
    assert [p.name for p in tmp_path.iterdir()] == [f"a{suffix}"]  # no temp file left


@pytest.mark.parametrize("suffix", [".ppm", ".png"])
def test_color_roundtrip(tmp_path, suffix):
    frame = part_image(2, color=True)
    assert np.array_equal(read_image(write_image(tmp_path / f"c{suffix}", frame)), frame)


def test_sixteen_bit_pgm_is_scaled(tmp_path):
    path = tmp_path / "deep.pgm"
    pixels = np.array([[0, 65535], [32768, 1000]], dtype=">u2")
    path.write_bytes(b"P5\n# a comment\n2 2\n65535\n" + pixels.tobytes())
    assert read_image(path).tolist() == [[0, 255], [127, 3]]


def test_jpeg_snapshot_is_lossy_but_close(tmp_path):
    frame = part_image(4, color=True)
    back = read_image(write_image(tmp_path / "s.jpg", frame))
    assert back.shape == frame.shape
    assert np.abs(back.astype(int) - frame.astype(int)).mean() < 4


def test_bad_inputs_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="unknown image type"):
        write_image(tmp_path / "x.gif2", part_image(0))
    with pytest.raises(ValueError, match="HxW"):
        prepare(np.zeros((2, 2, 2)), width=8, height=8, grayscale=True)
    (tmp_path / "ascii.pgm").write_bytes(b"P2\n1 1\n255\n0\n")
    with pytest.raises(ValueError, match="P5/P6"):
        read_image(tmp_path / "ascii.pgm")
