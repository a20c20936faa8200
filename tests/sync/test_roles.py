"""The staff roles keep their department-sync rights under the app label ``sync``, also after a
flush, which replays the role grants written when the models were ``population``'s."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from population import roles

RIGHTS = {
    roles.REGISTRATION_OFFICER: {"view_fact", "view_followup", "change_followup"},
    roles.SUPERVISOR: {"view_batch", "requeue_batch", "view_fact", "view_followup",
                       "change_followup"},
    roles.AUDITOR: {"view_batch", "view_fact", "view_followup"},
    roles.STATISTICIAN: set(),
}  # fmt: skip


def _sync_rights() -> dict[str, set[str]]:
    return {
        role: set(
            Group.objects.get(name=role)
            .permissions.filter(content_type__app_label="sync")
            .values_list("codename", flat=True)
        )
        for role in roles.ALL_ROLES
    }


@pytest.mark.django_db(transaction=True)
def test_every_role_keeps_its_sync_rights_after_a_flush():
    assert _sync_rights() == RIGHTS
    call_command("flush", interactive=False, verbosity=0)
    assert _sync_rights() == RIGHTS


def test_old_permission_names_lead_to_the_moved_ones():
    assert set(roles.MOVED_PERMISSIONS) == {
        f"population.{codename}" for codenames in RIGHTS.values() for codename in codenames
    }
    assert all(new.startswith("sync.") for new in roles.MOVED_PERMISSIONS.values())
