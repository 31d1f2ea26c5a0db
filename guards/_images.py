"""Safe image loading for the image guards: bounded, fail-closed, every frame, every mode to RGB.

An image guard must judge what a viewer would see, so every frame of an animation is decoded, turned as
its Exif Orientation says, and every pixel mode is turned into the RGB a browser would show
(transparency composited on white, 16-bit and float greyscale rescaled, CMYK converted). Whatever
cannot be decoded within the limits — corrupt or truncated files, decompression bombs, animations with
too many frames — raises :class:`ImageLoadError`, which the guards turn into a block with a finding
saying why: an image nobody could check is never released.

What is recorded about an image is :func:`describe` — hashes and sizes, never pixels.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clauseguard.errors import GuardError

if TYPE_CHECKING:
    from PIL import Image

    from clauseguard.guards._base import Guard
    from clauseguard.guards._verdict import Verdict

    ImageSource = bytes | bytearray | str | Path | Image.Image

__all__ = [
    "MAX_BYTES",
    "MAX_FRAMES",
    "MAX_PIXELS",
    "MAX_TOTAL_PIXELS",
    "ImageLoadError",
    "LoadedImage",
    "blur",
    "dhash",
    "encode_png",
    "has_transparency",
    "load_image",
    "plays",
    "read_file",
    "refusal",
    "to_rgb",
]

MAX_PIXELS = 40_000_000  # 40 MP: above any generator's output, below what a bomb needs
MAX_BYTES = 50 * 1024 * 1024
MAX_FRAMES = 64
# Over every frame decoded: each becomes an RGB copy, so 64 frames of a 40 MP canvas (a 40 KB APNG of
# one-pixel frames) would take 8 GB. 100 MP is 300 MB of RGB, and 64 frames of 1024x1024.
MAX_TOTAL_PIXELS = 100_000_000
_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"})  # what PNG stores as it is


class ImageLoadError(GuardError):
    """The content is not an image that can be checked within the limits (the guard blocks it)."""


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image: its encoded bytes, what it is, and each frame as RGB.

    ``data`` is the encoded image (PNG bytes when the caller gave a PIL image); ``frames`` are the
    frames as a viewer sees them, in RGB, transparency on white, turned as the Exif Orientation says
    (``size`` is the file's, as stored). ``on_black`` holds the same frames on
    black when the image has transparency (empty otherwise): a picture drawn in the alpha channel of
    a white image is blank on white and plain on a dark page, so a judge of content scores both.
    ``managed`` holds the frames with their ICC profile (or PNG gamma) applied, as a colour-managed
    viewer (a browser) shows them, when the image has one that can be applied (empty otherwise): a
    profile can change the picture entirely (tone curves that run backwards show a negative, a gamma of
    0.02 a faint drawing at full contrast), so both are judged. ``embedded`` holds the other pictures
    the file carries, which some viewers show instead of its frames: the Exif thumbnail (file managers,
    cameras) and an icon's smaller sizes (ICO, ICNS), each in RGB on white, and on black when it has
    transparency (empty for most images, and when only the first frame was asked for).
    """

    data: bytes
    format: str
    mode: str
    size: tuple[int, int]
    frames: tuple[Image.Image, ...]
    on_black: tuple[Image.Image, ...] = ()
    managed: tuple[Image.Image, ...] = ()
    embedded: tuple[Image.Image, ...] = ()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def describe(self) -> dict[str, Any]:
        """What may be recorded about this image: hashes and sizes, never pixels."""
        return {"sha256": self.sha256, "dhash": dhash(self.frames[0]), "format": self.format,
                "mode": self.mode, "width": self.size[0], "height": self.size[1],
                "frames": len(self.frames), "bytes": len(self.data)}


