"""Merge the guards declared by the selected clauses into the guards of ``guards.yaml``.

Entries that are identical become one guard naming all their clauses. Entries of the list-bearing
types (keyword and classifier ``categories``, pii ``entities``, disclaimer and topic ``topics``) that
differ only in that list become one guard with the union, and ``category_clauses`` /
``category_messages`` say which clauses each category enforces. Every message quotes the numbered
section(s) it enforces. Ids are readable and deterministic: ``input-keyword``, ``input-keyword-2``.

A keyword entry with terms of its own (``terms``) merges only with entries whose categories no other
clause names, so a finding of those terms cites only the clause that listed them. A product that admits
minors (``audience.minimum_age`` under 18) gets stricter guards (:func:`for_minors`); every S11 (suicide
and self-harm) finding's message names the helplines for the profile's jurisdictions; a rate limit's
message says to wait, and for how long.
"""

from __future__ import annotations

import json
import math
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

__all__ = ["MINOR_IMAGE_THRESHOLD", "MINOR_THRESHOLD", "for_minors", "in_use", "merge_guards", "published_contacts",
           "retry_after", "self_harm_support"]

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
_TYPE_ORDER = ("rate_limit", "keyword", "regex", "pii", "classifier", "topic", "support", "disclaimer", "ai_disclosure",
               "image_nsfw", "image_mark")
_VERBS = {"block": "Blocked", "redact": "Redacted", "flag": "Flagged", "label": "Labelled as AI-generated",
          "disclaim": "Disclaimer added"}

# A product that admits minors gets stricter guards than an adult one, as the questionnaire ("Under 18 adds
# child-protection clauses") and the examples promise. The embedding heads put their calibrated decision
# point at 0.5; at 0.35 the S4, S11 and S12 heads caught 51 of the 77 harmful texts of those categories in
# scripts/data/eval (41 at 0.5) and flagged 4.2% of its 1,101 benign ones (1.3% at 0.5). opennsfw's own
# decision point is 0.5; the clauses use 0.8 for adults.
MINOR_CATEGORIES = ("S4", "S11", "S12")
MINOR_THRESHOLD = 0.35
MINOR_IMAGE_THRESHOLD = 0.5
# What clauses/content/self-harm.md promises ("it will point you to people who can help"), and for which
# jurisdictions (Samaritans answer 116 123 in the UK and in Ireland, an EU member state).
_HELPLINES = ((("US",), "In the US, call or text 988 (Suicide & Crisis Lifeline)."),
              (("UK", "EU"), "In the UK and Ireland, call Samaritans on 116 123."),
              (("EU",), "In the EU, call 112 in an emergency."))


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
            on_fail, params = for_minors(guard.type, guard.on_fail, params, context)
            entries.append(_Entry(clause_id, guard.type, guard.stage, guard.modality, on_fail, params))
    return entries


def _scores(type_: str, params: dict[str, Any], category: str) -> bool:
    """Whether a keyword or classifier guard with ``params`` reports findings of ``category``."""
    if type_ == "keyword":
        return category in params["categories"] or bool(params.get("terms", {}).get(category))
    if type_ == "classifier":
        if params["categories"]:
            return category in params["categories"]
        return "embedding" in params["backends"] or category in params["label_map"].values()  # every one it knows
    return False


def _minors_thresholds(params: dict[str, Any]) -> dict[str, Any]:
    """A classifier's params with S4, S11 and S12 at most ``MINOR_THRESHOLD``, those it scores."""
    scored = [c for c in MINOR_CATEGORIES if _scores("classifier", params, c)]
    if not scored:
        return params
    thresholds = dict(params["thresholds"])
    for cat in scored:
        thresholds[cat] = min(thresholds.get(cat, thresholds.get("default", 0.5)), MINOR_THRESHOLD)
    return {**params, "thresholds": thresholds}


