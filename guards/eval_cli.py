"""``clauseguard eval``: run guards.yaml on labelled data and print how well the guards decide.

Each line of the data file is ``{"text": ..., "label": 0|1, "category": optional}`` or ``{"image": path,
"label": 0|1, "category": optional}``, the path relative to the data file's folder (or, where no such
file is there, to the working folder). A file holding one JSON array of such objects is read too, and a
gzip-compressed file is decompressed as it is read. A label may also be spelled true/false, "0"/"1" or
"safe"/"unsafe" (the words have one meaning each); any other value is refused. Images are checked to be
readable before the run and read one at a time during it, so a large image set is never all in memory.
A category is a canonical id (S1-S14, pii, profanity, prompt_injection) or a name that maps onto one
("hate", "self-harm", OpenAI or AILuminate labels); any other category, and the value of ``--by KEY``,
is a *group*, measured with the decision of all guards.
Other keys are allowed and ignored, so labelled sets can be converted without stripping their own
fields. A bad line is a :class:`~clauseguard.errors.UserError` naming ``file:line`` and the key at
fault; nothing is measured on half-read data. The result is one JSON object on stdout (see
:func:`clauseguard.guards.eval.summarize`); a progress bar goes to stderr only when stderr is a
terminal, so piped output stays clean.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from clauseguard.errors import UserError
from clauseguard.guards._base import Context
from clauseguard.guards._images import ImageLoadError, load_image
from clauseguard.guards._params import Modality, Stage
from clauseguard.guards._taxonomy import canonical_category
from clauseguard.guards.eval import Observation, observe, summarize
from clauseguard.guards.pipeline import Pipeline

__all__ = ["EvalItem", "choose_stage", "eval", "eval_command", "evaluate", "read_items"]



@dataclass(frozen=True)
class EvalItem:
    """One labelled piece of content; ``where`` is ``file:line`` for messages. ``groups`` are the groups
    it is measured in: a category that is not clauseguard's, and the value of the ``--by`` key (one group
    where the two are the same name, as with ``--by category``)."""

    content: str | bytes | Path  # an image file (a Path) is read when it is checked: see load()
    modality: Modality
    label: int
    category: str | None
    where: str
    groups: tuple[str, ...] = ()

    def load(self) -> str | bytes:
        """The text, or the image's bytes (read now, so a whole image set never sits in memory)."""
        if not isinstance(self.content, Path):
            return self.content
        try:
            return self.content.read_bytes()
        except OSError as err:  # deleted or made unreadable after read_items checked it
            raise UserError(f"cannot read image {str(self.content)!r}: {err.strerror or err}",
                            where=f"{self.where} image") from err


class _Undecodable(UserError):
    """An image file the guards cannot decode: read_items names every one, not only the first."""

    def __init__(self, message: str, *, where: str, path: Path, reason: str) -> None:
        super().__init__(message, where=where)
        self.path, self.reason = path, reason


UNDECODABLE_NAMED = 5  # images named in the error when many cannot be decoded; the rest are counted


def _by_line(faults: list[_Undecodable]) -> str:
    """"2: 'bad0.png' (why); 3: ...; and 3 more": the first UNDECODABLE_NAMED files, the rest counted."""
    named = "; ".join(f"{f.where.removesuffix(' image').rsplit(':', 1)[-1]}: {str(f.path)!r} ({f.reason})"
                      for f in faults[:UNDECODABLE_NAMED])
    return named + (f"; and {len(faults) - UNDECODABLE_NAMED} more" if len(faults) > UNDECODABLE_NAMED else "")


def _undecodable_error(faults: list[_Undecodable]) -> UserError:
    if len(faults) == 1:
        return faults[0]
    return UserError(f"{len(faults)} files are not images the guards can read (by line: {_by_line(faults)}); an "
                     "image guard blocks such a file whatever it shows, so leave them out to measure what the guards "
                     "see", where=faults[0].where)


