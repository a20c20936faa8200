"""The person and department client the subprocess drivers (replica, PgBouncer) call the API
with. Imported after the driver has set Django up."""

from __future__ import annotations

import uuid

from population import services
from population.models import Person
from population.sharing.scopes import PersonField, endpoint_hook
from population.sharing.services import api_client_create


def person_and_key(*, citizen_id: str, name: str, client_prefix: str) -> tuple[Person, str]:
    """A new person and a full-scope client's key (purpose social_insurance)."""
    person = services.person_create(citizen_id=citizen_id, name=name, actor=None, reason="测试")
    _client, key = api_client_create(
        code=f"{client_prefix}-{uuid.uuid4().hex[:8]}",
        name=f"{name}客户端",
        department="hrss",
        actor=None,
        endpoints=endpoint_hook.keys(),
        person_fields=list(PersonField.values),
        purposes=["social_insurance"],
        change_kinds=[],
        facts=[],
    )
    return person, key
