"""Machine-readable AI-generated marks on images (EU AI Act Art. 50(2)), and reading them back.

:func:`mark_image` writes the IPTC ``DigitalSourceType`` into the image's XMP packet — a PNG iTXt chunk
``XML:com.adobe.xmp``, a JPEG APP1 segment, a WebP ``XMP`` chunk — and, in PNG, plain tEXt chunks
(``AI-Generated: true``) that simple tools show. PNG, JPEG and WebP are edited chunk by chunk, never
re-encoded, so pixels and every other metadata chunk stay as they were. A visible label (optional)
is drawn into a corner, which does re-encode. Other formats (GIF, BMP, TIFF, ...) are converted to
PNG, since an unmarked image must not be released. :func:`read_marks` reports what marks a file
carries, including whether a C2PA manifest is present (its JUMBF box: PNG ``caBX``, JPEG APP11, WebP
``C2PA``); it does not validate C2PA.
"""

from __future__ import annotations

import io
import itertools
import logging
from typing import Any

from clauseguard.guards import _xmp
from clauseguard.guards._base import Context, Guard
from clauseguard.guards._images import _PNG_MODES, ImageLoadError, encode_png, load_image, plays, refusal, to_rgb
from clauseguard.guards._params import Action, ImageMarkParams
from clauseguard.guards._registry import register
from clauseguard.guards._verdict import Verdict

__all__ = ["AI_TEXT_KEYS", "ImageMarkGuard", "mark_image", "read_marks"]

log = logging.getLogger("clauseguard.guards")

# The PNG text chunks this module writes (and replaces when marking again).
AI_TEXT_KEYS = ("AI-Generated", "DigitalSourceType", "AI-Label")
_AI_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia")


def mark_image(data: bytes, *, digital_source_type: str = "trainedAlgorithmicMedia",
               visible_label: str | None = None) -> bytes:
    """``data`` with the AI-generated marks written in; raises ImageLoadError for a non-image."""
    loaded = load_image(data)
    uri = _xmp.dst_uri(digital_source_type)
    fmt = _format(loaded.format)
    # Drawing a label re-encodes the image, which drops the XMP packet, PNG text and colour chunks and
    # JPEG IPTC segment it carried: the mark goes into the original packet, and the rest goes back in.
    packet, kept = None, []
    if visible_label:
        packet = _READERS.get(fmt, _read_other)(data)[0]
        if fmt == "PNG":
            kept = [(k, p) for k, p in _xmp.png_chunks(data) if k in _KEPT_CHUNKS and not _is_ours(k, p)]
        elif fmt == "JPEG":
            kept = [(m, p) for m, p in _xmp.jpeg_segments(data)[0] if m in _KEPT_SEGMENTS]
        data = _draw_label(loaded.data, fmt, visible_label)
        fmt = fmt if fmt in _READERS else "PNG"
    if fmt == "PNG":
        return _mark_png(data, uri, visible_label, packet, kept)
    if fmt == "JPEG":
        return _mark_jpeg(data, uri, packet, kept)
    if fmt == "WEBP":
        return _mark_webp(data, uri, packet)
    return _mark_png(_as_png(data), uri, visible_label, packet or _read_other(data)[0])


def read_marks(data: bytes) -> dict[str, Any]:
    """The AI-generated marks ``data`` carries: XMP DigitalSourceType, PNG text, C2PA presence."""
    loaded = load_image(data, first_frame_only=True)  # the marks are metadata: no need to decode every frame
    packet, text, c2pa = _READERS.get(_format(loaded.format), _read_other)(data)
    marks: dict[str, Any] = {"format": loaded.format, "width": loaded.size[0], "height": loaded.size[1],
                             "xmp": packet is not None, "digital_source_type": None, "png_text": text,
                             "c2pa_manifest": c2pa, "errors": []}
    if packet is not None:
        try:
            marks["digital_source_type"] = _xmp.read_digital_source_type(packet)
        except _xmp.XmpError as err:
            marks["errors"].append(str(err))
    dst = marks["digital_source_type"] or text.get("DigitalSourceType") or ""
    marks["ai_generated"] = (dst.rsplit("/", 1)[-1] in _AI_TYPES
                             or text.get("AI-Generated", "").lower() == "true")
    return marks