def _after_undecodable(fault: UserError, faults: list[_Undecodable]) -> UserError:
    """Another fault, met after images that cannot be decoded: named with them, so one run shows both."""
    files = "1 file that is not an image" if len(faults) == 1 else f"{len(faults)} files that are not images"
    return UserError(f"{fault.message} (and earlier lines give {files} the guards can read, by line: "
                     f"{_by_line(faults)})", where=fault.where)


def _content(item: dict[str, Any], base: Path, where: str) -> tuple[str | bytes, Modality]:
    # A mixed set written by pandas or datasets (``to_json(lines=True)``) gives every line both columns,
    # the one it lacks as null: a null key is an absent one, as for "category".
    item = {k: v for k, v in item.items() if not (k in ("text", "image") and v is None)}
    if "text" in item and "image" in item:
        raise UserError('give exactly one of "text" and "image", not both', where=f"{where} text")
    if "text" not in item and "image" not in item:
        keys = ", ".join(json.dumps(k, ensure_ascii=False) for k in list(item)[:6])
        raise UserError(f'give exactly one of "text" and "image"; this line has {keys or "no keys"} (for a prompt '
                        'and its answer, give the prompt as "text" to measure --stage input, the answer for --stage '
                        'output)', where=f"{where} text")
    if "text" in item:
        if not isinstance(item["text"], str):
            raise UserError('"text" must be a string', where=f"{where} text")
        return item["text"], Modality.TEXT
    if not isinstance(item["image"], str) or not item["image"]:
        raise UserError('"image" must be a path relative to the data file', where=f"{where} image")
    path = base / item["image"]
    if not path.exists() and Path(item["image"]).is_file():  # written relative to the working folder instead
        path = Path(item["image"])
    if path.exists() and not path.is_file() and not path.is_dir():  # opening a pipe waits for a writer for ever
        raise UserError(f"cannot read image {str(path)!r}: not a regular file (a device or a pipe)",
                        where=f"{where} image")
    try:
        with path.open("rb"):  # readable now; its bytes are read when it is checked (EvalItem.load)
            pass
    except OSError as err:
        raise UserError(f"cannot read image {str(path)!r}: {err.strerror or err}", where=f"{where} image") from err
    try:  # a file the guards cannot decode is blocked as unreadable: it would count as a detection
        load_image(path, first_frame_only=True)
    except ImageLoadError as err:
        raise _Undecodable(f"{str(path)!r} is not an image the guards can read ({err}); an image guard blocks "
                           "such a file whatever it shows, so leave it out to measure what the guards see",
                           where=f"{where} image", path=path, reason=str(err)) from err
    return path.absolute(), Modality.IMAGE


