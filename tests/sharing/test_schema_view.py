"""The OpenAPI schema answers every caller when many ask at once in one process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import Client


@pytest.mark.django_db(transaction=True)
def test_concurrent_schema_requests_all_succeed():
    def fetch(_):
        response = Client().get("/api/schema/?format=json")
        return response.status_code, response.json().get(
            "openapi"
        ) if response.status_code == 200 else None

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(fetch, range(24)))
    assert all(status == 200 for status, _ in answers), answers
    assert {version for _, version in answers} == {answers[0][1]} and answers[0][1].startswith("3.")
