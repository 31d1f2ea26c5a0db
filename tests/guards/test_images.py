"""Safe image loading: modes to RGB, limits, broken files, animations, hashes, blur."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

Image = pytest.importorskip("PIL.Image")

from clauseguard.guards._images import (  # noqa: E402
    ImageLoadError,
    blur,
    dhash,
    encode_png,
    load_image,
    to_rgb,
)

IMAGES = Path(__file__).parent / "fixtures" / "images"


def _image(mode: str, value: object) -> Image.Image:
    return Image.new(mode, (4, 4), value)


def _palette(rgb: tuple[int, int, int]) -> Image.Image:
    image = Image.new("P", (4, 4), 0)
    image.putpalette(list(rgb) * 256)
    return image


def _palette_with_transparency() -> Image.Image:
    image = _palette((10, 20, 30))
    image.info["transparency"] = 0
    return image


def _colour_key(mode: str, value: object) -> Image.Image:
    """One colour marked transparent (PNG tRNS), as Pillow reads it back: ``info["transparency"]``."""
    image = _image(mode, value)
    image.info["transparency"] = value
    return image


# (mode, builder, the RGB a viewer sees)
MODES = [
    ("RGB", lambda: _image("RGB", (10, 20, 30)), (10, 20, 30)),
    ("1 white", lambda: _image("1", 1), (255, 255, 255)),
    ("L", lambda: _image("L", 77), (77, 77, 77)),
    ("P", lambda: _palette((200, 0, 0)), (200, 0, 0)),
    ("P transparent", _palette_with_transparency, (255, 255, 255)),
    ("LA transparent", lambda: _image("LA", (0, 0)), (255, 255, 255)),
    ("RGB colour key", lambda: _colour_key("RGB", (0, 255, 0)), (255, 255, 255)),
    ("L colour key", lambda: _colour_key("L", 0), (255, 255, 255)),
    ("LA opaque", lambda: _image("LA", (50, 255)), (50, 50, 50)),
    ("RGBA transparent", lambda: _image("RGBA", (0, 0, 0, 0)), (255, 255, 255)),
    ("RGBA half", lambda: _image("RGBA", (0, 0, 0, 128)), (127, 127, 127)),
    ("CMYK white", lambda: _image("CMYK", (0, 0, 0, 0)), (255, 255, 255)),
    ("CMYK cyan", lambda: _image("CMYK", (255, 0, 0, 0)), (0, 255, 255)),
    ("I;16 max", lambda: _image("I;16", 65535), (255, 255, 255)),
    ("I;16 mid", lambda: _image("I;16", 32896), (128, 128, 128)),
    ("I 16-bit", lambda: _image("I", 65535), (255, 255, 255)),
    ("I 8-bit range", lambda: _image("I", 200), (200, 200, 200)),
    ("F unit", lambda: _image("F", 0.5), (128, 128, 128)),
    ("F white", lambda: _image("F", 1.0), (255, 255, 255)),
]


@pytest.mark.parametrize(("name", "build", "rgb"), MODES, ids=[m[0] for m in MODES])
def test_every_mode_becomes_what_a_viewer_sees(name, build, rgb) -> None:
    converted = to_rgb(build())
    assert converted.mode == "RGB"
    assert all(abs(a - b) <= 1 for a, b in zip(converted.getpixel((0, 0)), rgb, strict=True))


@pytest.mark.parametrize(("name", "build", "rgb"), MODES, ids=[m[0] for m in MODES])
def test_load_from_pil_image_in_every_mode(name, build, rgb) -> None:
    loaded = load_image(build())
    assert loaded.format == "PNG" and loaded.frames[0].mode == "RGB" and loaded.size == (4, 4)


@pytest.mark.parametrize("source", ["bytes", "path", "str", "pil"])
def test_load_sources(source) -> None:
    path = IMAGES / "text.png"
    given = {"bytes": path.read_bytes(), "path": path, "str": str(path),
             "pil": Image.open(path)}[source]
    loaded = load_image(given)
    assert loaded.size == (128, 128) and len(loaded.frames) == 1 and loaded.format == "PNG"


@pytest.mark.parametrize(("name", "kwargs", "reason"), [
    ("truncated.png", {}, "cannot be decoded"),
    ("not-an-image.png", {}, "not a readable image"),
    ("bomb.png", {}, "decompression bomb"),
    ("gradient.png", {"max_pixels": 100}, "too large to check"),
    ("gradient.png", {"max_bytes": 100}, "too large to check"),
    ("animated.gif", {"max_frames": 2}, "3 frames"),
    ("missing.png", {}, "cannot read image file"),
])
def test_uncheckable_images_raise(name, kwargs, reason) -> None:
    with pytest.raises(ImageLoadError, match=reason):
        load_image(IMAGES / name, **kwargs)


def test_bomb_between_limits_is_refused_before_decoding() -> None:
    from fixtures.images.generate import bomb_header  # the fixture generator

    with pytest.raises(ImageLoadError, match="too large to check"):
        load_image(bomb_header(8000, 6000))  # 48 MP: over 40 MP, under Pillow's own bomb limit


def test_frames_are_limited_in_total_pixels_and_metadata_reads_decode_one(monkeypatch) -> None:
    """Many frames on a large canvas (a small APNG of one-pixel frames) would be one RGB copy each."""
    import clauseguard.guards._images as images
    from clauseguard.guards.image_mark import read_marks

    data = (IMAGES / "animated.gif").read_bytes()
    width, height = load_image(data).size
    monkeypatch.setattr(images, "MAX_TOTAL_PIXELS", width * height * 2)  # 3 frames: one too many
    with pytest.raises(ImageLoadError, match=r"3 frames of .* pixels > "):
        load_image(data)
    assert len(load_image(data, first_frame_only=True).frames) == 1
    assert read_marks(data)["format"] == "GIF"


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_every_frame_of_an_animation_is_loaded(fmt) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "lime", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], lossless=True)
    loaded = load_image(buffer.getvalue())
    assert [f.getpixel((0, 0)) for f in loaded.frames] == [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def test_describe_has_hashes_and_sizes_never_pixels() -> None:
    loaded = load_image(IMAGES / "text.png")
    described = loaded.describe()
    assert set(described) == {"sha256", "dhash", "format", "mode", "width", "height", "frames", "bytes"}
    assert len(described["sha256"]) == 64 and len(described["dhash"]) == 16
    assert all(isinstance(v, str | int) for v in described.values())


def test_dhash_survives_reencoding_and_resizing_but_tells_pictures_apart() -> None:
    from PIL import ImageOps

    original = Image.effect_mandelbrot((256, 256), (-2.0, -1.5, 1.0, 1.5), 100).convert("RGB")
    as_jpeg = Image.open(io.BytesIO(_jpeg(original))).convert("RGB").resize((100, 100))
    assert _hamming(dhash(original), dhash(as_jpeg)) <= 4
    assert _hamming(dhash(original), dhash(ImageOps.mirror(original))) >= 16


def test_blur_hides_detail_and_keeps_size() -> None:
    from fixtures.images.generate import text_on_white

    image = text_on_white(256)
    blurred = Image.open(io.BytesIO(blur(image)))
    assert blurred.format == "PNG" and blurred.size == image.size
    assert min(blurred.convert("L").tobytes()) >= 128  # the black text is gone: no pixel stays dark
    assert blurred.getextrema() != ((0, 0), (0, 0), (0, 0))  # not a black square


def test_encode_png_keeps_frames() -> None:
    loaded = load_image(IMAGES / "animated.gif")
    again = load_image(encode_png(Image.open(IMAGES / "animated.gif")))
    assert len(again.frames) == len(loaded.frames) == 3


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


def _hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def _grey16_with_a_transparent_value() -> bytes:
    """A 16-bit greyscale PNG whose tRNS makes 65535 transparent: a near-white square (65534) on it is
    blank on a white page and plain on a dark one."""
    import struct
    import zlib

    import numpy as np

    from clauseguard.guards._xmp import PNG_SIGNATURE, png_chunk

    values = np.full((64, 64), 65535, ">u2")
    values[16:48, 16:48] = 65534
    rows = b"".join(b"\x00" + row.tobytes() for row in values)
    return PNG_SIGNATURE + b"".join([png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 16, 0, 0, 0, 0)),
                                     png_chunk(b"tRNS", struct.pack(">H", 65535)),
                                     png_chunk(b"IDAT", zlib.compress(rows)), png_chunk(b"IEND", b"")])


def test_a_16_bit_greyscale_colour_key_is_transparent() -> None:
    """A 16-bit greyscale PNG with tRNS (Pillow's mode I;16) was taken as opaque: judged on white only,
    where the picture hidden by its transparent value does not show."""
    from clauseguard.guards._images import has_transparency

    loaded = load_image(_grey16_with_a_transparent_value())
    assert loaded.mode == "I;16"
    with Image.open(io.BytesIO(loaded.data)) as image:
        assert has_transparency(image)
    (on_white,), (on_black,) = loaded.frames, loaded.on_black
    assert on_white.getpixel((0, 0)) == on_white.getpixel((32, 32)) == (255, 255, 255)
    assert on_black.getpixel((0, 0)) == (0, 0, 0) and on_black.getpixel((32, 32)) == (255, 255, 255)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_path_that_is_not_a_regular_file_is_refused_unread() -> None:
    """load_image('/dev/zero') read without end: the size limit was checked against the size stat gives,
    which is 0 for a device (and a FIFO), not against what was read."""
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_image("/dev/zero")
