"""How the sync app's records lie in a jurisdiction (the rule itself is
``population.jurisdiction``): a department fact and a follow-up are inside when their person is."""

from __future__ import annotations

from population.jurisdiction import AreaRule, area_rule_hook, person_ids_q
from population.sync.models import Fact, FollowUp

area_rule_hook.register(
    AreaRule(Fact, q=person_ids_q, persons=lambda fact: [fact.person_id, fact.counterpart_id])
)
area_rule_hook.register(
    AreaRule(FollowUp, q=person_ids_q, persons=lambda follow_up: [follow_up.person_id])
)