def _format(pillow_format: str) -> str:
    """The format whose structure carries the marks: an MPO (a camera's JPEG with a second picture, a
    stereo view or depth map, after its end) is a JPEG, and is marked as one."""
    return "JPEG" if pillow_format == "MPO" else pillow_format


# -- PNG ----------------------------------------------------------------------------------------------

_TEXT_CHUNKS = (b"tEXt", b"iTXt", b"zTXt")
# What a label's re-encoding drops and puts back: text, and how the values map to colours (gamma,
# chromaticities, sRGB intent), which still describe the labelled pixels. Pillow writes pHYs from dpi.
_KEPT_CHUNKS = (*_TEXT_CHUNKS, b"gAMA", b"cHRM", b"sRGB")


def _mark_png(data: bytes, uri: str, label: str | None, base: bytes | None = None,
              texts: list[tuple[bytes, bytes]] | None = None) -> bytes:
    """``base``: the packet to extend when ``data`` has none (the original's, before a label re-encoded
    it); ``texts``: text and colour chunks to put back (likewise)."""
    chunks = _xmp.png_chunks(data)
    packet = _new_packet(_png_packet(chunks) or base, uri)
    kept = [(k, p) for k, p in chunks if not _is_ours(k, p)]
    if texts:
        kept[1:1] = texts
    ours = [_xmp.png_itxt(_xmp.PNG_XMP_KEYWORD, packet),
            _xmp.png_chunk(b"tEXt", b"AI-Generated\x00true"),
            _xmp.png_chunk(b"tEXt", b"DigitalSourceType\x00" + uri.encode("latin-1"))]
    if label:
        ours.append(_xmp.png_itxt(b"AI-Label", label.encode("utf-8")))
    out = [_xmp.PNG_SIGNATURE, _xmp.png_chunk(*kept[0]), *ours]  # right after IHDR
    out.extend(_xmp.png_chunk(k, p) for k, p in kept[1:])
    return b"".join(out)


def _is_ours(kind: bytes, payload: bytes) -> bool:
    text = _xmp.png_text(kind, payload) if kind in _TEXT_CHUNKS else None
    return text is not None and (text[0] in AI_TEXT_KEYS or text[0] == _xmp.PNG_XMP_KEYWORD.decode())


def _png_packet(chunks: list[tuple[bytes, bytes]]) -> bytes | None:
    """The XMP packet: iTXt by the XMP spec; zTXt and tEXt as some writers do, whose bytes are taken as
    they are where they are UTF-8, as XMP is (read as the Latin-1 those chunks nominally hold, a 'ë' came
    back 'Ã«'), and as Latin-1 otherwise."""
    for kind, payload in chunks:
        if kind in _TEXT_CHUNKS and payload.startswith(_xmp.PNG_XMP_KEYWORD + b"\x00"):
            rest = payload[len(_xmp.PNG_XMP_KEYWORD) + 1:]
            if kind in (b"tEXt", b"zTXt"):
                raw = rest if kind == b"tEXt" else _xmp.inflate(rest[1:])
                try:
                    raw.decode("utf-8")
                    return raw
                except UnicodeDecodeError:  # Latin-1 after all
                    return raw.decode("latin-1").encode("utf-8")
            text = _xmp.png_text(kind, payload)
            return text[1].encode("utf-8") if text else None
    return None


def _read_png(data: bytes) -> tuple[bytes | None, dict[str, str], bool]:
    chunks = _xmp.png_chunks(data)
    texts = dict(t for k, p in chunks if (t := _xmp.png_text(k, p)) is not None)
    texts.pop(_xmp.PNG_XMP_KEYWORD.decode(), None)
    return _png_packet(chunks), texts, any(k == b"caBX" for k, _ in chunks)


# -- JPEG ---------------------------------------------------------------------------------------------

# A label's re-encoding drops the APPn segments Pillow does not write; these go back in: APP3-APP13 and
# APP15 (IPTC IIM in APP13 above all). Not APP0 (JFIF), APP1 (Exif, XMP), APP2 (ICC, MPF) or APP14
# (Adobe: how the old encoding stored its colours), which the new encoding writes for itself.
_KEPT_SEGMENTS = frozenset((*range(0xE3, 0xEE), 0xEF))


