"""``clauseguard check``: run guards.yaml on texts and print one JSON verdict per input.

Inputs come from ``--text``, ``--file`` (the whole file is one text) or ``--jsonl`` (one object per
line: ``{"text": ..., "stage": "input"|"output", "turn": 0, "id": ...}``; ``stage`` and ``turn``
override the options); ``-`` for either file reads standard input. The exit code is 0 whatever the
verdicts (read ``allowed`` in the output), 2 for a mistake in the guards file, the options or an input
line (named by file and line) or a ``--log`` file that cannot be written, 1 when the log fails while
writing, 130 on Ctrl-C.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from clauseguard.errors import RecordsError, UserError
from clauseguard.guards._base import Context
from clauseguard.guards._params import Stage
from clauseguard.guards.pipeline import Pipeline
from clauseguard.guards.sinks import JsonlSink

__all__ = ["check"]


def _jsonl_items(path: Path, stage: str, turn: int) -> Iterator[dict[str, Any]]:
    name = "<stdin>" if str(path) == "-" else str(path)
    with click.open_file(str(path), "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            where = f"{name}:{number}"
            try:
                line = raw.decode("utf-8-sig")  # a BOM, as Windows editors write one
            except UnicodeDecodeError as err:
                raise UserError(f"not UTF-8 text ({err.reason} at byte {err.start} of the line)",
                                where=where) from err
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(f"invalid JSON: {err.msg}", where=where) from err
            except (ValueError, RecursionError) as err:  # valid JSON Python will not read: deep, or a huge int
                raise UserError("JSON that cannot be read: " + ("nested too deeply" if isinstance(err, RecursionError)
                                                                 else str(err).split(";")[0]), where=where) from err
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise UserError('each line must be an object with a "text" string', where=where)
            item_stage = item.get("stage", stage)
            if item_stage not in ("input", "output"):
                raise UserError(f"stage must be input or output, not {item_stage!r}", where=where)
            item_turn = item.get("turn", turn)
            if not isinstance(item_turn, int) or isinstance(item_turn, bool) or item_turn < 0:
                raise UserError(f'"turn" must be a whole number from 0, not {item_turn!r}', where=where)
            user = item.get("user", f"line-{number}")  # each line its own user, so a rate limit in
            if not isinstance(user, str) or not user:  # guards.yaml does not block a long file
                raise UserError(f'"user" must be a non-empty string, not {user!r}', where=where)
            yield {"id": item.get("id", number), "text": item["text"], "stage": item_stage,
                   "turn": item_turn, "user": user, "where": where}


def _read_text(file: Path) -> str:
    name = "<stdin>" if str(file) == "-" else str(file)
    with click.open_file(str(file), "rb") as fh:
        data = fh.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"not UTF-8 text ({err.reason} at byte {err.start})", where=name) from err


def _log_sink(path: Path) -> JsonlSink:
    """The sink for ``--log``, tried once before any input is read: a log that cannot be written is a
    mistake in the option, not a traceback at the first decision."""
    try:
        sink = JsonlSink(path)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as err:
        raise UserError(f"cannot write the decision log: {err.strerror or err}", where=str(path)) from err
    return sink


def _check_covered(pipeline: Pipeline, stage: str, guards_path: Path, where: str) -> None:
    """A stage where no text guard runs would allow every text, unchecked: that is a mistake in the stage
    (or the file), as ``clauseguard eval`` says too."""
    if pipeline.stage_guards(stage):
        return
    other = [s.value for s in Stage if pipeline.stage_guards(s)]
    hint = f"its text guards run at stage {other[0]}" if other else "it has no text guard"
    raise UserError(f"no text guard of {guards_path} runs at stage {stage}, so every text would be allowed "
                    f"unchecked ({hint})", where=where)


def _items(texts: tuple[str, ...], file: Path | None, jsonl: Path | None, stage: str,
           turn: int) -> Iterator[dict[str, Any]]:
    given = [x for x in (texts or None, file, jsonl) if x is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --text (repeated for several texts), --file, --jsonl")
    if texts:
        for number, text in enumerate(texts, 1):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as err:  # argv bytes that were not UTF-8, kept by Python as surrogates
                where = "--text" if len(texts) == 1 else f"--text number {number}"
                raise UserError(f"not UTF-8 text (a byte that is not UTF-8 at character {err.start})",
                                where=where) from err
        for number, text in enumerate(texts, 1):
            yield {"id": number, "text": text, "stage": stage, "turn": turn, "user": "cli", "where": "--stage"}
    elif file is not None:
        yield {"id": 1, "text": _read_text(file), "stage": stage, "turn": turn, "user": "cli", "where": "--stage"}
    else:
        assert jsonl is not None
        yield from _jsonl_items(jsonl, stage, turn)


@click.command("check")
@click.option("--guards", "guards_path", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="guards.yaml to run")
@click.option("--text", "texts", multiple=True, help="a text to check; repeat it for several, one verdict each "
              "(ids 1, 2, ...)")
@click.option("--file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path), default=None,
              help="a file whose whole content is one text (- reads standard input)")
@click.option("--jsonl", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
              default=None, help='one JSON object per line: {"text", "stage", "turn", "id", "user"}; lines '
                                 'without "user" are separate users (for rate limits); - reads standard input')
@click.option("--stage", type=click.Choice(["input", "output"]), default="input", show_default=True)
@click.option("--turn", type=click.IntRange(min=0), default=0, show_default=True, help="conversation turn (0 = first)")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="append decision records (no content) to this JSONL file")
def check(guards_path: Path, texts: tuple[str, ...], file: Path | None, jsonl: Path | None, stage: str,
          turn: int, log_path: Path | None) -> None:
    """Run guards.yaml on texts; print one JSON verdict per input."""
    pipeline = Pipeline.from_yaml(guards_path)
    if log_path is not None:
        pipeline.sink = _log_sink(log_path)
    for item in _items(texts, file, jsonl, stage, turn):
        _check_covered(pipeline, item["stage"], guards_path, item["where"])
        # Each user its own address too: a rate limit keyed by IP must not put every line in one bucket.
        context = Context(turn=item["turn"], stage=Stage(item["stage"]), user_key=item["user"],
                          ip_group=f"cli:{item['user']}")
        try:
            verdict = pipeline.check(item["text"], stage=item["stage"], context=context)
        except OSError as err:  # only the decision log writes; guards' own errors are verdicts
            raise RecordsError(f"cannot write the decision log: {err}", where=str(log_path)) from err
        click.echo(json.dumps({"id": item["id"], "stage": item["stage"], **verdict.to_dict()}))
