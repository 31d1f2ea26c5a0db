"""XMP packets carrying the IPTC ``DigitalSourceType`` that marks an image as AI-generated.

The mark is the IPTC Photo Metadata Extension property ``Iptc4xmpExt:DigitalSourceType`` with a value
from the IPTC NewsCodes vocabulary (``http://cv.iptc.org/newscodes/digitalsourcetype/
trainedAlgorithmicMedia`` for generative-AI output), the property Google, Meta and the C2PA
guidance read. An existing packet is kept and the property added to it, so the photographer's
or tool's metadata survive.

XMP comes from untrusted files, so parsing refuses any DOCTYPE (and with it every entity
declaration, the billion-laughs and external-entity attacks) — by a byte pattern before expat sees the
text, and by the parser itself at the DOCTYPE's start (a UTF-16 packet hides it from the pattern) —
and packets over a size limit.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import xml.etree.ElementTree as ET

from clauseguard.errors import GuardError

__all__ = [
    "DST_PREFIX",
    "IPTC_EXT_NS",
    "JPEG_PACKET_LIMIT",
    "JPEG_XMP_EXTENSION_HEADER",
    "JPEG_XMP_HEADER",
    "MAX_PACKET_BYTES",
    "PNG_SIGNATURE",
    "PNG_XMP_KEYWORD",
    "XmpError",
    "build_packet",
    "dst_uri",
    "extended_guid",
    "inflate",
    "jpeg_extension",
    "jpeg_extension_segments",
    "jpeg_segment",
    "jpeg_segments",
    "jpeg_xmp",
    "merge_extended",
    "png_chunk",
    "png_chunks",
    "png_itxt",
    "png_text",
    "read_digital_source_type",
    "set_digital_source_type",
    "split_for_jpeg",
    "webp_chunks",
    "webp_with_xmp",
]

DST_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
X_NS = "adobe:ns:meta/"
_XML_NS = "http://www.w3.org/XML/1998/namespace"  # xml:lang: bound by XML itself, never declared
MAX_PACKET_BYTES = 1024 * 1024

_DST = f"{{{IPTC_EXT_NS}}}DigitalSourceType"
_DESCRIPTION = f"{{{RDF_NS}}}Description"
_RESOURCE = f"{{{RDF_NS}}}resource"
_NAMESPACES = {"x": X_NS, "rdf": RDF_NS, "Iptc4xmpExt": IPTC_EXT_NS, "dc": "http://purl.org/dc/elements/1.1/",
               "xmp": "http://ns.adobe.com/xap/1.0/", "photoshop": "http://ns.adobe.com/photoshop/1.0/",
               "tiff": "http://ns.adobe.com/tiff/1.0/", "exif": "http://ns.adobe.com/exif/1.0/",
               "xmpMM": "http://ns.adobe.com/xap/1.0/mm/", "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
               "xmpNote": "http://ns.adobe.com/xmp/note/"}
_HAS_EXTENDED = "{http://ns.adobe.com/xmp/note/}HasExtendedXMP"
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_PACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_PACKET_END = '\n<?xpacket end="w"?>'


class XmpError(GuardError):
    """An XMP packet that cannot be read safely (a DOCTYPE, too large, not well-formed)."""


def dst_uri(digital_source_type: str) -> str:
    """The full NewsCodes URI of a DigitalSourceType given by its short name (or already a URI)."""
    return digital_source_type if digital_source_type.startswith("http") else DST_PREFIX + digital_source_type


def build_packet(digital_source_type: str) -> bytes:
    """A fresh XMP packet holding only the DigitalSourceType."""
    root = ET.Element(f"{{{X_NS}}}xmpmeta")
    rdf = ET.SubElement(root, f"{{{RDF_NS}}}RDF")
    description = ET.SubElement(rdf, _DESCRIPTION, {f"{{{RDF_NS}}}about": ""})
    description.set(_DST, dst_uri(digital_source_type))
    return _serialise(root)


def set_digital_source_type(packet: bytes | None, digital_source_type: str) -> bytes:
    """``packet`` with DigitalSourceType set (replacing any earlier value), or a new packet."""
    if not packet:
        return build_packet(digital_source_type)
    prefixes: dict[str, str] = {}
    root = _parse(packet, prefixes)
    descriptions = list(root.iter(_DESCRIPTION))
    if not descriptions:
        raise XmpError("XMP packet has no rdf:Description to carry the mark")
    _drop_property(descriptions, _DST)
    descriptions[0].set(_DST, dst_uri(digital_source_type))
    return _serialise(root, prefixes)


def read_digital_source_type(packet: bytes) -> str | None:
    """The DigitalSourceType in ``packet`` (attribute, element text or rdf:resource), or None."""
    root = _parse(packet)
    for description in root.iter(_DESCRIPTION):
        if _DST in description.attrib:
            return description.attrib[_DST].strip()
        element = description.find(_DST)
        if element is not None:
            return (element.get(_RESOURCE) or element.text or "").strip() or None
    return None


def _parse(packet: bytes, prefixes: dict[str, str] | None = None) -> ET.Element:
    """The packet's root element; ``prefixes`` receives each namespace's prefix in the packet (uri: prefix)."""
    if len(packet) > MAX_PACKET_BYTES:
        raise XmpError(f"XMP packet too large ({len(packet)} > {MAX_PACKET_BYTES} bytes)")
    if _FORBIDDEN.search(packet):
        raise XmpError("XMP packet declares a DOCTYPE or entities; refused")
    text: bytes | str = packet.strip(b"\x00 \t\r\n")
    if packet[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: a NUL byte is half a character, not padding
        try:
            text = packet.decode("utf-16").strip("\x00 \t\r\n")
        except UnicodeDecodeError as err:
            raise XmpError(f"XMP packet is not valid UTF-16: {err}") from err
    try:  # the pattern above cannot see a DOCTYPE in UTF-16: the parser refuses it too, whatever the encoding
        root = ET.fromstring(text, parser=ET.XMLParser(target=_NoDoctype(prefixes)))
    except ET.ParseError as err:
        raise XmpError(f"XMP packet is not well-formed XML: {err}") from err
    return root


class _NoDoctype(ET.TreeBuilder):
    """Builds the tree; the parser calls ``doctype`` at a DOCTYPE's start, before any entity is declared.
    Notes each namespace's prefix, which the tree itself does not keep."""

    def __init__(self, prefixes: dict[str, str] | None) -> None:
        super().__init__()
        self.prefixes = prefixes if prefixes is not None else {}

    def start_ns(self, prefix: str, uri: str) -> None:
        self.prefixes.setdefault(uri, prefix)

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise XmpError("XMP packet declares a DOCTYPE or entities; refused")


