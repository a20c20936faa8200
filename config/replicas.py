"""The replica aliases of DATABASES (``DATABASE_REPLICA_URLS``), kept apart from settings so
the rule can be tested without starting anything."""

from __future__ import annotations

import dj_database_url


def replica_databases(urls: list[str], *, embedded: bool, pooled: bool) -> dict[str, dict]:
    """``replica1``, ``replica2``, ... for the given URLs; none on the embedded quickstart
    server, whose single local cluster has no standby."""
    if embedded:
        return {}
    out = {}
    for n, url in enumerate(urls, start=1):
        db = dj_database_url.parse(url, conn_max_age=60)
        if not db["ENGINE"].endswith("postgresql"):
            raise ValueError(f"replica {n} is not a postgres:// URL")
        # An unreachable standby must not hold up requests: give up connecting after 2 s
        # (then it is skipped until the next lag check).
        db.setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
        # Under the test runner a replica alias is the test database itself.
        db["TEST"] = {"MIRROR": "default"}
        if pooled:
            db["DISABLE_SERVER_SIDE_CURSORS"] = True
            db.setdefault("OPTIONS", {})["prepare_threshold"] = None
        out[f"replica{n}"] = db
    return out
