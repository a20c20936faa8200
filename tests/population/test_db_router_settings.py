"""Replica and pooling settings (config/replicas.py, config/settings.py) and the router's
behaviour when no replica is configured. The router against a real standby is tested in
tests/integration/test_replicas.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed

from config.replicas import replica_databases
from population import db_router
from population.models import Person

ROOT = Path(__file__).resolve().parents[2]
PRIMARY = "postgres://popbase@db.invalid:5432/popbase"


def _settings(**env: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh process (nothing connects at import)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REPLICA_")) and k != "POPBASE_ENV"
    }
    code = (
        "import json, config.settings as s; print(json.dumps({'dbs': sorted(s.DATABASES),"
        " 'routers': s.DATABASE_ROUTERS, 'replicas': s.REPLICA_DATABASES,"
        " 'cursors': s.DATABASES['default'].get('DISABLE_SERVER_SIDE_CURSORS', False),"
        " 'prepare': s.DATABASES['default'].get('OPTIONS', {}).get('prepare_threshold', 5),"
        " 'lag': s.REPLICA_MAX_LAG_SECONDS}))"
    )
    return subprocess.run(  # noqa: S603 - this interpreter and a fixed script
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DATABASE_URL": PRIMARY, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_replica_urls_become_aliases_behind_the_router_and_pooling_turns_off_cursors():
    run = _settings(
        DATABASE_REPLICA_URLS=" postgres://ro@standby-1:5432/popbase, postgres://ro@standby-2/popbase",
        DATABASE_POOLED="1",
        DATABASE_DIRECT_URL=PRIMARY,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out == {
        "dbs": ["default", "replica1", "replica2"],
        "routers": ["population.db_router.ReplicaRouter"],
        "replicas": ["replica1", "replica2"],
        "cursors": True,
        "prepare": None,
        "lag": 5.0,
    }


def test_without_replicas_there_is_no_router_and_pooling_needs_a_direct_url():
    plain = _settings()
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["routers"] == []
    assert json.loads(plain.stdout)["dbs"] == ["default"]

    refused = _settings(DATABASE_POOLED="1")
    assert refused.returncode != 0
    assert "DATABASE_POOLED needs DATABASE_DIRECT_URL" in refused.stderr

    bad = _settings(DATABASE_REPLICA_URLS="mysql://x@y/z")
    assert bad.returncode != 0
    assert "DATABASE_REPLICA_URLS: replica 1 is not a postgres:// URL" in bad.stderr


def test_the_embedded_server_gets_no_replicas():
    assert replica_databases(["postgres://ro@standby/popbase"], embedded=True, pooled=False) == {}
    both = replica_databases(
        ["postgres://ro@s1/p", "postgres://ro@s2:6000/p"], embedded=False, pooled=False
    )
    assert [(a, d["HOST"], d["PORT"], d["TEST"]) for a, d in both.items()] == [
        ("replica1", "s1", "", {"MIRROR": "default"}),
        ("replica2", "s2", 6000, {"MIRROR": "default"}),
    ]
    with pytest.raises(ValueError, match="replica 1 is not a postgres"):
        replica_databases(["sqlite:///x.db"], embedded=False, pooled=False)


def test_with_no_replica_every_read_is_on_the_primary_and_the_middleware_steps_aside():
    assert settings.REPLICA_DATABASES == []
    with pytest.raises(MiddlewareNotUsed):
        db_router.ReplicaReadsMiddleware(lambda request: None)
    assert db_router.read_alias(Person) == "default"
    assert db_router.read_connection().alias == "default"


def test_every_primary_only_model_names_an_installed_model():
    """A model that moves to another app changes its label: the list must follow it, or its
    reads (API keys right after they are issued) would go to a lagging replica."""
    from django.apps import apps

    for label in db_router.PRIMARY_ONLY_MODELS:
        model = apps.get_model(label)
        assert model._meta.label_lower == label
        assert db_router.read_alias(model) == "default"
    assert "sharing.apikey" in db_router.PRIMARY_ONLY_MODELS
