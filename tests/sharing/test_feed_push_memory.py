"""A pushed feed file does not grow the API process's memory with its size: the body is read in
blocks to a temporary file and stored from there (``inputs.body_spool``). A real gunicorn
worker serves the pushes; its own high-water mark (``VmHWM``) is read after a small push and
after one 24 times as large, and must not rise by anything near the difference."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from bench.peak_memory import process_peak
from population.sync.models import Batch
from tests.dburl import subprocess_database_url
from tests.sharing.test_authorization_matrix import EMPLOYMENT_V1

ROOT = Path(__file__).resolve().parents[2]
SMALL = 2 << 20
LARGE = 48 << 20
# What the large push may add to the worker's peak over the small one: a fraction of the
# 46 MB more it carries (holding the body once would add all of it).
GROWTH_BOUND = 12 << 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """gunicorn (one sync worker) on the test database; yields (port, worker pid)."""
    port = _free_port()
    prefix = f"test-push-{uuid.uuid4().hex[:12]}:"
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_REDIS_KEY_PREFIX": prefix,  # the queued batches go nowhere another test reads
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    master = subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", "--timeout", "300"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
            if children:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    pass
            assert master.poll() is None, (tmp_path / "gunicorn.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        yield port, int(children[0])
    finally:
        master.terminate()
        master.wait(timeout=30)
        log.close()
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


def feed_blocks(size: int, seed: str):
    """An employment CSV of ``size`` bytes, given in 64 KiB blocks (never held whole here)."""
    yield EMPLOYMENT_V1.encode()
    sent = len(EMPLOYMENT_V1.encode())
    n = 0
    while sent < size:
        line = f"{seed}-{n:09d},11010519491231002X,测试,某公司,91440700MA00000000,2024-01-01,\n"
        block = (line.encode() * (65536 // len(line.encode())))[: size - sent]
        # Whole lines but for the file's last, cut to the exact size.
        sent += len(block)
        n += 1
        yield block


def file_digest(size: int, seed: str) -> str:
    digest = hashlib.sha256()
    for block in feed_blocks(size, seed):
        digest.update(block)
    return digest.hexdigest()


def push(port: int, key: str, size: int, seed: str, **headers) -> tuple[int, dict, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request(
        "POST",
        f"/api/v1/feeds/hrss/batches?filename=employment_{seed}.csv",
        body=feed_blocks(size, seed),
        headers={"Authorization": f"Api-Key {key}", "X-Purpose": "social_insurance",
                 "Content-Type": "text/csv", "Content-Length": str(size), **headers},
    )  # fmt: skip
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    return response.status, dict(response.getheaders()), body


@pytest.mark.django_db(transaction=True)
def test_a_large_push_does_not_grow_the_server_with_its_body(make_client, server):
    port, worker = server
    _client, key = make_client()

    status, _, body = push(port, key, SMALL, "small")
    assert status == 202, body
    after_small = process_peak(worker)
    status, _, body = push(port, key, LARGE, "large", **{"Idempotency-Key": "big-1"})
    assert status == 202, body
    after_large = process_peak(worker)

    # Stored whole and exactly: the bytes the server holds are the bytes sent.
    batch = Batch.objects.get(pk=body["id"])
    assert (batch.size_bytes, batch.content_sha256) == (LARGE, file_digest(LARGE, "large"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT encode(sha256(content), 'hex') FROM population_batch WHERE id = %s",
                       [batch.pk])  # fmt: skip
        assert cursor.fetchone()[0] == batch.content_sha256
    growth = after_large - after_small
    print(f"worker peak: {after_small / 2**20:.1f} MiB after {SMALL >> 20} MB, "  # with -s
          f"{after_large / 2**20:.1f} MiB after {LARGE >> 20} MB")  # fmt: skip
    assert growth < GROWTH_BOUND, (
        f"worker peak {after_small / 2**20:.0f} MiB after {SMALL >> 20} MB, "
        f"{after_large / 2**20:.0f} MiB after {LARGE >> 20} MB"
    )

    # The Idempotency-Key's fingerprint, hashed as the body streamed by: the same body again
    # is the stored answer; another body of the same size under the key is refused.
    status, headers, again = push(port, key, LARGE, "large", **{"Idempotency-Key": "big-1"})
    assert (status, headers.get("Idempotent-Replayed"), again) == (202, "true", body)
    status, _, other = push(port, key, LARGE, "other", **{"Idempotency-Key": "big-1"})
    assert (status, other["code"]) == (422, "idempotency_key_reused")
    assert Batch.objects.count() == 2
    assert process_peak(worker) - after_small < GROWTH_BOUND


@pytest.mark.django_db(transaction=True)
def test_a_push_over_the_limit_is_refused_before_it_is_read(make_client, server):
    port, _worker = server
    _client, key = make_client()
    limit = min(settings.SHARING_MAX_FEED_BYTES, settings.SYNC_MAX_BATCH_BYTES)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    # Only the headers: a declared length over the limit is answered without reading the body.
    conn.putrequest("POST", "/api/v1/feeds/hrss/batches?filename=employment_x.csv")
    headers = {"Authorization": f"Api-Key {key}", "X-Purpose": "social_insurance",
               "Content-Type": "text/csv", "Content-Length": str(limit + 1)}  # fmt: skip
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["code"] == "too_large"
    conn.close()
    assert not Batch.objects.exists()