def _drop_property(descriptions: list[ET.Element], name: str) -> None:
    """Remove property ``name`` from each description, whether written as an attribute or an element."""
    for description in descriptions:
        description.attrib.pop(name, None)
        for child in description.findall(name):
            description.remove(child)


def merge_extended(packet: bytes, extension: bytes) -> bytes:
    """A JPEG's main packet and its extended XMP as one packet: the extension's descriptions joined to the
    main one's, the note that points to the extension dropped (XMP Specification Part 3, 1.1.3.1)."""
    prefixes: dict[str, str] = {}
    root, more = _parse(packet, prefixes), _parse(extension, prefixes)
    descriptions = list(root.iter(_DESCRIPTION))
    if not descriptions:
        raise XmpError("XMP packet has no rdf:Description to join its extension to")
    _drop_property(descriptions, _HAS_EXTENDED)
    for description in _top_descriptions(more):  # its properties, into the main packet's description
        properties = {k: v for k, v in description.attrib.items() if not k.startswith(f"{{{RDF_NS}}}")}
        descriptions[0].attrib.update(properties)
        descriptions[0].extend(list(description))
    return _serialise(root, prefixes)


def extended_guid(packet: bytes) -> str | None:
    """The GUID (MD5 of the extension) the main packet's ``xmpNote:HasExtendedXMP`` names, or None."""
    for description in _parse(packet).iter(_DESCRIPTION):
        note = description.get(_HAS_EXTENDED) or description.findtext(_HAS_EXTENDED)
        if note and note.strip():
            return note.strip()
    return None


def _top_descriptions(root: ET.Element) -> list[ET.Element]:
    """The rdf:Description elements that hold top-level properties (not those inside a struct value)."""
    rdf = root if root.tag == f"{{{RDF_NS}}}RDF" else root.find(f"{{{RDF_NS}}}RDF")
    return rdf.findall(_DESCRIPTION) if rdf is not None else []


JPEG_PACKET_LIMIT = 65000  # what Adobe's writers keep the main packet under (the segment holds 65504)


