"""``clauseguard audit verify|export`` and ``clauseguard records purge``.

``audit verify`` exits 0 when the chain holds and 1 when it is broken, printing the first bad seq and
why; it also prints the head and the purge anchor (seq and hash of each), to be kept outside the database:
a later head must extend that chain, and the anchor may only move forward.

The readers (``audit verify``, ``audit export``) create nothing: a ``--db`` where no record store exists
is an error, not a new empty store that verifies. A ``--db`` that cannot be opened (a malformed URL, a
missing folder, a file that is not a database) or an ``-o`` that cannot be written is a user error:
``error: ...`` and exit code 2. A store that fails while working (a purge that finds a broken chain, a
full or read-only disk) prints ``error: ...`` and exits with code 1.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from clauseguard.guards.records import RecordStore

__all__ = ["audit", "records"]

_DB = click.option("--db", "url", default="sqlite:///clauseguard.db", show_default=True, envvar="CLAUSEGUARD_DB",
                   help="record store URL (sqlite:///file.db or postgresql+psycopg://...)")


def _open(url: str, *, write: bool = False) -> RecordStore:
    """The store behind ``--db``: a writer may create and migrate it, a reader only opens what exists."""
    from clauseguard.errors import RecordsError, UserError
    from clauseguard.guards.records import RecordStore

    try:
        return RecordStore.open(url, migrate=write, must_exist=not write)
    except RecordsError as err:
        raise UserError(f"--db {_shown(url)}: {err}") from err


def _shown(url: str) -> str:
    from clauseguard.guards.records.store import shown_url

    return shown_url(url)


@click.group()
def audit() -> None:
    """Check or export the hash-chained audit log."""


@audit.command()
@_DB
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def verify(url: str, as_json: bool) -> int:
    """Check every record of the audit chain; exit 1 at the first that does not hold."""
    from clauseguard.guards.records import verify as verify_chain

    with _open(url) as store:
        result = verify_chain(store)
    if as_json:
        click.echo(json.dumps({"ok": result.ok, "checked": result.checked, "first_bad_seq": result.first_bad_seq,
                               "reason": result.reason, "head_seq": result.head_seq, "head_hash": result.head_hash,
                               "anchor_seq": result.anchor_seq, "anchor_hash": result.anchor_hash}))
    elif result.ok:
        click.echo(f"ok: {result.checked} records; head seq {result.head_seq} hash {result.head_hash}; "
                   f"anchor seq {result.anchor_seq} hash {result.anchor_hash}")
    else:
        where = "" if result.first_bad_seq is None else f" at seq {result.first_bad_seq}"  # None: the head row
        click.echo(f"BROKEN{where}: {result.reason} ({result.checked} records held)")
    return 0 if result.ok else 1


@audit.command()
@_DB
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="JSON lines file to write")
def export(url: str, output: str) -> int:
    """Write the audit log as JSON lines (each with prev_hash and hash)."""
    from clauseguard.errors import UserError
    from clauseguard.guards.records import export as export_chain

    with _open(url) as store:
        try:
            count = export_chain(store, output)
        except UserError as err:  # -o names the store itself, a folder or device, or nothing
            raise UserError(f"-o {output}: {err.message}") from err
        except OSError as err:
            raise UserError(f"-o {output}: cannot write: {err.strerror or err}") from err
    click.echo(f"wrote {count} records to {output}")
    return 0


@click.group()
def records() -> None:
    """Maintain the record store."""


@records.command()
@_DB
@click.option("--profile", "profile", required=True, type=click.Path(exists=True, dir_okay=False),
              help="profile.yaml whose data.*_retention_days apply")
@click.option("--audit-days", type=click.IntRange(min=0), default=None,
              help="keep audit records this many days (default: seven calendar months, the six-month "
                   "complaint window and a month's margin; IP-derived user keys in them are cleared after "
                   "data.ip_retention_days either way)")
def purge(url: str, profile: str, audit_days: int | None) -> int:
    """Delete or anonymise what is past the retention periods of the profile."""
    from clauseguard.guards.records import RetentionPolicy
    from clauseguard.guards.records import purge as purge_store

    RetentionPolicy.from_profile(profile)  # a wrong profile is refused before a store is created
    with _open(url, write=True) as store:
        result = purge_store(store, profile, audit_days=audit_days)
    click.echo(f"cleared {result.ip_fields_cleared} IP fields and {result.audit_keys_cleared} IP-derived user keys "
               f"of audit records, deleted {result.rows_deleted} rows and "
               f"{result.images_deleted} image records, dropped {result.audit_records_dropped} audit records "
               f"(anchor now seq {result.anchor_seq}); recorded as audit record {result.record_seq}")
    return 0
