"""Privacy by construction: no raw IP in key fields, pseudonym keys and rotation, hashes only, purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import StatementError

from clauseguard.guards.records import (
    AuditEntry,
    Pseudonymizer,
    PseudonymKeyError,
    RawIpError,
    RecordsError,
    RecordStore,
    append,
    file_notice,
    find_flagged,
    iter_records,
    purge,
    record_acceptance,
    record_flagged_image,
    truncate_ip,
    verify,
)
from clauseguard.guards.records._types import contains_raw_ip
from clauseguard.guards.records.models import Acceptance, AuditRecord, FlaggedImage, Notice
from clauseguard.guards.records.pseudonym import parse_keys
from tests.records.conftest import KEYS

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "raw"), [
    ("203.0.113.7", True),
    ("client 10.0.0.1 via proxy", True),
    ("::1", True),
    ("2001:db8::8a2e:370:7334", True),
    ("[2001:db8::1]:443", True),
    ("::ffff:192.0.2.1", True),
    ("net:203.0.113.0/24", False),
    ("net:2001:db8:1::/48", False),
    ("net:203.0.113.7/32", True),  # a /32 "network" is an address
    ("ip:k1:" + "ab" * 32, False),
    ("user:k1:" + "0f" * 32, False),
    ("account-42", False),
    ("999.1.1.1", False),
    ("v1.2.3", False),
    ("203.0.113.7.", True),  # at the end of a sentence
    ("client 203.0.113.7.", True),
    ("host.203.0.113.7", True),
    ("203.000.113.007", True),  # zero-padded octets are still an address
    ("203.0.113.07", True),
    ("010.0.0.1", True),
    ("256.0.0.1", False),
    ("1.2.3.4.5", False),  # a longer dotted number is not an address
    ("release 1.2.3", False),
    ("2025.01.02", False),
    ("2025-01-02T10:00:00Z", False),
])
def test_raw_ip_detection(value: str, raw: bool) -> None:
    assert contains_raw_ip(value) is raw


def test_model_layer_refuses_raw_ip_on_assignment() -> None:
    with pytest.raises(RawIpError, match="ip_key"):
        Acceptance(subject_key="user:k1:aa", document_id="terms-of-use", version="1", sha256="a" * 64,
                   accepted_at=NOW, channel="web", ip_key="198.51.100.4")


def test_column_type_refuses_raw_ip_on_core_insert(store: RecordStore) -> None:
    row = {"seq": 1, "time": "t", "action": "allow", "allowed": True, "clause_ids": "[]", "document_versions": "{}",
           "findings": "[]", "user_key": "2001:db8::1", "prev_hash": "0" * 64, "hash": "1" * 64}
    with pytest.raises(StatementError, match="raw IP"), store.session(write=True) as s:
        s.execute(insert(AuditRecord).values(**row))


def test_audit_append_refuses_raw_ip(store: RecordStore) -> None:
    with pytest.raises(RawIpError):
        append(store, AuditEntry(action="allow", allowed=True, user_key="198.51.100.4"))
    assert verify(store).checked == 0


@pytest.mark.parametrize(("spec", "message"), [
    ("", "no keys"),
    ("nokid", "kid:base64key"),
    ("1bad:" + "A" * 24, "kid:base64key"),
    ("k1:c2hvcnQ=", "bytes"),
    ("k1:%%%%", "base64"),
    ("k1:" + "A" * 24 + ",k1:" + "B" * 24, "twice"),
])
def test_bad_key_specs(spec: str, message: str) -> None:
    with pytest.raises(PseudonymKeyError, match=message):
        parse_keys(spec)


def test_rotation_keeps_old_pseudonyms_findable() -> None:
    old = Pseudonymizer(parse_keys(KEYS.split(",")[1]))  # only k1
    rotated = Pseudonymizer.from_env({"CLAUSEGUARD_PSEUDONYM_KEYS": KEYS})  # k2 current, k1 kept
    stored = old.ip("203.0.113.7")
    assert stored.startswith("ip:k1:") and rotated.ip("203.0.113.7").startswith("ip:k2:")
    assert rotated.matches(stored, ip="203.0.113.7")
    assert not rotated.matches(stored, ip="203.0.113.8")
    assert rotated.matches(old.user("acct-1"), account_id="acct-1")
    assert rotated.ip("::ffff:203.0.113.7") == rotated.ip("203.0.113.7")
    assert "AQID" not in repr(rotated.keys)


def test_no_key_means_no_hmac_but_truncation_works() -> None:
    with pytest.raises(PseudonymKeyError):
        Pseudonymizer.from_env({}).ip("203.0.113.7")
    assert Pseudonymizer.from_env({}, ip_mode="truncate").ip("203.0.113.7") == "net:203.0.113.0/24"


@pytest.mark.parametrize(("ip", "net"), [
    ("203.0.113.77", "net:203.0.113.0/24"),
    ("2001:db8:abcd:12::1", "net:2001:db8:abcd::/48"),
    ("::ffff:198.51.100.9", "net:198.51.100.0/24"),
])
def test_truncation(ip: str, net: str) -> None:
    assert truncate_ip(ip) == net and not contains_raw_ip(net)


def test_images_are_stored_as_hashes_only(store: RecordStore) -> None:
    image = bytes(range(256)) * 100
    digest = record_flagged_image(store, image, phash="c3a1f0e0d0b0a090", guard_id="nsfw", clause_ids=["c/x"],
                                  meta={"width": 64, "height": 64, "score": 0.97})
    (row,) = find_flagged(store, sha256=digest)
    assert (row.phash, row.meta["width"]) == ("c3a1f0e0d0b0a090", 64)
    assert find_flagged(store, phash="c3a1f0e0d0b0a090")[0].sha256 == digest


@pytest.mark.parametrize("bad", [b"\x89PNG" + b"\0" * 200, "x" * 300, "not a hash!"])
def test_hash_column_refuses_payloads(store: RecordStore, bad: Any) -> None:
    with pytest.raises(StatementError, match="hash"), store.session(write=True) as s:
        s.add(FlaggedImage(sha256=bad, flagged_at=NOW, clause_ids=[], meta={}))


def test_image_metadata_must_be_scalar(store: RecordStore) -> None:
    with pytest.raises(ValueError, match="scalars"):
        record_flagged_image(store, b"x", meta={"pixels": [1, 2, 3]})


def _append_at(store: RecordStore, when: datetime, n: int, user_key: str | None = None) -> None:
    for _ in range(n):
        append(store, AuditEntry(action="allow", allowed=True, user_key=user_key), now=when)


PROFILE = {"data": {"logs_ip_addresses": True, "ip_retention_days": 30, "prompt_retention_days": 90}}


def test_purge_drops_audit_prefix_and_chain_still_verifies(store: RecordStore, pseudonymizer: Any) -> None:
    key = pseudonymizer.ip("203.0.113.7")
    _append_at(store, NOW - timedelta(days=40), 3, key)
    _append_at(store, NOW - timedelta(days=5), 2, key)
    last_old_hash = [r["hash"] for r in iter_records(store)][2]
    result = purge(store, PROFILE, now=NOW, audit_days=30)
    assert (result.audit_records_dropped, result.anchor_seq, result.record_seq) == (3, 3, 6)
    records = list(iter_records(store))
    assert [r["seq"] for r in records] == [4, 5, 6]
    # the purge is in the chain: what it did, its cutoffs and the anchor it left
    assert (records[-1]["action"], records[-1]["guard_id"]) == ("purge", "retention")
    facts = records[-1]["findings"][0]
    assert (facts["audit_records_dropped"], facts["anchor_seq"], facts["anchor_hash"]) == (3, 3, last_old_hash)
    assert facts["audit_cutoff"].startswith((NOW - timedelta(days=30)).date().isoformat())
    check = verify(store)
    assert (check.ok, check.checked, check.head_seq) == (True, 3, 6)
    with store.session() as s:
        from clauseguard.guards.records.models import AuditHead

        assert s.execute(select(AuditHead.anchor_hash)).scalar_one() == last_old_hash
    append(store, AuditEntry(action="block", allowed=False))
    assert verify(store).ok and purge(store, PROFILE, now=NOW, audit_days=30).audit_records_dropped == 0
    assert verify(store).ok and [r["action"] for r in iter_records(store)][-2:] == ["block", "purge"]


def test_an_anchor_moved_without_a_purge_breaks_verify(store: RecordStore) -> None:
    """What an attacker with SQL access does to hide records: move the anchor and delete below it."""
    from tests.records.conftest import drop_audit_triggers

    _append_at(store, NOW - timedelta(days=40), 2)
    _append_at(store, NOW - timedelta(days=5), 3)
    purge(store, PROFILE, now=NOW, audit_days=30)  # anchor at seq 2, the purge is record 6
    assert verify(store).ok
    drop_audit_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET anchor_seq = 4, anchor_hash = (SELECT hash FROM audit_log "
                          "WHERE seq = 4)"))
        conn.execute(text("DELETE FROM audit_log WHERE seq <= 4"))
    result = verify(store)
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert "moved without a purge" in result.reason


@pytest.mark.parametrize("purged_before", [False, True], ids=["never purged", "moved past the last purge"])
def test_an_anchor_moved_past_every_purge_record_breaks_verify(store: RecordStore, purged_before: bool) -> None:
    """No trigger dropped: the triggers let the anchor move forward onto any record, which makes the
    records below it deletable; with no purge record after the anchor, that is a break, not a purge."""
    if purged_before:
        _append_at(store, NOW - timedelta(days=40), 2)
        purge(store, PROFILE, now=NOW, audit_days=30)  # anchor at seq 2, the purge is record 3
    _append_at(store, NOW, 5)
    assert verify(store).ok
    with store.engine.begin() as conn:
        head = conn.execute(text("SELECT seq FROM audit_head")).scalar_one()
        conn.execute(text("UPDATE audit_head SET anchor_seq = :s, anchor_hash = (SELECT hash FROM audit_log "
                          "WHERE seq = :s)"), {"s": head - 1})
        conn.execute(text("DELETE FROM audit_log WHERE seq < :s"), {"s": head})
    result = verify(store)
    assert (result.ok, result.first_bad_seq) == (False, head - 1), result.reason
    assert "moved without a purge" in result.reason
    with pytest.raises(RecordsError, match="not purging"):
        purge(store, PROFILE, now=NOW, audit_days=30)


def test_purge_after_a_purge_and_deleting_past_the_anchor_is_refused(store: RecordStore) -> None:
    _append_at(store, NOW - timedelta(days=40), 2)
    _append_at(store, NOW, 2)
    purge(store, PROFILE, now=NOW, audit_days=30)
    with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    assert verify(store).ok


def test_purge_refuses_a_broken_chain(store: RecordStore) -> None:
    from tests.records.conftest import drop_audit_triggers

    _append_at(store, NOW - timedelta(days=40), 3)
    drop_audit_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET action = 'block' WHERE seq = 2"))
    with pytest.raises(RecordsError, match="seq 2"):
        purge(store, PROFILE, now=NOW, audit_days=30)


def test_purge_clears_ip_fields_past_retention(store: RecordStore, pseudonymizer: Any, generated: Any) -> None:
    ip_key = pseudonymizer.ip("198.51.100.4")
    dsa = {"regime": "dsa", "explanation": "x", "urls": ["https://e.x/1"], "notifier_name": "N",
           "notifier_email": "n@e.x", "good_faith_statement": True}
    old = file_notice(store, dsa, notifier_ip_key=ip_key, received_at=NOW - timedelta(days=31))
    new = file_notice(store, dsa, notifier_ip_key=ip_key, received_at=NOW - timedelta(days=1))
    record_acceptance(store, "user:k2:" + "a" * 64, "terms-of-use", lock=generated["lock"], ip_key=ip_key,
                      accepted_at=NOW - timedelta(days=31))
    record_acceptance(store, ip_key, "terms-of-use", lock=generated["lock"], accepted_at=NOW - timedelta(days=31))
    record_flagged_image(store, b"img", at=NOW - timedelta(days=91))
    record_flagged_image(store, b"img2", at=NOW - timedelta(days=89))
    result = purge(store, PROFILE, now=NOW, audit_days=30)
    assert (result.ip_fields_cleared, result.rows_deleted, result.images_deleted) == (2, 1, 1)
    with store.session() as s:
        keys = dict(s.execute(select(Notice.reference, Notice.notifier_ip_key)).all())
        assert keys == {old.reference: None, new.reference: ip_key}
        assert s.execute(select(Acceptance.ip_key)).scalars().all() == [None]


@pytest.mark.parametrize(("profile_data", "ip_days"), [({}, 30), ({"ip_retention_days": 7}, 7)])
def test_retention_defaults(profile_data: dict[str, int], ip_days: int) -> None:
    from clauseguard.guards.records import RetentionPolicy

    assert RetentionPolicy.from_profile({"data": profile_data}).ip_days == ip_days


def test_default_purge_keeps_audit_records_for_the_complaint_window(store: RecordStore) -> None:
    """A default purge dropped safety-check records after ip_retention_days (30), while the privacy
    notice says they are kept at least six months after the decision (the DSA Art. 20 complaint window)."""
    _append_at(store, datetime(2025, 8, 1, 11, tzinfo=UTC), 1)  # 7 calendar months and a day before NOW
    _append_at(store, datetime(2025, 9, 3, tzinfo=UTC), 1)  # just inside six months: kept
    _append_at(store, NOW - timedelta(days=40), 2)  # past ip_retention_days: kept
    result = purge(store, PROFILE, now=NOW)
    assert (result.audit_records_dropped, result.anchor_seq) == (1, 1)
    records = list(iter_records(store))
    assert [r["seq"] for r in records] == [2, 3, 4, 5]
    assert records[-1]["findings"][0]["audit_cutoff"].startswith("2025-08-02T12:00")  # 7 calendar months
    assert verify(store).ok


@pytest.mark.parametrize("audit_days", [None, 183])
def test_ip_pseudonyms_in_kept_audit_records_are_cleared_after_ip_retention(
        store: RecordStore, pseudonymizer: Any, audit_days: int | None) -> None:
    """Keeping audit records six months (--audit-days 183, and now the default) kept the ip: pseudonyms
    in them six months too, against "deleted 30 days after we log them": a hashed record could not lose
    a field. Format 2 hashes a salted commitment instead; the key and its salt are cleared."""
    ip_key, user_key = pseudonymizer.ip("203.0.113.7"), pseudonymizer.user("account-42")
    _append_at(store, NOW - timedelta(days=40), 2, ip_key)
    _append_at(store, NOW - timedelta(days=40), 1, user_key)
    _append_at(store, NOW - timedelta(days=40), 1, truncate_ip("203.0.113.7"))
    _append_at(store, NOW - timedelta(days=5), 1, ip_key)
    result = purge(store, PROFILE, now=NOW, audit_days=audit_days)
    assert (result.audit_records_dropped, result.audit_keys_cleared) == (0, 3)
    records = list(iter_records(store))
    assert [r["user_key"] for r in records[:5]] == [None, None, user_key, None, ip_key]
    assert [r["user_key_kind"] for r in records[:5]] == ["ip", "ip", "user", "net", "ip"]
    assert all(r["user_key_salt"] is None for r in records[:4] if r["user_key"] is None)
    assert records[-1]["findings"][0]["audit_keys_cleared"] == 3
    assert verify(store).ok
    assert purge(store, PROFILE, now=NOW).audit_keys_cleared == 0 and verify(store).ok


def test_format_1_records_still_verify_and_their_ip_keys_go_as_a_prefix(store_url: str, pseudonymizer: Any) -> None:
    """Records written before format 2 hash the key itself: they verify as before, mixed with format 2,
    and one holding an IP key past ip_retention_days is dropped (with all before it), as before."""
    from tests.records.conftest import append_format_1

    ip_key = pseudonymizer.ip("203.0.113.7")
    with RecordStore.open(store_url, migrate=False) as old:
        old.migrate("0004_informed_and_retracted")
        append_format_1(old, 2, when=NOW - timedelta(days=60))
        append_format_1(old, 1, user_key=ip_key, when=NOW - timedelta(days=40))
        append_format_1(old, 1, user_key=ip_key, when=NOW - timedelta(days=5))
        old.migrate()
        _append_at(old, NOW - timedelta(days=4), 1, ip_key)
        assert verify(old).ok and [r["format"] for r in iter_records(old)] == [None] * 4 + [2]
        result = purge(old, PROFILE, now=NOW)
        assert (result.audit_records_dropped, result.anchor_seq, result.audit_keys_cleared) == (3, 3, 0)
        assert [r["seq"] for r in iter_records(old)] == [4, 5, 6] and verify(old).ok


@pytest.mark.parametrize(("statement", "words"), [
    ("UPDATE audit_log SET user_key = NULL, user_key_salt = NULL WHERE user_key_kind = 'user'", "append-only"),
    ("UPDATE audit_log SET user_key = 'ip:k2:' || substr(hash, 1, 64) WHERE user_key_kind = 'ip'", "append-only"),
    ("UPDATE audit_log SET user_key = NULL, user_key_salt = NULL, score = 0.5 WHERE user_key_kind = 'ip'",
     "append-only"),
])
def test_the_trigger_allows_clearing_an_ip_key_and_nothing_else(store: RecordStore, pseudonymizer: Any,
                                                                 statement: str, words: str) -> None:
    _append_at(store, NOW, 1, pseudonymizer.ip("203.0.113.7"))
    _append_at(store, NOW, 1, pseudonymizer.user("account-42"))
    with pytest.raises(Exception, match=words), store.engine.begin() as conn:
        conn.execute(text(statement))
    with store.engine.begin() as conn:  # what a purge does: allowed, but verify wants the purge's record
        conn.execute(text("UPDATE audit_log SET user_key = NULL, user_key_salt = NULL WHERE user_key_kind = 'ip'"))
    result = verify(store)
    assert (result.ok, result.first_bad_seq) == (False, 1) and "cleared by hand" in result.reason, result.reason


def _clear_by_hand(store: RecordStore, seq: int) -> None:
    with store.engine.begin() as conn:  # the triggers allow it on any format-2 record with an IP-derived key
        conn.execute(text("UPDATE audit_log SET user_key = NULL, user_key_salt = NULL WHERE seq = :seq"), {"seq": seq})


@pytest.mark.parametrize(("purged", "cleared", "bad"), [
    (False, [1], 1),  # past the IP retention, but no purge ran: cleared by hand
    (False, [2], 2),  # written five days ago
    (True, [2], 2),  # a purge cleared seq 1 (40 days old); seq 2 was cleared by hand, early
    (True, [], None),  # what a purge clears verifies
])
def test_an_ip_key_cleared_without_a_purge_breaks_verify(store: RecordStore, pseudonymizer: Any, purged: bool,
                                                         cleared: list[int], bad: int | None) -> None:
    """The triggers let anyone who can write audit_log clear an IP-derived key (and its salt) at any time,
    and verify passed: an abuser's requests could be unlinked from their IP pseudonym seconds after they
    were written (format 1 refused and detected that). A cleared key now needs a purge recorded after
    its record whose IP cutoff is past the record's time."""
    ip_key = pseudonymizer.ip("203.0.113.7")
    _append_at(store, NOW - timedelta(days=40), 1, ip_key)
    _append_at(store, NOW - timedelta(days=5), 1, ip_key)
    if purged:
        assert purge(store, PROFILE, now=NOW).audit_keys_cleared == 1
    for seq in cleared:
        _clear_by_hand(store, seq)
    result = verify(store)
    assert (result.ok, result.first_bad_seq) == (bad is None, bad), result.reason
    if bad is not None:
        assert "kind 'ip' cleared" in result.reason and "cleared by hand" in result.reason