def _shown(value: Any) -> str:
    """``value`` as the data file spells it (JSON: true, null, "1"), cut short when long."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


# Spellings of a label that mean one thing only: JSON booleans (true is 1, as in every ML library), the
# digits as strings (sets converted from CSV) and Llama Guard's verdict words. "toxic", "yes", 0.5: refused.
_LABEL_WORDS = {"0": 0, "1": 1, "safe": 0, "unsafe": 1}


def _label(item: dict[str, Any], where: str) -> int:
    if "label" not in item:  # a converted set's own name for it ("toxic", "is_harmful") is among the keys
        keys = ", ".join(_shown(k) for k in list(item)[:8]) + (", ..." if len(item) > 8 else "")
        raise UserError(f'"label" is missing: give 0 or 1 (this line has {keys or "no keys"})', where=f"{where} label")
    label = item["label"]
    if isinstance(label, bool):
        return int(label)
    if isinstance(label, int | float) and label in (0, 1):
        return int(label)
    if isinstance(label, str) and label.strip().lower() in _LABEL_WORDS:
        return _LABEL_WORDS[label.strip().lower()]
    raise UserError(f'"label" must be 0 or 1 (or true/false, "0"/"1", "safe"/"unsafe"), not {_shown(label)}',
                    where=f"{where} label")


def _category(item: dict[str, Any], where: str) -> tuple[str | None, str | None]:
    """(canonical category, group): a category clauseguard does not know becomes a group."""
    category = item.get("category")
    if category is None or category == "":
        return None, None
    if not isinstance(category, str):
        raise UserError(f'"category" must be a string, not {_shown(category)}', where=f"{where} category")
    category = category.strip()  # "S9 " from a hand-edited or CSV-converted set is S9, not a group
    if not category:
        return None, None
    canonical = canonical_category(category)
    return (canonical, None) if canonical is not None else (None, category)


def _group(item: dict[str, Any], by: str, where: str) -> str:
    value = item.get(by)
    if value is None:
        return "(none)"
    if isinstance(value, (dict, list)):
        raise UserError(f'"{by}" (the --by key) must be a string or a number', where=f"{where} {by}")
    return value if isinstance(value, str) else json.dumps(value)  # true, not Python's True


def _parse_item(item: Any, base: Path, where: str, by: str | None = None) -> EvalItem:
    if not isinstance(item, dict):
        raise UserError(f'each line must be a JSON object with "text" or "image" and "label", not {_shown(item)}',
                        where=where)
    content, modality = _content(item, base, where)
    category, group = _category(item, where)
    groups = tuple(dict.fromkeys(g for g in (group, _group(item, by, where) if by else None) if g is not None))
    return EvalItem(content=content, modality=modality, label=_label(item, where), category=category,
                    where=where, groups=groups)


_GZIP_MAGIC = b"\x1f\x8b"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_BLANK = b" \t\r\n"


def _open_data(path: Path) -> Any:
    """The data file as a binary stream, opened once (``--data <(jq ...)`` is a pipe that can be read only
    once): a gzip-compressed file (a .jsonl.gz) is decompressed as it is read."""
    fh = path.open("rb")
    magic = fh.peek(2)[:2]
    if magic == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=fh, mode="rb")  # closing it leaves fh open: read_items closes both
    if magic in _UTF16_BOMS:
        fh.close()
        raise UserError("the data file is UTF-16 text: save it as UTF-8", where=str(path))
    return fh


def _starts_with_array(fh: Any) -> bool:
    """Whether the first character that is not blank (or a BOM) is '[': a JSON array, not JSON Lines."""
    head = fh.peek(4096) if hasattr(fh, "peek") else b""
    return head.removeprefix(b"\xef\xbb\xbf").lstrip(_BLANK)[:1] == b"["


def _lines(fh: Any, path: Path) -> Iterator[tuple[str, Any]]:
    """``(file:line, JSON value)`` of each non-blank line of a JSON Lines file."""
    for number, raw in enumerate(fh, start=1):
        where = f"{path}:{number}"
        try:
            line = raw.decode("utf-8-sig")  # a BOM on any line: files joined with cat
        except UnicodeDecodeError as err:
            raise UserError(f"not UTF-8 text ({err.reason} at byte {err.start + 1} of the line)",
                            where=where) from err
        if line.strip():
            try:
                yield where, json.loads(line.rstrip("\r\n"))  # a fault at the end: its own column
            except json.JSONDecodeError as err:
                raise UserError(f"invalid JSON: {err.msg} (column {err.colno})", where=where) from err
            except (ValueError, RecursionError) as err:  # valid JSON Python will not read: deep, or a huge int
                raise UserError(f"JSON that cannot be read: {_why(err)}", where=where) from err


def _why(err: ValueError | RecursionError) -> str:
    if isinstance(err, RecursionError):
        return "nested too deeply"
    return str(err).split(";")[0]  # "Exceeds the limit (4300 digits) for integer string conversion"


def _array(data: bytes, path: Path) -> Iterator[tuple[str, Any]]:
    """``(file:line (item N), JSON value)`` of each element of a file holding one JSON array."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line_start, line = data.rfind(b"\n", 0, err.start) + 1, data.count(b"\n", 0, err.start) + 1
        raise UserError(f"not UTF-8 text ({err.reason} at byte {err.start - line_start + 1} of the line)",
                        where=f"{path}:{line}") from err
    decoder = json.JSONDecoder()
    line, counted = 1, 0

    def at(pos: int) -> str:  # file:line of a position, counting newlines once for the whole file
        nonlocal line, counted
        line += text.count("\n", counted, pos)
        counted = pos
        return f"{path}:{line}"

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    def fault(pos: int, what: str) -> UserError:
        where = at(pos)
        return UserError(f"invalid JSON: {what} (column {pos - text.rfind(chr(10), 0, pos)}; the file starts "
                         "with '[', so it is read as one JSON array of objects)", where=where)

    pos = skip(skip(0) + 1)  # past the '['
    if text.startswith("]", pos):
        pos = skip(pos + 1)
    else:
        for index in range(1, len(text) + 1):
            where = f"{at(pos)} (item {index})"
            try:
                value, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as err:
                raise fault(err.pos, err.msg) from err
            except (ValueError, RecursionError) as err:
                raise UserError(f"JSON that cannot be read: {_why(err)}", where=where) from err
            yield where, value
            pos = skip(pos)
            if text.startswith(",", pos):
                pos = skip(pos + 1)
            elif text.startswith("]", pos):
                pos = skip(pos + 1)
                break
            else:
                raise fault(pos, "expected ',' or ']' after an item")
    if pos < len(text):
        raise fault(pos, "more after the array's closing ']'")


