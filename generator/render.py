"""Number the selected clauses, then render clause bodies and template preambles into documents.

Numbering comes first so that a body can cite another clause (``ref('core/termination')`` ->
'section 10.2 (“Suspension and termination”) of the Terms of Use') and so that guard messages
(``outputs``) can quote the sections they enforce. Sections keep template order and only non-empty
ones are numbered, 1..N per document; clauses in a section are ordered by ``(order, id)`` and
numbered N.M. A document with no clause is not produced.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from clauseguard import __version__
from clauseguard.errors import ClauseError
from clauseguard.generator.document import RenderedClause, RenderedDocument, RenderedSection, Stamp
from clauseguard.generator.library import Clause, Library, Template
from clauseguard.generator.licences import licence_registry
from clauseguard.generator.sandbox import Source, compile_template, render
from clauseguard.generator.selection import Selection

__all__ = ["Numbering", "Placement", "base_globals", "clause_globals", "number", "render_document", "render_documents",
           "render_text"]


@dataclass(frozen=True)
class Placement:
    """Where a clause sits in one document."""

    document: str
    document_title: str
    section_number: str
    section_id: str
    section_title: str
    number: str  # "3.2"
    clause_id: str
    title: str

    def cite(self, from_document: str | None = None) -> str:
        """'section 3.2 (“Title”) of the Terms of Use'; without the document inside that document."""
        if from_document == self.document:
            return f"section {self.number} (“{self.title}”)"
        return f"section {self.number} (“{self.title}”) of the {self.document_title}"


@dataclass(frozen=True)
class Numbering:
    """Every placement of every selected clause, by document in document order."""

    documents: dict[str, list[list[Placement]]]  # document id -> sections -> placements
    titles: dict[str, str]  # document id -> title

    def placements(self, clause_id: str) -> list[Placement]:
        return [p for sections in self.documents.values() for sec in sections for p in sec if p.clause_id == clause_id]

    def primary(self, clause: Clause) -> Placement:
        """The placement in the first document the clause lists (the one it belongs to most)."""
        found = {p.document: p for p in self.placements(clause.id)}
        return next(found[d] for d in clause.meta.documents if d in found)


def _document_sections(template: Template, clauses: list[Clause]) -> list[list[Placement]]:
    sections = []
    for section in template.meta.sections:
        members = sorted((c for c in clauses if c.meta.section_for(template.id) == section.id),
                         key=lambda c: (c.meta.order, c.id))
        if not members:
            continue
        n = str(len(sections) + 1)
        sections.append([Placement(template.id, template.meta.title, n, section.id, section.title,
                                   f"{n}.{m}", c.id, c.meta.title) for m, c in enumerate(members, start=1)])
    return sections


def number(library: Library, selection: Selection) -> Numbering:
    """Number sections and clauses of every document that has at least one selected clause."""
    selected = [library.clauses[i] for i in selection.selected]
    documents: dict[str, list[list[Placement]]] = {}
    for template in library.documents():
        sections = _document_sections(template, [c for c in selected if template.id in c.meta.documents])
        if sections:
            documents[template.id] = sections
    return Numbering(documents, {t.id: t.meta.title for t in library.templates.values()})


def base_globals(library: Library) -> dict[str, Callable[..., Any]]:
    """Helpers available everywhere (rationale too): ``doc(id)`` and ``licence(id)``."""

    def doc(document_id: str) -> str:
        template = library.templates.get(document_id)
        if template is None:
            raise ClauseError(f"doc({document_id!r}): no such document; known: {sorted(library.templates)}")
        return template.meta.title

    def licence(licence_id: str) -> dict[str, Any]:
        facts = licence_registry().get(licence_id)
        if facts is None:
            raise ClauseError(f"licence({licence_id!r}): not in clauses/licences/registry.yaml")
        return {"id": licence_id, **facts}

    return {"doc": doc, "licence": licence}


def clause_globals(library: Library, selection: Selection, numbering: Numbering,
                    current: str) -> dict[str, Any]:
    def ref(clause_id: str) -> str:
        if clause_id not in library.clauses:
            close = difflib.get_close_matches(clause_id, list(library.clauses), n=1)
            raise ClauseError(f"ref({clause_id!r}): there is no clause with that id"
                              + (f"; did you mean {close[0]!r}?" if close else ""))
        if not selection.is_selected(clause_id):
            raise ClauseError(f"ref({clause_id!r}): that clause is not included for this profile; "
                              f"wrap the sentence in {{% if selected({clause_id!r}) %}}")
        placements = numbering.placements(clause_id)
        here = [p for p in placements if p.document == current]
        return (here or [numbering.primary(library.clauses[clause_id])])[0].cite(current)

    return {**base_globals(library), "ref": ref, "selected": selection.is_selected}


@cache
def _compiled(text: str, file: str, line: int) -> Any:
    return compile_template(text, Source(file, line))


def render_text(text: str, file: str, line: int, context: dict[str, Any], what: str) -> str:
    source = Source(file, line)
    return render(_compiled(text, file, line), context, source, what).strip()


def _render_clause(clause: Clause, placement: Placement, context: dict[str, Any],
                   selection: Selection) -> RenderedClause:
    """The body, and only the sources whose ``when`` held for the profile (see ``select``)."""
    body = render_text(clause.body, clause.file, clause.body_line, context, "body")
    return RenderedClause(placement.number, clause.id, clause.meta.title, clause.meta.version, body,
                          selection.decisions[clause.id].sources)


def _preamble_context(template: Template, sections: tuple[RenderedSection, ...]) -> dict[str, Any]:
    return {
        "document": {"id": template.id, "title": template.meta.title, "version": template.meta.version},
        "sections": [{"number": s.number, "id": s.id, "title": s.title,
                      "clauses": [{"number": c.number, "id": c.id, "title": c.title, "body": c.body,
                                   "sources": list(c.sources)} for c in s.clauses]} for s in sections],
    }


def render_document(template: Template, placements: list[list[Placement]], context: dict[str, Any],
                     library: Library, selection: Selection, stamp: Stamp) -> RenderedDocument:
    sections = tuple(
        RenderedSection(sec[0].section_number, sec[0].section_id, sec[0].section_title,
                        tuple(_render_clause(library.clauses[p.clause_id], p, context, selection) for p in sec))
        for sec in placements)
    preamble = render_text(template.body, template.file, template.body_line,
                            {**context, **_preamble_context(template, sections)}, "template")
    profile = context
    return RenderedDocument(
        id=template.id, title=template.meta.title, version=template.meta.version, preamble=preamble,
        sections=sections, stamp=stamp, product_name=profile["product"]["name"],
        operator_name=profile["operator"]["legal_name"],
        clause_ids=tuple(c.id for s in sections for c in s.clauses))


def make_stamp(profile_context: dict[str, Any], profile_sha256: str) -> Stamp:
    return Stamp(__version__, profile_sha256, str(profile_context["product"]["effective_date"]))


def render_documents(library: Library, selection: Selection, numbering: Numbering,
                     profile_context: dict[str, Any], stamp: Stamp,
                     guards_in_use: list[dict[str, Any]]) -> list[RenderedDocument]:
    """Render every numbered document, in document order."""
    documents = []
    for doc_id, placements in numbering.documents.items():
        context = {**profile_context, **clause_globals(library, selection, numbering, doc_id),
                   "guards_in_use": guards_in_use}
        documents.append(render_document(library.templates[doc_id], placements, context, library, selection,
                                          stamp))
    return documents