def split_for_jpeg(packet: bytes, limit: int = JPEG_PACKET_LIMIT) -> tuple[bytes, bytes | None]:
    """``packet`` as a JPEG stores it: in one segment when it fits, else a main packet holding the
    DigitalSourceType and the smaller properties, and an extended packet (XMP Specification Part 3,
    1.1.3.1: the largest top-level properties move there, and the main packet names the extension by the
    MD5 of its text in ``xmpNote:HasExtendedXMP``). Raises XmpError when no split fits."""
    if len(packet) <= limit:
        return packet, None
    prefixes: dict[str, str] = {}
    root = _parse(packet, prefixes)
    descriptions = _top_descriptions(root)
    if not descriptions:
        raise XmpError("XMP packet too large for a JPEG segment, and it has no rdf:Description to split")
    extension = ET.Element(f"{{{X_NS}}}xmpmeta")
    moved = ET.SubElement(ET.SubElement(extension, f"{{{RDF_NS}}}RDF"), _DESCRIPTION, {f"{{{RDF_NS}}}about": ""})
    descriptions[0].set(_HAS_EXTENDED, "0" * 32)  # its length counts; the GUID is known at the end
    movable = sorted(((len(ET.tostring(child)), parent, child) for parent in descriptions for child in parent
                      if child.tag not in (_DST, _HAS_EXTENDED)), key=lambda item: -item[0])
    main = _serialise(root, prefixes)
    for _size, parent, child in movable:
        if len(main) <= limit:
            break
        parent.remove(child)
        moved.append(child)
        main = _serialise(root, prefixes)
    if len(main) > limit:
        raise XmpError(f"XMP packet too large for a JPEG segment ({len(main)} > {limit} bytes after moving "
                       "its properties to extended XMP)")
    body = _serialise(extension, prefixes, wrapper=False)
    descriptions[0].set(_HAS_EXTENDED, hashlib.md5(body).hexdigest().upper())
    return _serialise(root, prefixes), body


def _serialise(root: ET.Element, prefixes: dict[str, str] | None = None, *, wrapper: bool = True) -> bytes:
    """The packet's text; a namespace has our prefix where it is one of ours, else the prefix the packet
    gave it (some readers look for ``GCamera:MicroVideo`` as written), else ``nsN``.

    The prefixes are this packet's own: ElementTree's ``register_namespace`` changes a map the whole
    process shares, and under threads it raised KeyError (each call removes the entries another call
    just made). The tree is written as a copy whose names carry their prefixes, declared on the root."""
    names = _prefix_names(root, prefixes or {})
    copy = _prefixed(root, names)
    declared = {f"xmlns:{prefix}": uri for uri, prefix in sorted(names.items(), key=lambda item: item[1])
                if uri != _XML_NS}
    copy.attrib = {**declared, **copy.attrib}
    body = ET.tostring(copy, encoding="unicode")
    return (_PACKET_BEGIN + body + _PACKET_END if wrapper else body).encode("utf-8")


def _prefix_names(root: ET.Element, prefixes: dict[str, str]) -> dict[str, str]:
    """A prefix for each namespace the tree uses (uri: prefix), each prefix used once."""
    used = dict.fromkeys(name[1:].split("}", 1)[0] for element in root.iter()
                         for name in (element.tag, *element.attrib) if isinstance(name, str) and name[:1] == "{")
    ours = {uri: prefix for prefix, uri in _NAMESPACES.items()}
    names = {_XML_NS: "xml"} | {uri: ours[uri] for uri in used if uri in ours}
    taken = set(names.values())
    for uri in used:
        prefix = prefixes.get(uri, "")
        if uri not in names and prefix and prefix not in taken and prefix not in _NAMESPACES and not re.fullmatch(
                r"ns\d+|xml\w*", prefix, re.IGNORECASE):
            names[uri] = prefix
            taken.add(prefix)
    numbered = (f"ns{n}" for n in itertools.count() if f"ns{n}" not in taken)
    return names | {uri: next(numbered) for uri in used if uri not in names}


def _prefixed(element: ET.Element, names: dict[str, str]) -> ET.Element:
    """A copy of ``element`` and its children with ``{uri}name`` written ``prefix:name``."""
    copy = ET.Element(_qualified(element.tag, names), {_qualified(k, names): v for k, v in element.attrib.items()})
    copy.text, copy.tail = element.text, element.tail
    copy.extend(_prefixed(child, names) for child in element)
    return copy