def for_minors(type_: str, on_fail: str, params: dict[str, Any], context: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(on_fail, params)`` of a clause's guard, stricter where the product admits users under 18: the
    classifier flags or blocks child sexual abuse (S4), self-harm (S11) and sexual content (S12) from
    ``MINOR_THRESHOLD``, and ``image_nsfw`` blocks (never blurs or only flags) from ``MINOR_IMAGE_THRESHOLD``.
    An adult product's guards are left as the clause wrote them."""
    if context["audience"]["minimum_age"] >= 18:
        return on_fail, params
    if type_ == "classifier":
        return on_fail, _minors_thresholds(params)
    if type_ == "image_nsfw":
        return "block", {**params, "threshold": min(params["threshold"], MINOR_IMAGE_THRESHOLD)}
    return on_fail, params


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
    own_terms = entry.type == "keyword" and any(entry.params.get("terms", {}).values())
    return _canonical([*head, "merge", base, own_terms]), list(entry.params[list_key]), keyed


def _items_of(entry: _Entry, items: list[str], keyed: dict[str, dict[str, Any]]) -> list[str]:
    extra = list(keyed.get("terms", {})) if entry.type == "keyword" else []
    return list(dict.fromkeys([*items, *extra]))


def _compatible(group: _Group, entry: _Entry, items: list[str], keyed: dict[str, dict[str, Any]]) -> bool:
    """Whether ``entry`` may join ``group``: no keyed value differs, and where the entries bring terms of their
    own, no category is another clause's too (a finding there cites the clause of those terms, and it alone)."""
    if not all(group.keyed[k].get(i, v) == v for k, d in keyed.items() for i, v in d.items()):
        return False
    if not any(group.keyed.get("terms", {}).values()) and not any(keyed.get("terms", {}).values()):
        return True
    return all(set(group.per_item.get(item, ())) <= {entry.clause} for item in _items_of(entry, items, keyed))


def _group(entries: list[_Entry]) -> list[_Group]:
    groups: list[_Group] = []
    for entry in entries:
        base, items, keyed = _split(entry)
        group = next((g for g in groups if g.base == base and (items is None or _compatible(g, entry, items, keyed))),
                     None)
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


def self_harm_support(context: dict[str, Any]) -> str:
    """Where to find help, for the profile's jurisdictions: what an S11 finding's message adds."""
    lines = [text for where, text in _HELPLINES if set(where) & set(context["jurisdictions"])]
    return " ".join(["If you are struggling, you are not alone, and there are people who can help.", *lines,
                     "If you are in immediate danger, call your local emergency number."])


def retry_after(refill_per_second: float) -> int:
    """Seconds until a spent bucket has a token again, at most (as ``RateLimitGuard.retry_after``)."""
    return max(1, math.ceil(1 / refill_per_second - 1e-9))


def _rate_limit_message(group: _Group, cite: str) -> str:
    """"Too many requests: try again in 2 seconds." and the sections the limit enforces."""
    wait = retry_after(group.head.params["refill_per_second"])
    if group.head.on_fail == "flag":
        return f"Over the rate limit: flagged under {cite}."
    return f"Too many requests: try again in {wait} {'second' if wait == 1 else 'seconds'}. Rate limited under {cite}."


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


def _spec(group: _Group, guard_id: str, library: Library, numbering: Numbering, context: dict[str, Any]) -> GuardSpec:
    head = group.head
    clauses = sorted(group.clauses)
    per_item = {k: sorted(group.per_item[k]) for k in sorted(group.per_item, key=_natural)} if len(clauses) > 1 else {}
    params = _params(group)
    message = _message(head.on_fail, clauses, library, numbering)
    if head.type == "rate_limit":
        message = _rate_limit_message(group, _cite(clauses, library, numbering))
    if head.type == "support":
        message = f"Helplines added under {_cite(clauses, library, numbering)}."
    messages = {k: _message(head.on_fail, v, library, numbering) for k, v in per_item.items()}
    if _scores(head.type, params, "S11"):  # clauses/content/self-harm.md: "it will point you to people who can help"
        messages["S11"] = f"{messages.get('S11', message)} {self_harm_support(context)}"
    return GuardSpec(
        id=guard_id, type=head.type, stage=head.stage, modality=head.modality, on_fail=head.on_fail,
        params=params, clauses=clauses, message=message, category_clauses=per_item,
        category_messages={k: messages[k] for k in sorted(messages, key=_natural)})


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
        specs.append(_spec(group, guard_id, library, numbering, context))
    return specs


def in_use(guards: list[GuardSpec]) -> list[dict[str, Any]]:
    """What clause bodies may describe (DSA Art. 14): the kinds of guards that run, and the topics a
    disclaimer or topic guard covers (``topics``: empty for other types)."""
    return [{"id": g.id, "type": g.type, "stage": g.stage.value, "modality": g.modality.value,
             "on_fail": g.on_fail.value, "topics": list(g.params.get("topics", []))} for g in guards]