def _mark_jpeg(data: bytes, uri: str, base: bytes | None = None,
               segments_back: list[tuple[int, bytes]] | None = None) -> bytes:
    """``base`` as for PNG; ``segments_back``: segments to put back after the XMP packet (likewise).
    A packet too large for its segment is split into a main packet and extended XMP, as Adobe's writers
    do; an extension that was joined to the packet, or that the new packet no longer names, is dropped."""
    segments, rest = _xmp.jpeg_segments(data)
    existing, joined = _jpeg_packet(segments)
    packet = _new_packet(existing or base, uri)
    main, extension = _xmp.split_for_jpeg(packet)
    guid = _guid(main)
    kept = [(m, p) for m, p in segments if _xmp.jpeg_xmp(m, p) is None
            and not (m == 0xE1 and p.startswith(_xmp.JPEG_XMP_EXTENSION_HEADER)
                     and (joined or extension is not None or p[35:67].decode("latin-1") != guid))]
    at = 0
    while at < len(kept) and kept[at][0] in (0xE0, 0xE1):  # after JFIF and Exif, which must lead
        at += 1
    ours = [(0xE1, _xmp.JPEG_XMP_HEADER + main)]
    if extension is not None and guid:
        ours += [(0xE1, p) for p in _xmp.jpeg_extension_segments(extension, guid)]
    kept[at:at] = [*ours, *(segments_back or [])]
    return _rebuilt(data, kept, rest)


_MPF = b"MPF\x00"


def _rebuilt(data: bytes, segments: list[tuple[int, bytes]], rest: bytes) -> bytes:
    """The JPEG ``data`` rebuilt from ``segments`` and ``rest``. In an MPO, the MPF segment (APP2) places
    the further pictures by their distance from it: where the segments after it grew or shrank (a camera
    may write its XMP there), its offsets move by as much, or the second picture is lost."""
    head = b"\xff\xd8" + b"".join(_xmp.jpeg_segment(m, p) for m, p in segments)
    index = next((i for i, (m, p) in enumerate(segments) if m == 0xE2 and p.startswith(_MPF)), None)
    if index is None:
        return head + rest
    old_end = len(data) - len(rest)  # where the segments ended, and where the MPF segment was
    old_at = data.find(_xmp.jpeg_segment(0xE2, segments[index][1]), 0, old_end)
    new_at = 2 + sum(4 + len(p) for _, p in segments[:index])
    shift = (len(head) - new_at) - (old_end - old_at)  # how much the segments after it grew
    if old_at < 0 or shift == 0:
        return head + rest
    segments = [*segments[:index], (0xE2, _mpf_shifted(segments[index][1], shift)), *segments[index + 1:]]
    return b"\xff\xd8" + b"".join(_xmp.jpeg_segment(m, p) for m, p in segments) + rest


def _mpf_shifted(payload: bytes, shift: int) -> bytes:
    """An MPF payload with the data offsets of its pictures but the first (whose offset is 0) moved by
    ``shift``; as it was where its index cannot be read (Pillow would not read it either)."""
    import struct

    tiff = bytearray(payload[len(_MPF):])
    order = {b"II": "<", b"MM": ">"}.get(bytes(tiff[:2]))
    try:
        ifd = struct.unpack_from(order + "I", tiff, 4)[0] if order else None
        for at in range(ifd + 2, ifd + 2 + 12 * struct.unpack_from(order + "H", tiff, ifd)[0], 12):
            tag, _kind, count, entries = struct.unpack_from(order + "HHII", tiff, at)
            if tag == 0xB002:  # MP Entry: 16 bytes a picture, its data offset at byte 8
                for entry in range(entries, entries + count - 15, 16):
                    offset = struct.unpack_from(order + "I", tiff, entry + 8)[0]
                    if offset:
                        struct.pack_into(order + "I", tiff, entry + 8, offset + shift)
    except (struct.error, TypeError):
        return payload
    return _MPF + bytes(tiff)


def _guid(packet: bytes) -> str | None:
    try:
        return _xmp.extended_guid(packet)
    except _xmp.XmpError:
        return None