def _qualified(name: str, names: dict[str, str]) -> str:
    if not isinstance(name, str) or not name.startswith("{"):
        return name
    uri, local = name[1:].split("}", 1)
    return f"{names[uri]}:{local}"


# -- where the packet lives in a file ---------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"
JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
MAX_TEXT_BYTES = 1024 * 1024  # cap on a decompressed PNG text chunk (zTXt/iTXt bombs)


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, payload) chunks of a PNG; raises XmpError when the structure is broken."""
    if not data.startswith(PNG_SIGNATURE):
        raise XmpError("not a PNG file")
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, end = data[pos + 4:pos + 8], pos + 12 + length
        if end > len(data):
            raise XmpError(f"PNG chunk {kind!r} runs past the end of the file")
        chunks.append((kind, data[pos + 8:pos + 8 + length]))
        pos = end
        if kind == b"IEND":
            break
    return chunks


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    import zlib

    return len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")


def png_text(kind: bytes, payload: bytes) -> tuple[str, str] | None:
    """(keyword, text) of a tEXt, zTXt or iTXt payload; None for other chunks."""
    if kind not in (b"tEXt", b"zTXt", b"iTXt") or b"\x00" not in payload:
        return None
    keyword, rest = payload.split(b"\x00", 1)
    if kind == b"tEXt":
        return keyword.decode("latin-1"), rest.decode("latin-1")
    if kind == b"zTXt":
        return keyword.decode("latin-1"), inflate(rest[1:]).decode("latin-1")
    compressed, rest = rest[:1] == b"\x01", rest[2:]
    _language, _translated, text = rest.split(b"\x00", 2) if rest.count(b"\x00") >= 2 else (b"", b"", rest)
    return keyword.decode("latin-1"), (inflate(text) if compressed else text).decode("utf-8", "replace")


def png_itxt(keyword: bytes, text: bytes) -> bytes:
    """An uncompressed iTXt chunk (the form the XMP specification asks for)."""
    return png_chunk(b"iTXt", keyword + b"\x00\x00\x00\x00\x00" + text)


def inflate(data: bytes) -> bytes:
    """A compressed PNG text, at most MAX_TEXT_BYTES inflated."""
    import zlib

    try:
        inflater = zlib.decompressobj()
        out = inflater.decompress(data, MAX_TEXT_BYTES)
    except zlib.error as err:
        raise XmpError(f"compressed PNG text chunk is corrupt: {err}") from err
    if inflater.unconsumed_tail:
        raise XmpError(f"compressed PNG text chunk inflates past {MAX_TEXT_BYTES} bytes; refused")
    return out


def jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The marker segments before the image data, as (marker, payload), and the rest from SOS on.

    Stray bytes before a marker and markers without a length (TEM, RST0-7) are passed over, as libjpeg
    does with a warning; a file rebuilt from these segments has neither."""
    if not data.startswith(b"\xff\xd8"):
        raise XmpError("not a JPEG file")
    segments, pos = [], 2
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 2 > len(data):
            raise XmpError("JPEG has no image data (no start-of-scan marker)")
        marker = data[pos + 1]
        if marker in _JPEG_NO_LENGTH:  # fill byte (0xFF), 0x00 (not a marker), TEM, RST0-7: no length
            pos += 1 if marker == 0xFF else 2
            continue
        if marker == 0xDA:  # start of scan: the entropy-coded data follows
            return segments, data[pos:]
        if marker in (0xD8, 0xD9):
            raise XmpError(f"JPEG has {'a second start' if marker == 0xD8 else 'its end'} before its image data")
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2 or pos + 2 + length > len(data):
            raise XmpError(f"JPEG segment 0x{marker:02X} runs past the end of the file")
        segments.append((marker, data[pos + 4:pos + 2 + length]))
        pos += 2 + length


_JPEG_NO_LENGTH = frozenset((0xFF, 0x00, 0x01, *range(0xD0, 0xD8)))


JPEG_XMP_EXTENSION_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
_EXTENSION_CHUNK = 65400  # extended XMP bytes per APP1 segment (the segment holds 65458 after its header)