def load_image(source: ImageSource, *, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES,
               max_frames: int = MAX_FRAMES, first_frame_only: bool = False) -> LoadedImage:
    """Decode ``source`` (bytes, a path or a PIL image) within the limits, or raise ImageLoadError.
    ``first_frame_only`` decodes frame 0 alone, whatever the frame count (for reading metadata)."""
    from PIL import Image

    if isinstance(source, Image.Image):
        data = encode_png(source if source.mode in _PNG_MODES else to_rgb(source))
    else:
        data = _read_bytes(source, max_bytes)
    if len(data) > max_bytes:
        raise ImageLoadError(f"image too large to check ({len(data)} > {max_bytes} bytes)")
    return _decode(data, max_pixels=max_pixels, max_frames=max_frames, first_frame_only=first_frame_only)


def _read_bytes(source: bytes | bytearray | str | Path, max_bytes: int) -> bytes:
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    if not isinstance(source, str | Path):
        raise ImageLoadError(f"content of type {type(source).__name__} is not an image")
    return read_file(Path(source), max_bytes)


def read_file(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes``, or ImageLoadError. A device or a
    FIFO is refused unread (stat gives /dev/zero a size of 0, and it has no end); opened without
    blocking, as a FIFO's open waits for a writer; and never more than ``max_bytes + 1`` bytes are read,
    whatever stat said (a file may grow)."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as err:
        raise ImageLoadError(f"cannot read image file {path}: {err.strerror or err}") from err
    with os.fdopen(fd, "rb") as file:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ImageLoadError("not a regular file (a device or a FIFO, say); refused unread")
            if info.st_size > max_bytes:
                raise ImageLoadError(f"image too large to check ({info.st_size} > {max_bytes} bytes)")
            data = file.read(max_bytes + 1)
        except OSError as err:
            raise ImageLoadError(f"cannot read image file {path}: {err.strerror or err}") from err
    if len(data) > max_bytes:
        raise ImageLoadError(f"image too large to check (over {max_bytes} bytes)")
    return data


def _decode(data: bytes, *, max_pixels: int, max_frames: int, first_frame_only: bool = False) -> LoadedImage:
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:
        raise ImageLoadError(f"image too large to check; possibly a decompression bomb ({err})") from err
    except Image.UnidentifiedImageError as err:  # Pillow's message names its BytesIO, not the file
        raise ImageLoadError("not a readable image: no image format recognised in its bytes") from err
    except Exception as err:  # any other decoder failure: the image cannot be checked
        raise ImageLoadError(f"not a readable image: {type(err).__name__}: {err}") from err
    width, height = image.size
    if width * height > max_pixels:
        raise ImageLoadError(f"image too large to check ({width}x{height} = {width * height} pixels > "
                             f"{max_pixels}); possibly a decompression bomb")
    try:  # counting frames reads through the file: a truncated GIF fails here (IndexError, struct.error)
        n_frames = 1 if first_frame_only else int(getattr(image, "n_frames", 1))
    except Exception as err:
        raise ImageLoadError(f"image cannot be decoded: {type(err).__name__}: {err}") from err
    if n_frames > max_frames:
        raise ImageLoadError(f"animated image has {n_frames} frames; at most {max_frames} are checked")
    if width * height * n_frames > MAX_TOTAL_PIXELS:
        raise ImageLoadError(f"animated image too large to check ({n_frames} frames of {width}x{height} = "
                             f"{width * height * n_frames} pixels > {MAX_TOTAL_PIXELS})")
    try:
        frames, on_black, managed = _frames(image, n_frames, max_pixels)
        embedded = () if first_frame_only else _embedded(image, max_pixels)
    except ImageLoadError:
        raise
    except Exception as err:  # truncated data, bad chunk, bomb, ...: cannot be checked
        raise ImageLoadError(f"image cannot be decoded: {type(err).__name__}: {err}") from err
    return LoadedImage(data=data, format=image.format or "unknown", mode=image.mode, size=(width, height),
                       frames=frames, on_black=on_black, managed=managed, embedded=embedded)


def _frames(image: Image.Image, n_frames: int, max_pixels: int) -> tuple[tuple[Image.Image, ...], ...]:
    """Each frame in RGB on white, on black too when the image has transparency, and colour-managed when
    it has an ICC profile. A frame may be larger than the first (a TIFF page, a GIF frame past the
    logical screen): each is held to the limits before it is decoded."""
    out, on_black, managed, transparent, total = [], [], [], False, 0
    turn, info = _orientation(image), dict(image.info)  # the first frame's, for every frame
    for index in range(n_frames):
        image.seek(index)
        total = _counted(image, total, max_pixels, f"frame {index + 1}")
        image.load()
        out.append(_turned(to_rgb(image), turn))
        if managed is not None and (view := _colour_managed(image, out[-1], info)) is not None:
            managed.append(_turned(view, turn))
        else:  # no profile, or one that cannot be applied (a viewer then shows the values as they are)
            managed = None
        if has_transparency(image):
            transparent = True
            on_black.append(_turned(to_rgb(image, background=(0, 0, 0)), turn))
        else:  # an opaque frame looks the same on any page
            on_black.append(out[-1])
    return tuple(out), tuple(on_black) if transparent else (), tuple(managed or ())


def _counted(picture: Image.Image, total: int, max_pixels: int, what: str) -> int:
    """``total`` pixels so far plus ``picture``'s, held to the limits before it is decoded, or ImageLoadError."""
    width, height = picture.size
    total += width * height
    if width * height > max_pixels or total > MAX_TOTAL_PIXELS:
        raise ImageLoadError(f"image too large to check ({what} is {width}x{height}, {total} pixels in all); "
                             "possibly a decompression bomb")
    return total


def _embedded(image: Image.Image, max_pixels: int) -> tuple[Image.Image, ...]:
    """The pictures besides the frames that a viewer may show, as :class:`LoadedImage` describes them.
    Each is held to the pixel limit, and all of them together to the total; one that cannot be decoded
    makes the image one that cannot be checked. Cheap for an image with neither: no work is done."""
    views, total = [], 0
    try:
        for picture in _embedded_pictures(image):  # each opened as the one before is decoded
            total = _counted(picture, total, max_pixels, "an embedded picture")
            picture.load()
            views.append(to_rgb(picture))
            if has_transparency(picture):
                views.append(to_rgb(picture, background=(0, 0, 0)))
    except ImageLoadError:
        raise
    except Exception as err:
        raise ImageLoadError(f"a picture it embeds (Exif thumbnail, icon size) cannot be decoded: "
                             f"{type(err).__name__}: {err}") from err
    return tuple(views)


def _embedded_pictures(image: Image.Image) -> Iterator[Image.Image]:
    """An ICO's or ICNS's sizes other than the one Pillow decoded (its largest), and the Exif thumbnail;
    opened, not decoded."""
    if image.format == "ICO":
        ico = image.ico  # type: ignore[attr-defined]
        yield from (ico.frame(index) for index in range(1, len(ico.entry)))
    elif image.format == "ICNS":
        icns, shown = image.icns, image.best_size  # type: ignore[attr-defined]
        yield from (icns.getimage(size) for size in icns.itersizes() if size != shown)
    exif = image.info.get("exif")
    if isinstance(exif, bytes) and (thumbnail := _exif_thumbnail(exif)) is not None:
        yield thumbnail


def _exif_thumbnail(exif: bytes) -> Image.Image | None:
    """The thumbnail in an Exif block's second directory (IFD1), opened (not decoded), or None when there
    is none. A JPEG thumbnail is read where its offset and length say; an uncompressed one is read as the
    TIFF the block is, starting at IFD1. One that lies outside the block cannot be checked."""
    import struct

    from PIL import Image

    tiff = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return None
    (first,) = struct.unpack_from(order + "I", tiff, 4)
    if first + 2 > len(tiff):
        return None
    next_at = first + 2 + 12 * struct.unpack_from(order + "H", tiff, first)[0]
    if next_at + 4 > len(tiff) or (ifd1 := struct.unpack_from(order + "I", tiff, next_at)[0]) == 0:
        return None
    if ifd1 + 2 > len(tiff):  # no directory there: nothing any viewer could show
        return None
    tags, end = {}, min(ifd1 + 2 + 12 * struct.unpack_from(order + "H", tiff, ifd1)[0], len(tiff) - 11)
    for at in range(ifd1 + 2, end, 12):  # each entry: tag, type, count, value (a SHORT or a LONG here)
        tag, kind = struct.unpack_from(order + "HH", tiff, at)
        tags[tag] = struct.unpack_from(order + ("H" if kind == 3 else "I"), tiff, at + 8)[0]
    if 0x0201 in tags:  # JPEGInterchangeFormat, JPEGInterchangeFormatLength
        start, length = tags[0x0201], tags.get(0x0202, 0)
        if length <= 0 or start + length > len(tiff):
            raise ImageLoadError("its Exif thumbnail lies outside the Exif data")
        return Image.open(io.BytesIO(tiff[start:start + length]))
    if 0x0111 in tags:  # StripOffsets: an uncompressed thumbnail
        return Image.open(io.BytesIO(tiff[:4] + struct.pack(order + "I", ifd1) + tiff[8:]))
    return None


def _colour_managed(frame: Image.Image, rgb: Image.Image, info: dict[str, Any]) -> Image.Image | None:
    """``frame`` as a colour-managed viewer shows it, in sRGB: its ICC profile applied (from ``rgb``, its
    RGB on white, for modes lcms does not take), or without one a PNG gAMA other than sRGB's; None when
    there is neither, or the profile cannot be applied."""
    from PIL import ImageCms

    icc, gamma = info.get("icc_profile"), info.get("gamma")
    if not icc and gamma and "srgb" not in info and abs(gamma * 2.2 - 1.0) > 0.02:
        exponent = 1.0 / (gamma * 2.2)  # the file's values decoded by its gamma, encoded for a 2.2 display
        return rgb.point([round(255 * (value / 255) ** exponent) for value in range(256)] * 3)
    if not icc:
        return None
    try:
        source = frame if frame.mode in ("RGB", "L", "CMYK") else rgb
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(source, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """How to turn the pixels to show them as a viewer does (Exif Orientation 2-8), or None."""
    from PIL import Image

    return {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}.get(image.getexif().get(0x0112, 1))


def _turned(frame: Image.Image, turn: Image.Transpose | None) -> Image.Image:
    return frame if turn is None else frame.transpose(turn)


def has_transparency(image: Image.Image) -> bool:
    """An alpha channel, or one colour marked transparent (palette or PNG tRNS, 16-bit greyscale's too)."""
    return image.mode in ("LA", "RGBA", "PA", "RGBa", "La") or (
        image.mode in ("1", "L", "P", "RGB") and "transparency" in image.info) or _grey_key(image) is not None


def _grey_key(image: Image.Image) -> int | None:
    """The greyscale value a 16-bit or int image's tRNS makes transparent (Pillow's modes I;16 and I)."""
    key = image.info.get("transparency")
    wide = image.mode.startswith("I;16") or image.mode == "I"
    return key if wide and isinstance(key, int) and not isinstance(key, bool) else None


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """The RGB picture a viewer sees: alpha composited on ``background`` (white); 16-bit, int and float
    rescaled."""
    from PIL import Image

    mode = image.mode
    if mode in ("1", "L", "RGB") and "transparency" in image.info:  # one colour transparent (PNG tRNS)
        image, mode = image.convert("RGBA"), "RGBA"
    if mode == "RGB":
        return image.copy()
    if mode.startswith("I;16") or mode in ("I", "F"):
        if (key := _grey_key(image)) is None:
            return _scaled_grey(image).convert("RGB")
        # the pixels of that value transparent (Pillow's own convert ignores a 16-bit tRNS)
        image, mode = Image.merge("LA", (_scaled_grey(image), _key_alpha(image, key))), "LA"
    if (mode == "P" and "transparency" in image.info) or mode == "PA":
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("RGBa", "La"):  # premultiplied alpha: un-premultiply first
        mode = "RGBA" if mode == "RGBa" else "LA"
        image = image.convert(mode)
    if mode in ("LA", "RGBA"):
        rgba = image.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(backdrop, rgba).convert("RGB")
    return image.convert("RGB")


def _scaled_grey(image: Image.Image) -> Image.Image:
    """Greyscale of more than 8 bits to 8 bits: 16-bit by its range, float by [0, 1] or its min-max."""
    import numpy as np
    from PIL import Image

    array = np.asarray(image, dtype=np.float64)
    if image.mode == "F" and array.size and array.min() >= 0.0 and array.max() <= 1.0:
        scaled = array * 255.0
    elif image.mode != "F" and array.size and array.min() >= 0.0 and array.max() <= 65535.0:
        scaled = array / 257.0 if (image.mode != "I" or array.max() > 255.0) else array
    else:
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        scaled = (array - low) * (255.0 / (high - low)) if high > low else np.zeros_like(array)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def _key_alpha(image: Image.Image, key: int) -> Image.Image:
    """An alpha mask: 0 where ``image`` holds the transparent value ``key``, 255 elsewhere."""
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.where(np.asarray(image) == key, 0, 255).astype(np.uint8), mode="L")


def dhash(image: Image.Image, size: int = 8) -> str:
    """64-bit difference hash (hex): equal for re-encodes and resizes, so a blocked image is recognised."""
    grey = image.convert("L").resize((size + 1, size))
    pixels = grey.tobytes()
    bits = 0
    for row in range(size):
        for col in range(size):
            left, right = pixels[row * (size + 1) + col], pixels[row * (size + 1) + col + 1]
            bits = (bits << 1) | (left > right)
    return f"{bits:0{size * size // 4}x}"


def encode_png(image: Image.Image, **options: Any) -> bytes:
    """PNG bytes of ``image``, every frame of an animation kept (APNG); a mode PNG cannot store (CMYK,
    LAB, float) becomes the RGB a viewer sees."""
    if image.mode not in _PNG_MODES:
        image = to_rgb(image)
    buffer = io.BytesIO()
    animated = int(getattr(image, "n_frames", 1)) > 1
    image.save(buffer, format="PNG", save_all=animated, **({"loop": plays(image)} if animated else {}), **options)
    return buffer.getvalue()


def plays(image: Image.Image) -> int:
    """How many times an animation plays, as APNG and WebP count (0: forever). A GIF without a loop
    count plays once."""
    return int(image.info.get("loop", 1 if image.format == "GIF" else 0))


def blur(image: Image.Image) -> bytes:
    """A strong pixelation plus Gaussian blur of the whole image, as PNG: shapes remain, content does not."""
    from PIL import Image, ImageFilter

    rgb = to_rgb(image)
    width, height = rgb.size
    scale = max(width, height) / 12.0
    small = rgb.resize((max(1, round(width / scale)), max(1, round(height / scale))), Image.Resampling.BOX)
    coarse = small.resize((width, height), Image.Resampling.NEAREST)
    return encode_png(coarse.filter(ImageFilter.GaussianBlur(radius=max(width, height) / 24.0)))


def refusal(guard: Guard, content: bytes | str, err: Exception) -> Verdict:
    """The verdict on an image that cannot be checked: a block (a flag under ``on_error: flag``)."""
    from clauseguard.guards._params import Action
    from clauseguard.guards._verdict import Finding, Verdict

    action = Action(guard.spec.on_error)
    metadata = {"image": {"sha256": hashlib.sha256(_as_bytes(content)).hexdigest(), "bytes": len(content)}}
    finding = Finding(guard_id=guard.id, category=None, score=1.0, clause_ids=tuple(guard.spec.clauses),
                      message=f"image cannot be checked: {err}", action=action)
    if action is Action.BLOCK:
        return Verdict(allowed=False, action=action, output=None, findings=(finding,), guard_id=guard.id,
                       metadata=metadata)
    return Verdict(allowed=True, action=action, output=content, findings=(finding,), guard_id=guard.id,
                   metadata=metadata)


def _as_bytes(content: bytes | str) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else bytes(content)