def _jpeg_packet(segments: list[tuple[int, bytes]]) -> tuple[bytes | None, bool]:
    """The JPEG's XMP packet, joined with its extended XMP when it has some (``True`` then); an
    extension that cannot be read is left out (the packet alone, ``False``)."""
    packet = next((x for m, p in segments if (x := _xmp.jpeg_xmp(m, p)) is not None), None)
    guid = _guid(packet) if packet is not None else None
    if guid is None:
        return packet, False
    try:
        extension = _xmp.jpeg_extension(segments, guid)
        joined = _xmp.merge_extended(packet, extension) if extension is not None else None
        if joined is not None and len(joined) > _xmp.MAX_PACKET_BYTES:
            raise _xmp.XmpError(f"XMP packet with its extension too large ({len(joined)} bytes)")
        return (joined, True) if joined is not None else (packet, False)
    except _xmp.XmpError as err:
        log.warning("leaving out an unreadable extended XMP packet: %s", err)
        return packet, False


def _read_jpeg(data: bytes) -> tuple[bytes | None, dict[str, str], bool]:
    segments, _ = _xmp.jpeg_segments(data)
    c2pa = any(m == 0xEB and b"jumb" in p for m, p in segments)
    return _jpeg_packet(segments)[0], {}, c2pa


# -- WebP and the rest --------------------------------------------------------------------------------

def _mark_webp(data: bytes, uri: str, base: bytes | None = None) -> bytes:
    """The XMP chunk written into the container: pixels, frame timing and lossless coding untouched."""
    from PIL import Image

    packet = _new_packet(_read_webp(data)[0] or base, uri)
    with Image.open(io.BytesIO(data)) as image:
        size, alpha = image.size, image.mode in ("RGBA", "LA", "PA")
    return _xmp.webp_with_xmp(data, packet, size, alpha)


def _read_webp(data: bytes) -> tuple[bytes | None, dict[str, str], bool]:
    chunks = _xmp.webp_chunks(data)
    packet = next((p for k, p in chunks if k == b"XMP "), None)
    return packet, {}, any(k == b"C2PA" for k, _ in chunks)


def _read_other(data: bytes) -> tuple[bytes | None, dict[str, str], bool]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        packet = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    return packet, {}, False


_READERS = {"PNG": _read_png, "JPEG": _read_jpeg, "WEBP": _read_webp}


def _new_packet(existing: bytes | None, uri: str) -> bytes:
    """The existing packet with the mark added; an unreadable packet is replaced (and logged)."""
    try:
        return _xmp.set_digital_source_type(existing, uri)
    except _xmp.XmpError as err:
        log.warning("replacing an unreadable XMP packet: %s", err)
        return _xmp.build_packet(uri)


