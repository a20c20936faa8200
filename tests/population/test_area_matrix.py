"""Area by default, proved from the admin registry itself.

For every registered admin of personal data (a model that reaches a person through foreign
keys), an officer of another township — holding every permission — finds nothing: the list,
the detail and history pages, each action, every URL of the admin's own (print, export, forms)
and the autocomplete; the officer of the right township gets the record, and the detail read is
logged. A new admin is covered without a new row here: the test needs only a sample record of
its model in ``area_world`` and says so when there is none. And ``manage.py check`` fails on an
admin of personal data that does not use the area rule.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.sites import AdminSite
from django.contrib.admin.views.main import IS_POPUP_VAR
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.forms.models import model_to_dict
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, reverse

from population.checks import admin_area_problems, personal_path
from population.jurisdiction import area_rule_of, area_rules, records_within
from population.models import AccessLog
from population.sync.models import Fact

pytestmark = pytest.mark.django_db

# Values for URL parameters of the admins' own views that are not a record's id.
URL_PARAMETER_SAMPLES = {"method": ["mark_accepted", "mark_approved", "mark_completed"]}
NOT_FOUND_REDIRECT = "/admin/"


def personal_admins():
    return sorted(
        (
            (model, model_admin)
            for model, model_admin in admin.site._registry.items()
            if personal_path(model) is not None
        ),
        key=lambda pair: pair[0]._meta.label,
    )


ADMINS = personal_admins()
IDS = [f"{m._meta.app_label}.{m._meta.model_name}" for m, _ in ADMINS]


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _sample(model_admin, world):
    """A record the admin shows to the officer of township A (and not to B's)."""
    sample = model_admin.get_queryset(_request(world.officer_a)).order_by("pk").first()
    assert sample is not None, (
        f"area_world has no {model_admin.model._meta.label} that "
        f"{type(model_admin).__name__} lists: add one to tests/population/area_world.py"
    )
    concrete = type(sample)._meta.concrete_model
    assert not records_within(world.officer_b, concrete.objects.filter(pk=sample.pk)).exists()
    return sample


def _snapshot():
    """Every row of every model of personal data: a refused request changes none of them."""
    return {
        model._meta.label: [model_to_dict(o) for o in model.objects.order_by("pk")]
        for model in area_rules()
    }


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _not_found(response) -> bool:
    """Django's admin answers a record it cannot find with a redirect to the index; the
    project's own views with 404."""
    return response.status_code == 404 or (
        response.status_code == 302 and response["Location"] == NOT_FOUND_REDIRECT
    )


def test_every_admin_of_personal_data_is_in_the_matrix():
    """The registry holds the admins this matrix runs over, each with its one area rule."""
    labels = {m._meta.label for m, _ in ADMINS}
    assert {"population.Person", "sync.Fact", "sync.FollowUp",
            "registry.Household", "settlement.Application", "residence_permit.ResidencePermit",
            "residence_permit.PermitApplication"} <= labels  # fmt: skip
    for model, _ in ADMINS:
        assert area_rule_of(model) is not None, model


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=IDS)
def test_list_detail_history_autocomplete_hold_the_area(world, model, model_admin):
    sample = _sample(model_admin, world)
    info = (model._meta.app_label, model._meta.model_name)
    changelist = reverse("admin:{}_{}_changelist".format(*info))
    change = reverse("admin:{}_{}_change".format(*info), args=[sample.pk])
    history = reverse("admin:{}_{}_history".format(*info), args=[sample.pk])
    other, right = _client(world.officer_b), _client(world.officer_a)

    # List: the other township's officer sees none of it; the right one sees the record.
    page = other.get(changelist)
    assert page.status_code == 200
    assert sample.pk not in [o.pk for o in page.context["cl"].result_list]
    page = right.get(changelist)
    assert sample.pk in [o.pk for o in page.context["cl"].result_list]

    # Detail and history: "not found" for the other, the record (logged) for the right one.
    for url in (change, history):
        before = AccessLog.objects.count()
        assert _not_found(other.get(url)), url
        assert AccessLog.objects.count() == before  # nothing shown, nothing to log
        response = right.get(url)
        assert response.status_code == 200, url
        logged = AccessLog.objects.filter(pk__gt=0).order_by("-pk").first()
        assert logged is not None and logged.username == "officer_a"
        expected = set(area_rule_of(model).persons(sample)) - {None}
        assert expected <= set(logged.person_ids), (url, logged.person_ids)

    # Autocomplete: through any foreign key that points at the model.
    source = next(
        (
            (f.model, f)
            for m in apps.get_models()
            for f in m._meta.get_fields()
            if getattr(f, "related_model", None) is model._meta.concrete_model
            and (f.many_to_one or f.one_to_one)
            and f.concrete
        ),
        None,
    )
    if source is not None and model_admin.get_search_fields(_request(world.officer_a)):
        source_model, field = source
        params = {
            "app_label": source_model._meta.app_label,
            "model_name": source_model._meta.model_name,
            "field_name": field.name,
            "term": "",
        }
        found = other.get("/admin/autocomplete/", params)
        assert found.status_code == 200
        assert str(sample.pk) not in [r["id"] for r in found.json()["results"]]


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=IDS)
def test_each_action_on_a_record_outside_changes_nothing(world, model, model_admin):
    sample = _sample(model_admin, world)
    info = (model._meta.app_label, model._meta.model_name)
    changelist = reverse("admin:{}_{}_changelist".format(*info))
    other = _client(world.officer_b)
    actions = model_admin.get_actions(_request(world.officer_b))
    for name in actions:
        before = _snapshot()
        response = other.post(
            changelist, {"action": name, "_selected_action": [str(sample.pk)], "index": "0"}
        )
        assert response.status_code in (200, 302), (name, response.status_code)
        assert _snapshot() == before, name


