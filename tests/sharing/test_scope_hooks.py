"""Endpoints, change kinds and facts are registered by the app that owns them (population/hooks.py):
the sharing app keeps no list of a higher app's names, a new one needs no migration, and what is
not registered is refused everywhere a client's scope is written."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import ProjectState

from population.errors import DomainError
from population.sharing import services
from population.sharing.facts import DerivedFact, derived_fact_hook
from population.sharing.models import ApiClient
from population.sharing.scopes import ScopeCode, change_kind_hook, endpoint_hook
from registry.models import EventKind

# Who owns what: each app registers its own from its AppConfig.ready.
OWN_ENDPOINTS = {
    "persons",
    "verifications",
    "changes",
    "facts",
    "feeds",
    "statistics",
    "person_reads",
}


def test_each_app_registers_its_own_endpoints_and_change_kinds():
    assert set(endpoint_hook.keys()) == OWN_ENDPOINTS | {"settlement_precheck"}
    assert endpoint_hook.get("settlement_precheck") == ScopeCode(
        "settlement_precheck", "落户条件预检"
    )
    kinds = set(change_kind_hook.keys())
    assert set(EventKind.values) <= kinds  # the registry's events, merge and correction included
    assert {"permit_issued", "permit_endorsed", "permit_ended", "settlement", "id_correction"} <= (
        kinds
    )
    assert len(kinds) == 16
    # Every label is Chinese (shown to whoever sets a client's scope).
    for item in [*endpoint_hook, *change_kind_hook]:
        assert item.label and not item.label.isascii(), item
    assert set(derived_fact_hook.keys()) == {
        "local_hukou",
        "alive",
        "hukou_in_region",
        "lives_in_region",
        "valid_residence_permit",
    }


def test_the_scope_columns_carry_no_choices_so_a_new_code_needs_no_migration(db):
    for name in ("endpoints", "change_kinds", "facts"):
        assert ApiClient._meta.get_field(name).base_field.choices is None, name
    # And the migrations' state agrees with the models (nothing for makemigrations to write).
    loader = MigrationExecutor(connection).loader
    changes = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps)).changes(
        graph=loader.graph
    )
    assert "sharing" not in changes and "population" not in changes


@pytest.fixture
def pension_endpoint():
    """An endpoint a (pretend) higher app registers, taken out again after the test."""
    item = endpoint_hook.register(ScopeCode("pension_status", "养老金领取状态"))
    kind = change_kind_hook.register(ScopeCode("pension_started", "开始领取养老金"))
    yield item, kind
    endpoint_hook.unregister(item.name)
    change_kind_hook.unregister(kind.name)


def test_a_newly_registered_endpoint_and_kind_are_accepted_without_a_migration(
    pension_endpoint, make_client
):
    client, _key = make_client(endpoints=["pension_status"], change_kinds=["pension_started"])
    client.refresh_from_db()
    assert client.endpoints == ["pension_status"] and client.change_kinds == ["pension_started"]


@pytest.mark.parametrize(
    ("field", "value", "zh"),
    [
        ("endpoints", "pension_status", "未知的接口：pension_status"),
        ("change_kinds", "pension_started", "未知的变更类型：pension_started"),
        ("facts", "owns_a_car", "未知的事实：owns_a_car"),
    ],
)
def test_an_unregistered_code_is_refused_and_nothing_is_written(field, value, zh, make_client):
    with pytest.raises(DomainError) as refused:
        make_client(**{field: [value]})
    assert refused.value.code == "unknown_scope_value"
    assert refused.value.message_zh == zh
    assert ApiClient.objects.count() == 0
    client, _key = make_client()
    with pytest.raises(DomainError, match=value):
        services.api_client_update(client=client, actor=None, **{field: [value]})
    client.refresh_from_db()
    assert value not in getattr(client, field)


def test_a_fact_is_one_hook_item_with_a_checked_name():
    with pytest.raises(ValueError, match="bad fact name"):
        DerivedFact("Bad Name", "坏", "bad", evaluate=lambda person, params: True)
    alive = derived_fact_hook.get("alive")
    derived_fact_hook.register(alive)  # the same item again (ready() may run twice): no change
    with pytest.raises(ValueError, match="'alive' is registered twice"):
        derived_fact_hook.register(
            DerivedFact("alive", "另一个", "another", evaluate=lambda p, q: True)
        )
    assert derived_fact_hook.get("alive") is alive


def test_the_admin_form_lists_the_registered_codes_under_chinese_labels(
    admin_client, pension_endpoint
):
    page = admin_client.get("/admin/sharing/apiclient/add/").content.decode()
    for field, items in (("endpoints", endpoint_hook), ("change_kinds", change_kind_hook)):
        for item in items:
            assert f'name="{field}" value="{item.name}"' in page, item
            assert item.label in page, item
    # The one registered a moment ago too, without a migration.
    assert 'value="pension_status"' in page and "养老金领取状态" in page
    assert "持有有效居住证" in page  # a fact the permit app registers


def test_the_admin_refuses_a_code_nobody_registered(admin_client):
    response = admin_client.post(
        "/admin/sharing/apiclient/add/",
        {
            "code": "edu-1",
            "department": "education",
            "name": "教育局",
            "endpoints": ["persons", "pension_status"],
            "purposes": "school_enrolment",
            "rate_limit_per_minute": "100",
            "keys-TOTAL_FORMS": "0",
            "keys-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again
    assert "pension_status" in response.content.decode()
    assert response.context["adminform"].form.errors["endpoints"]
    assert ApiClient.objects.count() == 0