def _as_png(data: bytes) -> bytes:
    """A GIF, BMP, TIFF, ... as PNG (animations as APNG), keeping its Exif (a PNG eXIf chunk) and its ICC
    profile where the pixels keep their mode (a CMYK profile does not describe the RGB they become)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        icc = image.info.get("icc_profile") if image.mode in _PNG_MODES else None
        return encode_png(image, **({"exif": exif} if exif else {}), **({"icc_profile": icc} if icc else {}))


def _draw_label(data: bytes, fmt: str, label: str) -> bytes:
    """``label`` drawn in the bottom-right corner on a dark box, every frame; re-encoded."""
    from PIL import Image, ImageDraw, ImageOps, ImageSequence

    with Image.open(io.BytesIO(data)) as image:
        info = {k: image.info[k] for k in ("exif", "icc_profile", "dpi") if image.info.get(k)}
        if image.mode not in ("RGB", "RGBA", "P", "PA"):  # the labelled pixels are RGB: a grey or CMYK
            info.pop("icc_profile", None)                   # profile would no longer describe them
        # A photo stored sideways (Exif Orientation 6) is shown turned: turn the pixels first, so the
        # label sits in the corner a viewer sees, and the Exif says Orientation 1 from then on.
        # An MPO's further pictures are not frames a viewer sees: a JPEG keeps its primary picture only.
        single = fmt == "JPEG" or getattr(image, "n_frames", 1) == 1
        turned = image.getexif().get(0x0112, 1) not in (1, None) and single
        frames, durations = [], []
        for frame in itertools.islice(ImageSequence.Iterator(image), 1 if single else None):
            if turned:
                frame = ImageOps.exif_transpose(frame)
                info["exif"] = frame.getexif().tobytes()
            frames.append(_labelled(_drawable(frame), label, ImageDraw))
            durations.append(frame.info.get("duration", 0))  # after decoding: WebP sets it then
        if len(frames) > 1:  # each frame's own timing, and how often the animation plays
            info.update(duration=durations, loop=plays(image))
    if fmt == "JPEG":
        frames = [f.convert("RGB") for f in frames]
    out_fmt = fmt if fmt in ("PNG", "JPEG", "WEBP") else "PNG"
    buffer = io.BytesIO()
    extra = {"quality": 95} if out_fmt in ("JPEG", "WEBP") else {}
    if out_fmt == "WEBP" and any(k == b"VP8L" for k, _ in _xmp.webp_chunks(data)):
        extra = {"lossless": True}
    frames[0].save(buffer, format=out_fmt, save_all=len(frames) > 1, append_images=frames[1:], **info, **extra)
    return buffer.getvalue()


def _drawable(frame: Any) -> Any:
    """An RGBA copy of ``frame`` to draw on: transparency kept; 16-bit, int and float greyscale scaled to
    8 bits as a viewer sees them (Pillow's own convert clips 16-bit values above 255 to white)."""
    if frame.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (frame.mode == "P" and "transparency" in frame.info):
        return frame.convert("RGBA")
    return to_rgb(frame).convert("RGBA")


LABEL_HEIGHT = 0.03  # the label's text, as a share of the image's shorter side: as visible on any size


def _labelled(frame: Any, label: str, draw_module: Any) -> Any:
    """``label`` on a dark box in the bottom-right corner, its text 3% of the shorter side high (at least
    Pillow's 10-pixel default), smaller where it would not fit the width."""
    draw = draw_module.Draw(frame)
    width, height = frame.size
    font = _label_font(draw, label, round(min(width, height) * LABEL_HEIGHT), width)
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    pad = max(4, (bottom - top) // 3)
    x, y = width - (right - left) - 2 * pad, height - (bottom - top) - 2 * pad
    draw.rectangle((x, y, width, height), fill=(0, 0, 0, 200))
    draw.text((x + pad - left, y + pad - top), label, fill=(255, 255, 255, 255), font=font)
    return frame


def _label_font(draw: Any, label: str, size: int, width: int) -> Any:
    """Pillow's default font at ``size`` pixels, or smaller to fit ``width``; the fixed bitmap font where
    Pillow has no FreeType, or below 10 pixels."""
    from PIL import ImageFont

    while size > 10:
        try:
            font = ImageFont.load_default(size=size)
        except (ImportError, OSError, TypeError):  # Pillow without FreeType
            break
        left, _top, right, _bottom = draw.textbbox((0, 0), label, font=font)
        if (right - left) * 1.2 <= width:
            return font
        size = int(size * 0.8)
    return ImageFont.load_default(size=10) if _has_freetype() else ImageFont.load_default()


def _has_freetype() -> bool:
    from PIL import features

    return bool(features.check("freetype2"))


# -- the guard ----------------------------------------------------------------------------------------

@register("image_mark")
class ImageMarkGuard(Guard):
    """Marks every output image as AI-generated; an image it cannot mark is blocked, never released."""

    params: ImageMarkParams

    def check(self, content: str | bytes, context: Context) -> Verdict:
        if not isinstance(content, bytes | bytearray):
            return refusal(self, content, ImageLoadError("image content must be bytes"))
        try:
            marked = mark_image(bytes(content), digital_source_type=self.params.digital_source_type,
                                visible_label=self.params.visible_label)
        except (ImageLoadError, _xmp.XmpError) as err:
            return refusal(self, content, err)
        uri = _xmp.dst_uri(self.params.digital_source_type)
        metadata = {"ai_generated": True, "digital_source_type": uri,
                    "mark": {"xmp": True, "visible_label": self.params.visible_label}}
        finding = self.finding("ai_disclosure", score=1.0, action=Action.LABEL)
        return Verdict(allowed=True, action=Action.LABEL, output=marked, findings=(finding,), guard_id=self.id,
                       metadata=metadata)
