"""Moving the chain out of the wide log rows (migration 0023) loses nothing: a chain sealed the
old way, and a row still waiting, come through it verifiable and sealable."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from population import audit

BEFORE = [("population", "0022_sharing_person_reads_scope")]
AFTER = [("population", "0023_access_log_narrow_chain")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
@pytest.mark.db_role("owner")  # migrating back and forth is DDL: the owner's (tests/dburl.py)
def test_a_chain_sealed_in_the_wide_rows_moves_to_the_links_unchanged(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    _migrate(BEFORE)
    try:
        digest = audit._digest_fn("hmac-sha256")
        at = timezone.now() - dt.timedelta(seconds=30)
        prev, seq = audit.GENESIS, 0
        with connection.cursor() as cursor:
            for i in range(4):  # three sealed the old way, the fourth still unsealed
                cursor.execute(
                    "INSERT INTO population_accesslog (at, user_id, username, channel, purpose,"
                    " person_ids, fields, client, prev_hash, row_hash)"
                    " VALUES (%s, NULL, %s, 'api.persons', 'p', %s, '{name}', '', '', '')"
                    " RETURNING id",
                    [at, f"u{i}", [i + 1]],
                )
                ident = cursor.fetchone()[0]
                if i == 3:
                    break
                seq += 1
                content = [ident, at, None, f"u{i}", "api.persons", "p", [i + 1], ["name"], ""]
                row_hash = digest(audit._row_payload(seq, prev, content))
                cursor.execute(
                    "UPDATE population_accesslog SET seq = %s, prev_hash = %s, row_hash = %s"
                    " WHERE id = %s",
                    [seq, prev, row_hash, ident],
                )
                prev = row_hash
            cp = {"first_seq": 1, "last_seq": 3, "count": 3, "head_hash": prev,
                  "sealed_at": audit._iso(timezone.now()), "algorithm": "hmac-sha256",
                  "key_id": audit.key_id()}  # fmt: skip
            cp["signature"] = audit.signing_key().sign(audit._checkpoint_message(cp)).hex()
            cursor.execute(
                "INSERT INTO population_auditcheckpoint (first_seq, last_seq, count, head_hash,"
                " sealed_at, algorithm, key_id, signature) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [1, 3, 3, prev, cp["sealed_at"], cp["algorithm"], cp["key_id"], cp["signature"]],
            )
        _migrate(AFTER)

        from population.models import AccessLogPending, AccessLogSeal

        assert list(AccessLogSeal.objects.order_by("seq").values_list("seq", flat=True)) == [
            1,
            2,
            3,
        ]
        assert AccessLogSeal.objects.get(seq=3).row_hash == prev
        assert AccessLogPending.objects.count() == 1
        audit.checkpoints_anchor()
        assert audit.access_log_verify().intact
        assert audit.access_log_seal().rows == 1  # the waiting row is sealed after the move
        verdict = audit.access_log_verify()
        assert (verdict.intact, verdict.rows_checked) == (True, 4)
    finally:
        _migrate(latest)