def read_items(path: Path, limit: int | None = None, by: str | None = None) -> list[EvalItem]:
    """The labelled items of a JSONL file, or of a file holding one JSON array (the first ``limit`` when
    given); blank lines are skipped. With ``by``, each item is also in the group of its value of that key."""
    items: list[EvalItem] = []
    undecodable: list[_Undecodable] = []  # named together at the end: a user fixes them in one pass
    try:
        with _open_data(path) as fh, getattr(fh, "fileobj", None) or nullcontext():
            records = _array(fh.read(), path) if _starts_with_array(fh) else _lines(fh, path)
            try:
                for where, value in records if limit is None or limit > 0 else ():
                    try:
                        items.append(_parse_item(value, path.parent, where, by))
                    except _Undecodable as fault:
                        undecodable.append(fault)
                    if limit is not None and len(items) + len(undecodable) >= limit:
                        break  # before the next line is read: a fault past the limit does not stop a quick look
            except UserError as fault:  # a bad label or bad JSON after undecodable images: name both
                if undecodable:
                    raise _after_undecodable(fault, undecodable) from fault
                raise
    except (OSError, EOFError, zlib.error) as err:  # a truncated or corrupt .gz (a bad deflate block: zlib.error)
        raise UserError(f"cannot read the data file: {getattr(err, 'strerror', None) or err}", where=str(path)) from err
    if undecodable:
        raise _undecodable_error(undecodable)
    if not items:
        raise UserError("no labelled items in the data file", where=str(path))
    return items


def evaluate(pipeline: Pipeline, items: Sequence[EvalItem], stage: Stage,
             advance: Callable[[], None] = lambda: None) -> list[Observation]:
    """Run ``stage`` of ``pipeline`` on every item, timing each check."""
    observations: list[Observation] = []
    for number, item in enumerate(items):
        # One user and one address per item: a rate limit in guards.yaml (by user or by IP) must not turn a
        # long data file into blocks.
        context = Context(stage=stage, user_key=f"eval-{number}", ip_group=f"eval-{number}",
                          request_id=f"eval-{number}")
        content = item.load()  # an image's bytes: read outside the timed check, as a server has them in memory
        started = time.perf_counter()
        verdict = pipeline.check(content, stage=stage, context=context, modality=item.modality)
        elapsed_ms = (time.perf_counter() - started) * 1000
        observations.append(observe(verdict, label=item.label, category=item.category, latency_ms=elapsed_ms,
                                    groups=item.groups))
        advance()
    return observations


