"""Classifier guard: model-backed harm scores per category, from one or more interchangeable backends.

Backends (``params.backends``): ``embedding`` (default; MiniLM plus heads trained by this project for
S1-S13, toxicity as S10, and prompt_injection), ``lexical`` (alt-profanity-check -> profanity) and
``transformers`` (a local text classifier or Llama Guard-style judge at ``model_path``). Their scores
fuse per category (``max`` or ``mean``); a category whose score reaches its threshold is a finding
about the whole text (no span). A text in a language the backends do not read (``params.languages``,
else what they declare: English for embedding and lexical) gets a finding of no category instead of
passing as judged: flagged by default, ``params.other_languages`` (guards/_language.py). Models load once
per process, when the guard is built, so the first request pays nothing and a broken model folder fails
at start-up, not in production traffic.

Importing this module imports neither torch nor numpy.
"""

from __future__ import annotations

from typing import Any

from clauseguard.errors import GuardConfigError, GuardError, ModelLoadError
from clauseguard.guards._base import Context, Guard
from clauseguard.guards._fusion import Backend, Scores, fuse, resolve_thresholds, too_long
from clauseguard.guards._language import LanguageCheck, get_language_check, language_name
from clauseguard.guards._params import Action, ClassifierParams, GuardSpec, Stage
from clauseguard.guards._refusals import Spans, refusal_spans, refusals_in, without_refusals
from clauseguard.guards._registry import register
from clauseguard.guards._runner import failure_verdict
from clauseguard.guards._verdict import Verdict

__all__ = ["SCORES_KEY", "ClassifierGuard", "build_backend"]

# Verdict metadata key prefix: ``scores/<guard id>`` -> ``{category: score}`` for every category.
SCORES_KEY = "scores"

# A stream is judged in overlapping pieces as it grows (characters that show; see guards/streaming.py): each
# judgment reads the last STREAM_LOOKBEHIND characters already released and everything after them, once
# STREAM_STEP more have come (a judgment is one or two passes of the model), and the last STREAM_HOLD
# characters judged wait for the next one, so no sentence is shown before what follows it was read with it.
# About 100 words of context before, 80 held: two of the embedding backend's 160-word windows at most.
STREAM_LOOKBEHIND = 600
STREAM_HOLD = 400
STREAM_STEP = 200
_STREAMING_BACKENDS = frozenset({"embedding", "lexical"})  # a local judge model reads the whole answer once


def build_backend(name: str, params: ClassifierParams) -> Backend:
    """The (process-wide, cached) backend called ``name`` in guards.yaml."""
    if name == "embedding":
        from clauseguard.guards._clf_embedding import get_embedding

        return get_embedding()
    if name == "lexical":
        from clauseguard.guards._clf_lexical import get_lexical

        return get_lexical()
    if name == "transformers":
        from clauseguard.guards._clf_transformers import load_transformers

        assert params.model_path is not None  # checked by ClassifierParams
        return load_transformers(params.model_path, params.label_map, device=params.device, dtype=params.dtype)
    raise GuardConfigError(f"unknown classifier backend {name!r}; known: embedding, lexical, transformers")