def _own_urls(model_admin):
    """The admin's own views (print, export, forms): every pattern before the standard ones."""
    standard = {"changelist", "add", "history", "delete", "change"}
    out = []
    for pattern in model_admin.get_urls():
        if isinstance(pattern, URLResolver) or not isinstance(pattern, URLPattern):
            continue
        if pattern.name is None:
            continue  # Django's redirect of a bare id to its change page
        name = pattern.name.rsplit("_", 1)[-1]
        if (
            pattern.name
            and name in standard
            and pattern.name.startswith(
                f"{model_admin.opts.app_label}_{model_admin.opts.model_name}_"
            )
        ):
            continue
        if pattern.pattern.regex.groups == 0 and not pattern.pattern.converters:
            continue  # no record in the address: nothing to scope (lists, forms of their own)
        out.append(pattern)
    return out


def _fill(pattern, object_id):
    names = list(pattern.pattern.converters)
    missing = [n for n in names if n != "object_id" and n not in URL_PARAMETER_SAMPLES]
    assert not missing, f"{pattern}: say in URL_PARAMETER_SAMPLES what {missing} take"
    combos = [{"object_id": object_id}]
    for name in names:
        if name == "object_id":
            continue
        combos = [{**c, name: value} for c in combos for value in URL_PARAMETER_SAMPLES[name]]
    return combos


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=IDS)
def test_the_admins_own_views_find_nothing_outside(world, model, model_admin):
    """Print pages, exports and record forms answer "not found" for a record outside the area,
    on GET and on POST, and change nothing."""
    sample = _sample(model_admin, world)
    other = _client(world.officer_b)
    site_prefix = reverse("admin:index")
    model_prefix = f"{site_prefix}{model._meta.app_label}/{model._meta.model_name}/"
    for pattern in _own_urls(model_admin):
        for kwargs in _fill(pattern, sample.pk):
            route = str(pattern.pattern)
            for name, value in kwargs.items():
                route = route.replace(f"<int:{name}>", str(value))
                route = route.replace(f"<str:{name}>", str(value))
                route = route.replace(f"<path:{name}>", str(value))
            url = model_prefix + route.lstrip("^").rstrip("$")
            before = _snapshot()
            assert _not_found(other.get(url)), url
            assert _not_found(other.post(url, {IS_POPUP_VAR: "0"})), url
            assert _snapshot() == before, url


# -- the system check ----------------------------------------------------------------------


def test_the_system_check_fails_on_an_admin_of_personal_data_without_the_area_rule():
    """A deliberately unscoped admin of department facts: ``manage.py check`` fails."""
    site = AdminSite(name="unscoped")
    site.register(Fact, admin.ModelAdmin)
    try:
        problems = admin_area_problems(site)
        assert [p.id for p in problems] == ["popbase.E001"]
        assert "Fact" in problems[0].msg
        assert any(p.id == "popbase.E001" for p in run_checks())
        with pytest.raises(SystemCheckError, match=r"popbase\.E001"):
            call_command("check")
    finally:
        site.unregister(Fact)


def test_the_system_check_fails_on_a_model_without_an_area_rule(monkeypatch):
    from population import jurisdiction
    from population.hooks import Hook

    rules = Hook("rules without Fact", key=jurisdiction.area_rule_hook._key)
    for rule in jurisdiction.area_rule_hook:
        if rule.model is not Fact:
            rules.register(rule)
    monkeypatch.setattr(jurisdiction, "area_rule_hook", rules)
    problems = admin_area_problems(admin.site)
    assert [(p.id, p.obj) for p in problems] == [("popbase.E002", Fact)]


def test_the_project_passes_its_own_check():
    assert admin_area_problems(admin.site) == []
    call_command("check")  # raises SystemCheckError on any error
