"""Merge the guards declared by the selected clauses into the guards of ``guards.yaml``.

Entries that are identical become one guard naming all their clauses. Entries of the list-bearing
types (keyword and classifier ``categories``, pii ``entities``, disclaimer and topic ``topics``) that
differ only in that list become one guard with the union, and ``category_clauses`` /
``category_messages`` say which clauses each category enforces. Every message quotes the numbered
section(s) it enforces. Ids are readable and deterministic: ``input-keyword``, ``input-keyword-2``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import ValidationError

from clauseguard.errors import ClauseError
from clauseguard.generator.library import Clause, Library
from clauseguard.generator.render import Numbering
from clauseguard.generator.sandbox import Source, compile_template, render
from clauseguard.guards import GuardSpec

__all__ = ["in_use", "merge_guards", "published_contacts"]

# type -> (the list that merges by union, dict params keyed by the same items that merge too)
_MERGE: dict[str, tuple[str, tuple[str, ...]]] = {
    "keyword": ("categories", ("terms",)),
    "classifier": ("categories", ("thresholds",)),
    "pii": ("entities", ()),
    "disclaimer": ("topics", ("texts",)),
    "topic": ("topics", ()),
}
# type -> a list param whose values merged entries take together, and which no entry's own values keep
# apart: pii ``allow`` (the operator's published contacts, filled in below; a clause may add values).
_UNION: dict[str, str] = {"pii": "allow"}
_TYPE_ORDER = ("rate_limit", "keyword", "regex", "pii", "classifier", "topic", "disclaimer", "ai_disclosure",
               "image_nsfw", "image_mark")
_VERBS = {"block": "Blocked", "redact": "Redacted", "flag": "Flagged", "label": "Labelled as AI-generated",
          "disclaim": "Disclaimer added"}


@dataclass(frozen=True)
class _Entry:
    clause: str
    type: str
    stage: str
    modality: str
    on_fail: str
    params: dict[str, Any]


@dataclass
class _Group:
    head: _Entry
    base: str  # canonical JSON of the params that must be equal to merge
    items: list[str] | None  # union of the merge list (None: this group does not merge by list)
    keyed: dict[str, dict[str, Any]] = field(default_factory=dict)
    union: list[str] = field(default_factory=list)  # the _UNION list of its entries, together
    clauses: list[str] = field(default_factory=list)
    per_item: dict[str, list[str]] = field(default_factory=dict)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@cache
def _param_template(text: str, file: str, line: int) -> Any:
    return compile_template(text, Source(file, line))


def _render_params(value: Any, clause: Clause, line: int, context: dict[str, Any]) -> Any:
    """String values are Jinja over the profile (only those that contain Jinja markup)."""
    if isinstance(value, dict):
        return {k: _render_params(v, clause, line, context) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_params(v, clause, line, context) for v in value]
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return render(_param_template(value, clause.file, line), context, Source(clause.file, line), "guard params")
    return value


_TEXT_OUTPUTS = frozenset({"text", "code"})  # outputs an output text guard can read


def _has_content(stage: str, modality: str, context: dict[str, Any]) -> bool:
    """Whether the product produces what a guard would check: an output text guard is left out of a
    product whose ``modalities.outputs`` hold no text or code (an image generator), so guards.yaml and
    the moderation description built from it (DSA Art. 14) do not describe checks that never run."""
    if stage == "output" and modality == "text":
        return bool(_TEXT_OUTPUTS & set(context["modalities"]["outputs"]))
    return True


def published_contacts(context: dict[str, Any]) -> list[str]:
    """The contact points the documents publish for users to write to: the operator's contact, DPO and DSA
    addresses and its DMCA agent's e-mail address and telephone number, those the profile sets. The output
    pii guard leaves them in a reply (``allow``): redacted, "write to [EMAIL]" hid where to write."""
    operator = context.get("operator") or {}
    agent = operator.get("dmca_agent") or {}
    values = (operator.get("contact_email"), operator.get("dpo_email"), operator.get("dsa_contact_email"),
              agent.get("email"), agent.get("phone"))
    return list(dict.fromkeys(v for v in values if isinstance(v, str) and v.strip()))


def _with_contacts(type_: str, stage: str, params: Any, context: dict[str, Any]) -> Any:
    """An output pii guard's params with the published contacts added to ``allow``."""
    if type_ != "pii" or stage != "output" or not isinstance(params, dict):
        return params
    contacts = published_contacts(context)
    if not contacts:
        return params
    allow = params.get("allow", [])
    return {**params, "allow": [*allow, *contacts] if isinstance(allow, list) else allow}


def _entries(library: Library, selected: tuple[str, ...], context: dict[str, Any]) -> list[_Entry]:
    entries = []
    for clause_id in selected:
        clause = library.clauses[clause_id]
        for index, guard in enumerate(clause.meta.guards):
            if not _has_content(guard.stage, guard.modality, context):
                continue
            line = clause.line("guards", index)
            params = _with_contacts(guard.type, guard.stage, _render_params(guard.params, clause, line, context),
                                    context)
            try:
                spec = GuardSpec(id="check", type=guard.type, stage=guard.stage, modality=guard.modality,
                                 on_fail=guard.on_fail, params=params)
            except ValidationError as err:
                msg = err.errors()[0]["msg"].removeprefix("Value error, ")
                raise ClauseError(f"guards[{index}] after rendering: {msg}", where=f"{clause.file}:{line}") from err
            # Defaults filled in, so `{}` and the same values written out in full are one guard.
            params = spec.typed_params().model_dump(mode="json")
            entries.append(_Entry(clause_id, guard.type, guard.stage, guard.modality, guard.on_fail, params))
    return entries


