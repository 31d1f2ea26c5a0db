"""The ``clauseguard eval --report DIR`` folder: ROC and precision-recall curves, and summary.md.

matplotlib is imported only here and only when a report is asked for (Agg backend: no display needed).
The folder is written whole or not at all: everything goes to a temporary sibling folder that is then
renamed into place, so a crash never leaves a half-written report next to a good summary. Only a new
folder, an empty one or an older report (nothing but the report's own files) is replaced: a folder
holding anything else (the data file, the folder the user is in) is refused, never deleted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clauseguard._atomic import staged_folder
from clauseguard.errors import UserError
from clauseguard.guards.eval import Observation, category_view, pr_points, roc_points

__all__ = ["PR_PNG", "REPORT_FILES", "ROC_PNG", "SUMMARY_MD", "check_report_dir", "render_summary", "write_report"]

ROC_PNG = "roc.png"
PR_PNG = "precision_recall.png"
SUMMARY_MD = "summary.md"
REPORT_FILES = frozenset({ROC_PNG, PR_PNG, SUMMARY_MD})

_COLUMNS = ("n", "positives", "auroc", "precision", "recall", "f1", "false_positive_rate")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ModuleNotFoundError as err:
        raise UserError("--report draws its curves with matplotlib, which is not installed; "
                        "install it with: pip install 'clauseguard[eval]' (or pip install matplotlib)") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves(observations: Sequence[Observation], categories: Sequence[str]) -> list[tuple[str, list[int],
                                                                                        list[float]]]:
    """(name, labels, scores) for the overall decision and each category."""
    curves = [("all", [o.label for o in observations], [o.score for o in observations])]
    for category in categories:
        labels, _, scores = category_view(observations, category)
        curves.append((category, labels, scores))
    return [c for c in curves if 0 < sum(c[1]) < len(c[1])]  # a curve needs both classes


def _plot(plt: Any, path: Path, curves: list[tuple[str, list[int], list[float]]], *, roc: bool) -> None:
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    for name, labels, scores in curves:
        points = roc_points(labels, scores) if roc else pr_points(labels, scores)
        xs, ys = zip(*points, strict=True)
        # Points come by rising recall, each with the precision at which its recall is reached: the step
        # between two recalls takes the higher recall's precision (steps-post drew the stricter threshold's).
        ax.plot(xs, ys, drawstyle="steps-pre" if not roc else "default", label=name)
    if roc:
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    ax.set_xlabel("false positive rate" if roc else "recall")
    ax.set_ylabel("true positive rate" if roc else "precision")
    ax.set_xlim(-0.02, 1.02)  # a curve along an edge (x = 0, recall = 1) is not drawn on the axis line
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("ROC" if roc else "Precision-recall")
    if not curves:
        ax.text(0.5, 0.5, "only one class in the data: no curve", ha="center", va="center")
    if curves or roc:
        ax.legend(loc="lower right" if roc else "lower left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _name(name: str) -> str:
    """A scope's name as one table cell: a group named "hate|threat" or holding a line break keeps its row."""
    return " ".join(name.split()).replace("|", "\\|")


def render_summary(summary: dict[str, Any]) -> str:
    """summary.md: where the numbers come from, the metrics table, latency, and the two curves."""
    rows = [("all", summary), *summary.get("per_category", {}).items(),
            *((f"group: {name}", row) for name, row in summary.get("per_group", {}).items())]
    columns = _COLUMNS + (("auroc_against_rest",) if any("auroc_against_rest" in row for _, row in rows) else ())
    lines = [
        "# Guard evaluation", "",
        f"Guards `{summary.get('guards', '?')}` on `{summary.get('data', '?')}`, stage `{summary.get('stage', '?')}`.",
        "Precision, recall, F1 and false positive rate are at the guards' configured thresholds; "
        "AUROC ranks items by their highest finding score"
        + ("; a group of one class only is also ranked against every item of the other class "
           "(auroc_against_rest)." if len(columns) > len(_COLUMNS) else "."), "",
        "| scope | " + " | ".join(columns) + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    lines += [f"| {_name(name)} | " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for name, row in rows]
    latency = summary.get("latency_ms", {})
    lines += ["", f"Latency per item: p50 {_cell(latency.get('p50'))} ms, p99 {_cell(latency.get('p99'))} ms; "
              f"{_cell(summary.get('items_per_second'))} items per second.", "",
              f"![ROC curve]({ROC_PNG})", "", f"![Precision-recall curve]({PR_PNG})", ""]
    return "\n".join(lines)


def check_report_dir(report_dir: Path) -> None:
    """Raise :class:`UserError` unless a report can be drawn (matplotlib) and ``report_dir`` may be
    (re)placed by one: a file, a folder holding anything but an older report's files, or the working
    folder is refused, so the rename that puts a report in place never deletes what the user keeps there."""
    _pyplot()
    report_dir = _target(report_dir)
    if report_dir.exists() and not report_dir.is_dir():
        raise UserError("the report path exists and is not a folder", where=str(report_dir))
    _check_parent(report_dir)
    if report_dir.is_dir():
        if report_dir.resolve() == Path.cwd().resolve():
            raise UserError("the report would replace the folder you are in: give a new folder", where=str(report_dir))
        try:
            foreign = sorted(p.name for p in report_dir.iterdir() if p.name not in REPORT_FILES)
        except OSError as err:
            raise UserError(f"cannot read the report folder: {err.strerror or err}", where=str(report_dir)) from err
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise UserError(f"the report folder holds other files ({shown}), which writing the report would "
                            "delete: give a new or empty folder, or one holding only an older report",
                            where=str(report_dir))


def _target(report_dir: Path) -> Path:
    """The folder the report replaces: ``report_dir``, or the folder it links to (a link given as --report
    stays a link; replacing it with a folder would leave the linked folder without the report)."""
    report_dir = Path(report_dir).absolute()
    try:
        return report_dir.resolve(strict=False) if report_dir.is_symlink() else report_dir
    except (RuntimeError, OSError) as err:  # a link to itself, or a loop of links
        raise UserError(f"the report path is a link that leads nowhere ({err})", where=str(report_dir)) from err


def _check_parent(report_dir: Path) -> None:
    """The nearest existing folder above ``report_dir`` must be a folder the report can be written in."""
    above = next(p for p in report_dir.parents if p.exists())
    if not above.is_dir():
        raise UserError(f"cannot write the report: {str(above)!r} is a file, not a folder", where=str(report_dir))
    if not os.access(above, os.W_OK | os.X_OK):
        raise UserError(f"cannot write the report: no permission to write in {str(above)!r}", where=str(report_dir))


def write_report(report_dir: Path, summary: dict[str, Any], observations: Sequence[Observation]) -> None:
    """Write roc.png, precision_recall.png and summary.md into ``report_dir`` atomically."""
    check_report_dir(report_dir)
    plt = _pyplot()
    report_dir = _target(report_dir)
    try:
        with staged_folder(report_dir) as staging:
            curves = _curves(observations, list(summary.get("per_category", {})))
            _plot(plt, staging / ROC_PNG, curves, roc=True)
            _plot(plt, staging / PR_PNG, curves, roc=False)
            (staging / SUMMARY_MD).write_text(render_summary(summary), encoding="utf-8",
                                                errors="backslashreplace")  # a lone surrogate from the data
    except OSError as err:
        raise UserError(f"cannot write the report: {err.strerror or err}", where=str(report_dir)) from err
