"""After a flush the rows data migrations load are back: roles with their grants, policies."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from population import roles
from population.replay import marked_functions

pytestmark = pytest.mark.django_db(transaction=True)


def grants() -> dict[str, set[str]]:
    return {
        group.name: {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        for group in Group.objects.prefetch_related("permissions")
    }


def test_a_flush_keeps_the_roles_and_their_grants_and_the_shipped_policies():
    from residence_permit.models import PointsPolicy

    before = grants()
    policies = sorted(PointsPolicy.objects.values_list("city_code", "version"))
    assert set(before) >= set(roles.ALL_ROLES)
    assert "population.view_full_citizen_id" in before[roles.REGISTRATION_OFFICER]
    assert policies

    call_command("flush", interactive=False, verbosity=0)

    assert grants() == before
    assert sorted(PointsPolicy.objects.values_list("city_code", "version")) == policies


def test_a_second_replay_changes_nothing():
    from django.apps import apps
    from django.db import connection

    before = grants()
    with connection.schema_editor() as editor:
        for func in marked_functions(connection):
            func(apps, editor)
    assert grants() == before
