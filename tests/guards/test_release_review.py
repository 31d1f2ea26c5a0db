"""Defects found in the last review before release, one test each (each fails without its fix)."""

from __future__ import annotations

import pytest
from guard_helpers import build

from clauseguard.guards import Context
from clauseguard.guards._pii_detect import detect

CTX = Context(user_key="u", request_id="r")
HASHED = "[SECRET:0123456789abcdef]"


@pytest.mark.parametrize("text", [
    f"password={HASHED}Xk9#mQ2$vL7!pR4&zT8",  # a value that begins with a pseudonym
    f"{HASHED}Xk9mQ2vL7pR4zT8wB3nH6",  # the pseudonym read as keyword, colon, value
])
def test_a_secret_written_after_a_pseudonym_is_still_found(text: str) -> None:
    """The check that keeps a ``mode: hash`` pseudonym from being hashed again skipped any value that
    began with one, so a real secret glued to it passed unredacted."""
    hits = detect(text, ["secret"])
    assert hits and "Xk9" in text[hits[0][1]:hits[0][2]]


@pytest.mark.parametrize("text", [f"password={HASHED}", f"password={HASHED}.", f"token: {HASHED}), ok"])
def test_a_pseudonym_with_closing_punctuation_is_left_alone(text: str) -> None:
    assert detect(text, ["secret"]) == []


def test_hash_mode_redacts_a_secret_glued_to_a_pseudonym(monkeypatch) -> None:
    monkeypatch.setenv("CLAUSEGUARD_HASH_KEY", "test-key")
    guard = build("pii", on_fail="redact", params={"mode": "hash"})
    verdict = guard.check(f"password={HASHED}Xk9#mQ2$vL7!pR4&zT8", CTX)
    assert "Xk9#mQ2$vL7!pR4&zT8" not in verdict.output


def test_a_corrupt_gzip_data_file_is_a_user_error(tmp_path) -> None:
    """A bad deflate block raises zlib.error, which is no OSError: ``clauseguard eval`` printed a traceback
    instead of naming the file (only a cut-off .gz, an EOFError, was caught)."""
    import gzip
    import json

    from clauseguard.errors import UserError
    from clauseguard.guards.eval_cli import read_items

    payload = "".join(json.dumps({"text": f"hello {i} " * 50, "label": i % 2}) + "\n" for i in range(2000))
    corrupt = bytearray(gzip.compress(payload.encode()))
    for i in range(200, 400):
        corrupt[i] ^= 0x5A
    data = tmp_path / "d.jsonl.gz"
    data.write_bytes(bytes(corrupt))
    with pytest.raises(UserError, match="cannot read the data file") as info:
        read_items(data)
    assert info.value.where == str(data)


def test_a_diffusers_call_without_a_text_prompt_counts_against_rate_limit() -> None:
    """The docs say a call counts once against rate_limit; an image in the prompt's place (image
    variation) or a call with only an image checked no text, so rate_limit never saw it and such
    calls were unlimited."""
    from dataclasses import dataclass

    Image = pytest.importorskip("PIL.Image")
    from clauseguard.guards import GuardSpec, Pipeline
    from clauseguard.guards.diffusers import guard_diffusers_pipeline

    @dataclass
    class Out:
        images: list

    calls: list[int] = []

    def variation(image, num_inference_steps=50):  # type: ignore[no-untyped-def]
        calls.append(1)
        return Out([Image.new("RGB", (8, 8), (0, 255, 0))])

    def img2img(prompt=None, image=None, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return Out([Image.new("RGB", (8, 8), (0, 255, 0))])

    limit = GuardSpec(id="rl", type="rate_limit", stage="input", params={"capacity": 1, "refill_per_second": 1e-6})
    green = Image.new("RGB", (8, 8), (0, 255, 0))
    for pipe, call in ((variation, lambda g: g(green, context=Context(user_key="a"))),
                       (img2img, lambda g: g(image=green, context=Context(user_key="a")))):
        guarded = guard_diffusers_pipeline(pipe, Pipeline([limit]))
        calls.clear()
        first, second = call(guarded), call(guarded)
        assert not first.prompt_blocked and second.prompt_blocked
        assert len(calls) == 1


def test_extended_xmp_that_overruns_its_declared_size_is_refused_at_once() -> None:
    """jpeg_extension joined every part of the file (quadratically, ``data + part``) before comparing
    with the size the extension declares: a 32 MB JPEG of extension segments took seconds to read.
    Measured in memory, not time: refused at the first part past the size, the parts are never joined
    (``data + part`` held the old total and the new one besides the parts: three times their size)."""
    import tracemalloc

    from clauseguard.guards import _xmp

    guid = "A" * 32
    head = _xmp.JPEG_XMP_EXTENSION_HEADER + guid.encode() + (1000).to_bytes(4, "big")
    segments = [(0xE1, head + (i * 65400).to_bytes(4, "big") + b"x" * 65400) for i in range(500)]
    parts = 500 * 65400  # what jpeg_extension slices out of the segments before it looks at the size
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        with pytest.raises(_xmp.XmpError, match="more than the 1000 bytes it declares"):
            _xmp.jpeg_extension(segments, guid)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if not tracing:
            tracemalloc.stop()
    assert peak < parts * 1.5, (peak, parts)