@pytest.mark.parametrize(("cleared", "ok"), [(1, True), (3, False)])
def test_a_purge_record_without_an_ip_cutoff_covers_records_before_it(store: RecordStore, pseudonymizer: Any,
                                                                      cleared: int, ok: bool) -> None:
    """A purge record written before purges noted their ``ip_cutoff`` vouches for keys cleared in the records
    before it (up to its own time), never for those after it."""
    from clauseguard.guards.records.audit import PURGE
    from clauseguard.guards.records.models import GENESIS_HASH

    ip_key = pseudonymizer.ip("203.0.113.7")
    _append_at(store, NOW - timedelta(days=40), 1, ip_key)
    facts = {"kind": PURGE, "audit_keys_cleared": 1, "anchor_seq": 0, "anchor_hash": GENESIS_HASH}
    append(store, AuditEntry(action=PURGE, allowed=True, guard_id="retention", findings=(facts,)),
           now=NOW - timedelta(days=39))
    _append_at(store, NOW - timedelta(days=38), 1, ip_key)
    _clear_by_hand(store, cleared)
    result = verify(store)
    assert (result.ok, result.first_bad_seq) == (ok, None if ok else cleared), result.reason


@pytest.mark.parametrize(("statement", "words"), [
    ("UPDATE audit_log SET user_key = NULL, user_key_salt = NULL WHERE user_key_kind = 'user'", "kind 'user' removed"),
    ("UPDATE audit_log SET user_key = 'ip:k2:' || substr(hash, 1, 64) WHERE user_key_kind = 'ip'",
     "does not match its commitment"),
    ("UPDATE audit_log SET user_key_kind = 'ip' WHERE user_key_kind = 'user'", "changed"),
    ("UPDATE audit_log SET user_key_salt = NULL WHERE user_key_kind = 'ip'", "commitment"),
])
def test_a_changed_or_removed_user_key_breaks_verify(store: RecordStore, pseudonymizer: Any, statement: str,
                                                     words: str) -> None:
    from tests.records.conftest import drop_audit_triggers

    _append_at(store, NOW, 1, pseudonymizer.ip("203.0.113.7"))
    _append_at(store, NOW, 1, pseudonymizer.user("account-42"))
    drop_audit_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text(statement))
    result = verify(store)
    assert not result.ok and words in result.reason, result.reason