def choose_stage(pipeline: Pipeline, items: Sequence[EvalItem], requested: Stage | None = None,
                 where: str = "guards.yaml") -> Stage:
    """The stage to measure: ``requested``, or else the first of input and output at which some guard
    checks every kind of content in ``items`` (so images are measured where the image guards run).

    A stage with no guard for some of the items would allow them all and measure nothing: that is a
    :class:`UserError` naming the stages that do have such guards.
    """
    modalities = sorted({item.modality for item in items})
    uncovered = {stage: [m for m in modalities if not pipeline.stage_guards(stage, m)] for stage in Stage}
    if requested is None:
        requested = next((stage for stage in (Stage.INPUT, Stage.OUTPUT) if not uncovered[stage]), None)
        if requested is not None:
            return requested
        missing = sorted({m for stage in Stage for m in uncovered[stage]})
        raise UserError(f"no stage has guards for every kind of item in the data ({_where_guards(pipeline, missing)})",
                        where=where)
    if uncovered[requested]:
        missing = uncovered[requested]
        raise UserError(f"no {' or '.join(missing)} guard runs at stage {requested.value}, so every "
                        f"{' or '.join(missing)} item would be allowed ({_where_guards(pipeline, missing)})",
                        where=where)
    return requested


def _where_guards(pipeline: Pipeline, modalities: Sequence[Modality]) -> str:
    """Where guards for each of ``modalities`` run: 'image guards run at stage output: pass --stage output'."""
    parts = []
    for m in modalities:
        stages = [stage.value for stage in Stage if pipeline.stage_guards(stage, m)]
        parts.append(f"{m.value} guards run at stage {' and '.join(stages)}: pass --stage {stages[0]}" if stages
                     else f"this guards.yaml has no {m.value} guard")
    return "; ".join(parts)


def _progress(total: int) -> AbstractContextManager[Callable[[], None]]:
    """A rich progress bar on stderr when stderr is a terminal; otherwise a no-op."""
    if not sys.stderr.isatty():
        return nullcontext(lambda: None)
    from contextlib import contextmanager

    from rich.console import Console
    from rich.progress import Progress

    @contextmanager
    def bar() -> Iterator[Callable[[], None]]:
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("evaluating", total=total)
            yield lambda: progress.advance(task)

    return bar()


@click.command("eval")
@click.option("--guards", "guards_path", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="guards.yaml to measure")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSONL: {"text" or "image", "label": 0|1, "category"} per line')
@click.option("--stage", type=click.Choice(["input", "output"]), default=None,
              help="which stage's guards run [default: input, or output where only the output stage has guards "
                   "for the data's items, as with generated images]")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="also write ROC and precision-recall curves (PNG) and summary.md to this folder")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="use only the first N items")
@click.option("--by", "by", metavar="KEY", default=None,
              help="also report metrics per value of this key of each line (for example a test's functionality)")
def eval_command(guards_path: Path, data_path: Path, stage: str | None, report_dir: Path | None,
                 limit: int | None, by: str | None = None) -> None:
    """Measure guards on labelled data: AUROC, precision, recall, F1, latency."""
    if report_dir is not None:  # before the run, which may take hours, not after it
        from clauseguard.guards.eval_report import check_report_dir

        check_report_dir(report_dir)
    pipeline = Pipeline.from_yaml(guards_path)
    items = read_items(data_path, limit, by)
    chosen = choose_stage(pipeline, items, None if stage is None else Stage(stage), where=str(guards_path))
    with _progress(len(items)) as advance:
        observations = evaluate(pipeline, items, chosen, advance)
    summary = {"guards": str(guards_path), "data": str(data_path), "stage": chosen.value, **summarize(observations)}
    click.echo(json.dumps(summary))  # first: a report that cannot be written then loses none of a long run
    if summary["unjudged"]:
        click.echo(f"warning: {summary['unjudged']} of {summary['n']} items were decided by a guard that failed or "
                   "could not read them (content too large, an error: see each guard's on_error; a language the "
                   "classifier does not read: see its params.other_languages), not by what they say; they count "
                   "as detections", err=True)
    if report_dir is not None:
        from clauseguard.guards.eval_report import write_report

        write_report(report_dir, summary, observations)


# The name clauseguard/cli.py COMMANDS looks up (shadows the builtin only inside this module).
eval = eval_command