def _split(entry: _Entry) -> tuple[str, list[str] | None, dict[str, dict[str, Any]]]:
    """(base key, merge-list items or None, keyed dicts) of an entry."""
    rule = _MERGE.get(entry.type)
    head = (entry.type, entry.stage, entry.modality, entry.on_fail)
    union = _UNION.get(entry.type)
    if rule is None or rule[0] not in entry.params:
        return _canonical([*head, {k: v for k, v in entry.params.items() if k != union}]), None, {}
    list_key, dict_keys = rule
    base = {k: v for k, v in entry.params.items() if k != list_key and k not in dict_keys and k != union}
    keyed = {k: dict(entry.params.get(k, {})) for k in dict_keys}
    return _canonical([*head, "merge", base]), list(entry.params[list_key]), keyed


def _items_of(entry: _Entry, items: list[str], keyed: dict[str, dict[str, Any]]) -> list[str]:
    extra = list(keyed.get("terms", {})) if entry.type == "keyword" else []
    return list(dict.fromkeys([*items, *extra]))


def _compatible(group: _Group, keyed: dict[str, dict[str, Any]]) -> bool:
    return all(group.keyed[k].get(i, v) == v for k, d in keyed.items() for i, v in d.items())


def _group(entries: list[_Entry]) -> list[_Group]:
    groups: list[_Group] = []
    for entry in entries:
        base, items, keyed = _split(entry)
        group = next((g for g in groups if g.base == base and (items is None or _compatible(g, keyed))), None)
        if group is None:
            group = _Group(entry, base, [] if items is not None else None, {k: {} for k in keyed})
            groups.append(group)
        if entry.clause not in group.clauses:
            group.clauses.append(entry.clause)
        if entry.type in _UNION:
            group.union.extend(v for v in entry.params.get(_UNION[entry.type], []) if v not in group.union)
        if items is not None and group.items is not None:
            group.items.extend(i for i in items if i not in group.items)
            for key, values in keyed.items():
                group.keyed[key].update(values)
            for item in _items_of(entry, items, keyed):
                group.per_item.setdefault(item, [])
                if entry.clause not in group.per_item[item]:
                    group.per_item[item].append(entry.clause)
    return groups


def _natural(value: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", value))


def _cite(clause_ids: list[str], library: Library, numbering: Numbering) -> str:
    """'section 2.1 (“A”) and sections 3.1 (“B”) and 3.4 (“C”) of ...' grouped by document."""
    by_doc: dict[str, list] = {}
    for clause_id in clause_ids:
        placement = numbering.primary(library.clauses[clause_id])
        by_doc.setdefault(placement.document, []).append(placement)
    parts = []
    for placements in by_doc.values():
        placements.sort(key=lambda p: _natural(p.number))
        refs = [f"{p.number} (“{p.title}”)" for p in placements]
        noun = "section" if len(refs) == 1 else "sections"
        joined = refs[0] if len(refs) == 1 else f"{', '.join(refs[:-1])} and {refs[-1]}"
        parts.append(f"{noun} {joined} of the {placements[0].document_title}")
    return "; and ".join(parts)


def _message(on_fail: str, clause_ids: list[str], library: Library, numbering: Numbering) -> str:
    return f"{_VERBS[on_fail]} under {_cite(clause_ids, library, numbering)}."


def _params(group: _Group) -> dict[str, Any]:
    params = dict(group.head.params)
    if group.head.type in _UNION:
        params[_UNION[group.head.type]] = sorted(group.union, key=str.casefold)
    if group.items is not None:
        list_key, dict_keys = _MERGE[group.head.type]
        params[list_key] = sorted(group.items, key=_natural)
        for key in dict_keys:
            if group.keyed.get(key):
                params[key] = {k: group.keyed[key][k] for k in sorted(group.keyed[key], key=_natural)}
            else:
                params.pop(key, None)
    return params


def _spec(group: _Group, guard_id: str, library: Library, numbering: Numbering) -> GuardSpec:
    head = group.head
    clauses = sorted(group.clauses)
    per_item = {k: sorted(group.per_item[k]) for k in sorted(group.per_item, key=_natural)} if len(clauses) > 1 else {}
    return GuardSpec(
        id=guard_id, type=head.type, stage=head.stage, modality=head.modality, on_fail=head.on_fail,
        params=_params(group), clauses=clauses, message=_message(head.on_fail, clauses, library, numbering),
        category_clauses=per_item,
        category_messages={k: _message(head.on_fail, v, library, numbering) for k, v in per_item.items()})


def _order(group: _Group) -> tuple:
    head = group.head
    rank = _TYPE_ORDER.index(head.type) if head.type in _TYPE_ORDER else len(_TYPE_ORDER)
    return (head.stage != "input", rank, head.type, min(group.clauses), group.base)


def merge_guards(library: Library, selected: tuple[str, ...], numbering: Numbering,
                 context: dict[str, Any]) -> list[GuardSpec]:
    """The merged, validated guards of the selected clauses, in pipeline order."""
    specs, counts = [], {}
    for group in sorted(_group(_entries(library, selected, context)), key=_order):
        stem = f"{group.head.stage}-{group.head.type.replace('_', '-')}"
        counts[stem] = counts.get(stem, 0) + 1
        guard_id = stem if counts[stem] == 1 else f"{stem}-{counts[stem]}"
        specs.append(_spec(group, guard_id, library, numbering))
    return specs


def in_use(guards: list[GuardSpec]) -> list[dict[str, Any]]:
    """What clause bodies may describe (DSA Art. 14): the kinds of guards that run, and the topics a
    disclaimer or topic guard covers (``topics``: empty for other types)."""
    return [{"id": g.id, "type": g.type, "stage": g.stage.value, "modality": g.modality.value,
             "on_fail": g.on_fail.value, "topics": list(g.params.get("topics", []))} for g in guards]