def jpeg_xmp(marker: int, payload: bytes) -> bytes | None:
    """The XMP packet an APPn segment holds: APP1 with the standard header, or as some writers store it
    (and ExifTool reads it), with the header ``XMP\\0`` or none before the packet; None for other segments
    (Exif, extended XMP)."""
    if marker != 0xE1:
        return None
    if payload.startswith(JPEG_XMP_HEADER):
        return payload[len(JPEG_XMP_HEADER):]
    if payload.startswith(b"XMP\x00"):
        return payload[4:]
    if payload.lstrip(b"\x00 \t\r\n\xef\xbb\xbf").startswith((b"<?xpacket", b"<x:xmpmeta")):
        return payload
    return None


def jpeg_extension(segments: list[tuple[int, bytes]], guid: str) -> bytes | None:
    """The extended XMP named by ``guid``, put together from its APP1 segments (each: header, GUID, full
    length, offset, bytes); None when there is none. Raises XmpError when it is incomplete or too large."""
    size, parts, head = None, {}, len(JPEG_XMP_EXTENSION_HEADER)
    for marker, payload in segments:
        if marker != 0xE1 or not payload.startswith(JPEG_XMP_EXTENSION_HEADER) or len(payload) < head + 40:
            continue
        if payload[head:head + 32].decode("latin-1") != guid:
            continue
        size = int.from_bytes(payload[head + 32:head + 36], "big")
        parts[int.from_bytes(payload[head + 36:head + 40], "big")] = payload[head + 40:]
    if size is None:
        return None
    if size > MAX_PACKET_BYTES:
        raise XmpError(f"extended XMP too large ({size} > {MAX_PACKET_BYTES} bytes)")
    pieces, at = [], 0
    for offset in sorted(parts):
        if offset != at:
            raise XmpError(f"extended XMP {guid} is incomplete (a part at byte {at} is missing)")
        pieces.append(parts[offset])
        at += len(parts[offset])
        if at > size:  # more than it says it holds: stop here, not after joining every part of the file
            raise XmpError(f"extended XMP {guid} holds more than the {size} bytes it declares")
    if at != size:
        raise XmpError(f"extended XMP {guid} is incomplete ({at} of {size} bytes)")
    return b"".join(pieces)


def jpeg_extension_segments(extension: bytes, guid: str) -> list[bytes]:
    """The APP1 payloads that store ``extension`` (the extended XMP whose MD5 is ``guid``)."""
    head = JPEG_XMP_EXTENSION_HEADER + guid.encode("ascii") + len(extension).to_bytes(4, "big")
    return [head + offset.to_bytes(4, "big") + extension[offset:offset + _EXTENSION_CHUNK]
            for offset in range(0, len(extension), _EXTENSION_CHUNK)]


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    if len(payload) + 2 > 0xFFFF:
        raise XmpError(f"JPEG segment 0x{marker:02X} too large ({len(payload)} bytes)")
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (fourcc, payload) chunks of a WebP (RIFF) file; bytes after the container, which readers
    ignore, are passed over."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise XmpError("not a WebP file")
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    chunks, pos = [], 12
    while pos + 8 <= end:
        kind, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if pos + 8 + size > end:
            raise XmpError(f"WebP chunk {kind!r} runs past the end of the file")
        chunks.append((kind, data[pos + 8:pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return chunks


def webp_with_xmp(data: bytes, packet: bytes, size: tuple[int, int], alpha: bool) -> bytes:
    """``data`` with its XMP chunk set to ``packet``, every other chunk (pixels, frames and their timing,
    ICC, Exif) byte for byte. A simple WebP (one VP8 or VP8L chunk) gets the extended header (VP8X) that
    metadata needs, with the canvas ``size`` and ``alpha`` flag; the XMP chunk goes last, as the
    container's chunk order asks."""
    chunks = [(k, p) for k, p in webp_chunks(data) if k != b"XMP "]
    if not chunks:
        raise XmpError("WebP file has no chunks")
    if chunks[0][0] == b"VP8X":
        header = bytearray(chunks[0][1])
        if len(header) < 10:
            raise XmpError("WebP VP8X chunk is too short")
        header[0] |= 0x04  # XMP present
        chunks[0] = (b"VP8X", bytes(header))
    else:
        width, height = size
        flags = 0x04 | (0x10 if alpha else 0)
        header = (bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))
        chunks.insert(0, (b"VP8X", header))
    chunks.append((b"XMP ", packet))
    body = b"".join(k + len(p).to_bytes(4, "little") + p + (b"\x00" if len(p) & 1 else b"") for k, p in chunks)
    return b"RIFF" + (4 + len(body)).to_bytes(4, "little") + b"WEBP" + body