@register("classifier")
class ClassifierGuard(Guard):
    """Blocks or flags a text whose fused score reaches the threshold of a category."""

    params: ClassifierParams

    def __init__(self, spec: GuardSpec) -> None:
        super().__init__(spec)
        self.backends = [self._backend(name) for name in self.params.backends]
        known = frozenset().union(*(b.categories for b in self.backends))
        unknown = sorted(set(self.params.categories) - known)
        if unknown:
            raise GuardConfigError(f"no backend in {self.params.backends} scores {unknown}; "
                                   f"they score {sorted(known)}", where=f"guard {spec.id!r} params.categories")
        self.categories = list(self.params.categories) or sorted(known)
        unused = sorted(set(self.params.thresholds) - {"default"} - set(self.categories))
        if unused:
            raise GuardConfigError(f"thresholds for {unused}, which this guard does not score; it scores "
                                   f"{self.categories}", where=f"guard {spec.id!r} params.thresholds")
        self.thresholds = resolve_thresholds(self.categories, self.params.thresholds)
        self.reads = self._reads()
        self.language_check: LanguageCheck | None = None
        if self.reads is not None and self.params.other_languages != "allow":
            try:
                self.language_check = get_language_check()
            except ModelLoadError as err:
                raise ModelLoadError(str(err), where=f"guard {spec.id!r} params.other_languages") from err
            if unknown := sorted(self.reads - self.language_check.languages):
                raise GuardConfigError(f"unknown language codes {unknown}; py3langid knows "
                                       f"{sorted(self.language_check.languages)}",
                                       where=f"guard {spec.id!r} params.languages")
        if set(self.params.backends) <= _STREAMING_BACKENDS:
            self.stream_hold, self.stream_lookbehind, self.stream_step = STREAM_HOLD, STREAM_LOOKBEHIND, STREAM_STEP

    def _reads(self) -> frozenset[str] | None:
        """The languages this guard reads: ``params.languages``, else every language a backend reads
        (None, no check, where one reads any: a multilingual judge model scores what the others cannot)."""
        if self.params.languages is not None:
            return frozenset(self.params.languages)
        declared = [getattr(b, "languages", None) for b in self.backends]
        return None if any(d is None for d in declared) else frozenset().union(*declared)

    def _backend(self, name: str) -> Backend:
        """``build_backend``, with a load failure naming this guard and the key at fault, as guards.yaml
        errors do (the transformers backend names ``params.model_path``, ``params.label_map`` or ``params.device``)."""
        try:
            return build_backend(name, self.params)
        except ModelLoadError as err:
            if err.where and err.where.startswith("params."):
                raise ModelLoadError(err.message, where=f"guard {self.id!r} {err.where}") from err
            raise ModelLoadError(str(err), where=f"guard {self.id!r} params.backends") from err

    def scores(self, texts: list[str], refusals: list[Spans] | None = None) -> list[Scores]:
        """Fused scores of the configured categories, one dict per text (batched through every backend).
        ``refusals``: each output text's refusal clauses, when not its own (a stream's windows)."""
        # A judge reads answers as the assistant's turn: Llama Guard judges a reply unlike a request.
        role = "assistant" if self.spec.stage is Stage.OUTPUT else "user"
        embedder = next((b.embedder for b in self.backends if getattr(b, "embedder", None) is not None), None)
        too_long(texts, self.params.max_chars, "classifier", None if embedder is None else embedder.pieces)
        # An answer's refusal clauses ("I can't help with making explosives") are not read, except by a judge
        # model, which reads a refusal as one (guards/_refusals.py).
        answers = texts
        if self.spec.stage is Stage.OUTPUT:
            spans = refusals or [refusal_spans(t) for t in texts]
            answers = [without_refusals(t, s) for t, s in zip(texts, spans, strict=True)]
        fused = fuse([self._backend_scores(b, texts if getattr(b, "reads_roles", False) else answers, role,
                                           texts if self.spec.stage is Stage.OUTPUT else None,
                                           self.params.group_threshold)
                      for b in self.backends], self.params.fusion)
        return [{c: s[c] for c in self.categories} for s in fused]

    @staticmethod
    def _backend_scores(backend: Backend, texts: list[str], role: str, whole: list[str] | None = None,
                        groups: bool = True) -> list[Scores]:
        """``backend``'s scores of ``texts``. One that leaves out a category it scores is broken: reading
        the gap as 0.0, or as another backend's score, would pass a text nobody judged, so it is an error.
        ``whole``: at the output stage, the answers with their refusal clauses, for a backend that judges
        answers whole beside ``texts`` (the embedding backend's answer gate). ``groups``: whether the embedding
        backend judges a text naming a group of people at its lower threshold (``params.group_threshold``)."""
        if getattr(backend, "reads_roles", False):
            out = backend.score(texts, role=role)
        else:
            options: dict[str, Any] = {}
            if whole is not None and getattr(backend, "reads_whole_answers", False):
                options["whole"] = whole
            if getattr(backend, "reads_groups", False):
                options["groups"] = groups
            out = backend.score(texts, **options)
        for scores in out:
            if missing := sorted(backend.categories - scores.keys()):
                raise GuardError(f"the {backend.name} backend returned no score for {missing}")
        return out

    def check_batch(self, texts: list[str], refusals: list[Spans] | None = None) -> list[Verdict]:
        """One verdict per text, scoring the whole batch in one pass of each model. A text longer than
        ``params.max_chars`` is not read: its verdict is the guard's ``on_error`` one (block by default),
        and the other texts of the batch are judged as usual. So is a text the model cannot judge: when a
        batch fails with a GuardError, each of its texts is scored again alone. ``refusals``: as for
        :meth:`scores`."""
        if refusals is None:
            refusals = [refusal_spans(t) if self.spec.stage is Stage.OUTPUT else [] for t in texts]
        unread: dict[int, Verdict] = {}
        for i, text in enumerate(texts):
            try:
                too_long([text], self.params.max_chars, "classifier")
            except GuardError as err:
                unread[i] = failure_verdict(self, text, str(err))
        readable = [i for i in range(len(texts)) if i not in unread]
        try:
            scores = self.scores([texts[i] for i in readable], [refusals[i] for i in readable]) if readable else []
            judged = {i: self._verdict(texts[i], s) for i, s in zip(readable, scores, strict=True)}
        except GuardError:  # a text the model cannot judge (a judge's answer it cannot read) fails alone
            if len(readable) < 2:
                raise
            judged = {i: self._alone(texts[i], refusals[i]) for i in readable}
        return [unread[i] if i in unread else judged[i] for i in range(len(texts))]

    def _alone(self, text: str, refusals: Spans) -> Verdict:
        """``text`` scored on its own: its verdict, or the guard's ``on_error`` one when it cannot be scored."""
        try:
            return self._verdict(text, self.scores([text], [refusals])[0])
        except GuardError as err:
            return failure_verdict(self, text, str(err))

    def check(self, content: str | bytes, context: Context) -> Verdict:
        if not isinstance(content, str):
            return Verdict.allow(content, self.id)
        refusals = [refusals_in(content, context.metadata)] if self.spec.stage is Stage.OUTPUT else None
        return self.check_batch([content], refusals)[0]

    def _verdict(self, text: str, scores: Scores) -> Verdict:
        findings = [self.finding(cat, score=round(score, 4))
                    for cat, score in sorted(scores.items(), key=lambda kv: -kv[1])
                    if score >= self.thresholds[cat]]
        # Every category's score, below threshold too: `clauseguard eval` ranks by them (AUROC), and
        # the audit record keeps them (the score behind each decision).
        metadata = {f"{SCORES_KEY}/{self.id}": {c: round(s, 4) for c, s in sorted(scores.items())}}
        if self.language_check is not None and self.reads is not None:
            foreign = self.language_check.foreign(text, self.reads)
            if foreign is not None:
                language, probability = foreign
                read = ", ".join(language_name(code) for code in sorted(self.reads))
                findings.append(self.finding(
                    None, score=round(probability, 4), action=Action(self.params.other_languages),
                    message=f"Not checked: this text is in {language_name(language)}, and the automated checks "
                            f"read only {read}."))
        return self.verdict(text, findings, metadata=metadata)
