"""System checks (``manage.py check``; CI, ``runserver`` and the WSGI start run them).

popbase.E001: an admin of personal data does not inherit ``JurisdictionAdminMixin``.
popbase.E002: a model of personal data shown in the admin states no area rule.

A model is personal data when it is ``Person``, states an area rule, or reaches one of those
through foreign keys (a fact → its person; a quality issue → its household).
"""

from __future__ import annotations

from collections import deque

from django.contrib.admin.sites import all_sites
from django.core import checks
from django.db import models

from population.models import Person


def personal_path(model: type[models.Model]) -> list[str] | None:
    """How ``model`` reaches personal data through foreign keys (``["Fact.person", "Person"]``),
    or None when it does not."""
    from population.jurisdiction import area_rules

    roots = {Person, *area_rules()}
    start = model._meta.concrete_model
    queue: deque[tuple[type[models.Model], list[str]]] = deque([(start, [])])
    seen = {start}
    while queue:
        current, path = queue.popleft()
        if current in roots:
            return [*path, current._meta.object_name]
        for f in current._meta.get_fields():
            if not (f.many_to_one or f.one_to_one) or not f.concrete or f.related_model is None:
                continue
            target = f.related_model._meta.concrete_model
            if target not in seen:
                seen.add(target)
                queue.append((target, [*path, f"{current._meta.object_name}.{f.name}"]))
    return None


def admin_area_problems(site) -> list[checks.CheckMessage]:
    from population.jurisdiction import JurisdictionAdminMixin, area_rule_of

    problems: list[checks.CheckMessage] = []
    for model, model_admin in site._registry.items():
        path = personal_path(model)
        if path is None:
            continue
        via = " → ".join(path)
        name = f"{type(model_admin).__module__}.{type(model_admin).__qualname__}"
        if not isinstance(model_admin, JurisdictionAdminMixin):
            problems.append(
                checks.Error(
                    f"{name} shows personal data ({via}) without the area rule",
                    hint="inherit population.jurisdiction.JurisdictionAdminMixin",
                    obj=type(model_admin),
                    id="popbase.E001",
                )
            )
        if area_rule_of(model) is None:
            problems.append(
                checks.Error(
                    f"{model._meta.label} reaches personal data ({via}) but states no area rule",
                    hint="state it once with population.jurisdiction.area_rule_hook in the app's "
                    "jurisdiction.py (imported by its AppConfig.ready)",
                    obj=model,
                    id="popbase.E002",
                )
            )
    return problems


@checks.register(checks.Tags.admin, checks.Tags.security)
def admins_of_personal_data_are_scoped(app_configs=None, **kwargs):
    problems: list[checks.CheckMessage] = []
    for site in all_sites:
        problems += admin_area_problems(site)
    return problems
