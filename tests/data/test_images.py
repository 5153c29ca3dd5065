"""read_image / decode_image: 16-bit scaling, the decompression-bomb limit, errors."""

import struct
import zlib

import numpy as np
import pytest
from data_helpers import make_tar, write_image_tree

from keras_resnet.data import load_dataset
from keras_resnet.data.images import MAX_IMAGE_PIXELS, read_image
from keras_resnet.errors import DataError


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png16(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG (gray ``(H, W)`` or RGB ``(H, W, 3)``), written byte by byte.

    Pillow cannot write 16-bit RGB, so the file is assembled here.
    """
    height, width = pixels.shape[:2]
    color_type = 0 if pixels.ndim == 2 else 2
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width x height`` pixels but holds almost no data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + _chunk(b"IEND", b"")
    )


GRAY16 = np.array([[0, 257, 32896, 65535], [1000, 40000, 128, 65000]], np.uint16)


def test_16_bit_grayscale_png_is_scaled_not_white(tmp_path):
    path = tmp_path / "gray16.png"
    path.write_bytes(png16(GRAY16))
    image = read_image(path)
    expected = np.round(GRAY16 * (255 / 65535)).astype(np.uint8)
    assert image.dtype == np.uint8 and image.shape == (2, 4, 3)
    assert np.array_equal(image[..., 0], expected)
    assert np.array_equal(image[..., 0], image[..., 2])
    assert expected.tolist()[0] == [0, 1, 128, 255]  # not all 255 (white)


def test_16_bit_grayscale_written_by_pillow(tmp_path):
    from PIL import Image

    path = tmp_path / "pillow16.png"
    Image.fromarray(GRAY16).save(path)
    assert Image.open(path).mode == "I;16"
    image = read_image(path)
    assert np.array_equal(image[..., 1], np.round(GRAY16 / 257).astype(np.uint8))


def test_16_bit_rgb_png(tmp_path):
    rgb = np.stack([GRAY16, GRAY16[::-1], GRAY16 // 2], axis=-1)
    path = tmp_path / "rgb16.png"
    path.write_bytes(png16(rgb))
    image = read_image(path)
    exact = rgb / 257
    # Pillow reduces 48-bit PNGs to their high byte: within 1 of the rounding.
    assert image.shape == (2, 4, 3) and image.dtype == np.uint8
    assert np.abs(image - exact).max() < 1.0
    assert image[0, 3].tolist() == [255, 253, 127]


@pytest.mark.parametrize("archived", [False, True], ids=["folder", "tar.gz"])
def test_16_bit_images_in_an_image_folder_dataset(tmp_path, archived):
    root = write_image_tree(tmp_path / "tree", size=4)
    for split in ("train", "test"):
        for name in ("cat", "dog", "frog"):
            folder = root / split / name
            (folder / "000.png").write_bytes(png16(np.tile(GRAY16, (2, 1))))
    if archived:
        make_tar(root, tmp_path / "tree.tar.gz")
    splits = load_dataset(str(tmp_path / "tree.tar.gz" if archived else root))
    images, labels = splits.arrays["train"]
    first = images[np.flatnonzero(labels == 0)[0]]
    assert np.array_equal(first[:2, :, 0], np.round(GRAY16 / 257).astype(np.uint8))


def test_decompression_bomb_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(14000, 14000))
    with pytest.raises(ValueError) as info:
        read_image(path)
    message = str(info.value)
    assert isinstance(info.value, DataError) and "\n" not in message
    assert f"image {path} (196,000,000 pixels)" in message
    assert f"{MAX_IMAGE_PIXELS:,}-pixel limit" in message


@pytest.mark.parametrize("size", [(9000, 9000), (20000, 20000)])
def test_pillow_warning_and_error_ranges_become_the_same_error(tmp_path, size):
    # 81M pixels is under Pillow's warning limit, 400M over its error limit.
    path = tmp_path / "big.png"
    path.write_bytes(png_header_only(*size))
    with pytest.raises(DataError) as info:
        read_image(path)
    pixels = f"{size[0] * size[1]:,} pixels) is larger than the 67,108,864-pixel"
    assert pixels in str(info.value)


def test_decompression_bomb_inside_a_dataset(tmp_path):
    root = write_image_tree(tmp_path / "tree")
    (root / "train" / "dog" / "bomb.png").write_bytes(png_header_only(14000, 14000))
    with pytest.raises(DataError) as info:
        load_dataset(str(root))
    assert "bomb.png (196,000,000 pixels) is larger than" in str(info.value)


def test_missing_and_undecodable_files(tmp_path):
    with pytest.raises(DataError, match=f"cannot read image {tmp_path / 'no.png'}"):
        read_image(tmp_path / "no.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="cannot decode image .*junk.png"):
        read_image(str(tmp_path / "junk.png"))
