"""The one hook pattern higher apps register through (population/hooks.py)."""

from dataclasses import dataclass

import pytest

from population.hooks import Hook


@dataclass(frozen=True)
class Item:
    name: str
    value: int = 0


def test_items_keep_registration_order_and_are_found_by_key():
    hook: Hook[Item] = Hook("test.items")
    a, b = hook.register(Item("b", 1)), hook.register(Item("a", 2))
    assert list(hook) == [a, b]
    assert hook.keys() == ["b", "a"]
    assert hook.get("a") == b and "a" in hook and "c" not in hook and len(hook) == 2


def test_registering_the_same_item_again_changes_nothing():
    hook: Hook[Item] = Hook("test.items")
    hook.register(Item("a", 1))
    hook.register(Item("a", 1))
    assert list(hook) == [Item("a", 1)]


def test_a_different_item_under_a_taken_key_is_refused_and_the_first_kept():
    hook: Hook[Item] = Hook("test.items")
    hook.register(Item("a", 1))
    with pytest.raises(ValueError, match="'a' is registered twice"):
        hook.register(Item("a", 2))
    assert hook.get("a") == Item("a", 1)


def test_unregister_and_custom_key():
    hook: Hook[tuple[str, int]] = Hook("test.pairs", key=lambda pair: pair[0])
    hook.register(("x", 1))
    hook.unregister("x")
    hook.unregister("never")
    assert list(hook) == []


def test_the_person_page_and_the_quality_detectors_are_filled_through_hooks():
    from population.admin_story import person_page_section_hook
    from population.admin_utils import PageAction, person_page_action_hook
    from registry.quality.detectors import detector_hook

    assert "admin:population_accesslog_person_reads" in person_page_action_hook
    assert "admin:registry_person_register_form" in person_page_action_hook
    assert person_page_section_hook.keys() == ["registry.admin_person.person_hukou_section"]
    assert detector_hook.keys() == [
        "dup_same_name",
        "dup_normalised",
        "dup_homophone",
        "registered_twice",
        "record_checks",
        "household_no_head",
        "deceased_per_notice",
    ]
    # A second button under a taken URL name is refused, the first kept.
    taken = person_page_action_hook.get("admin:registry_person_register_form")
    with pytest.raises(ValueError, match="registered twice"):
        person_page_action_hook.register(
            PageAction("别的按钮", "admin:registry_person_register_form", "population.view_person")
        )
    assert person_page_action_hook.get("admin:registry_person_register_form") == taken


def test_the_core_learns_the_higher_apps_rules_and_names_through_hooks():
    """Area rules, person sources, merge references and access-log names come from the apps
    that own them (population imports none of those apps)."""
    from population.audit_labels import (
        channel_label,
        channel_label_hook,
        field_label,
        field_prefix_hook,
        page_label_hook,
        purpose_label_hook,
    )
    from population.jurisdiction import AreaRule, area_rule_hook, person_ids_q, person_source_hook
    from population.sharing.scopes import Purpose
    from population.sync.models import Fact
    from registry.quality.services import merge_reference_decisions, merge_references_hook

    assert {"population.Person", "sync.Fact", "sync.FollowUp"} <= set(area_rule_hook.keys())
    assert person_source_hook.keys() == ["registry.open_household"]
    assert merge_references_hook.keys() == ["residence_permit", "settlement"]
    for references in merge_references_hook:
        assert references.kept and references.kept <= merge_reference_decisions()

    assert page_label_hook.get("sync_fact").label == "部门登记事实"
    assert channel_label("admin.sync_followup_list") == "后台：待办事项（部门数据）（列表）"
    assert channel_label_hook.get("api.facts").label == "共享接口：事实核验"
    assert channel_label_hook.get("command.stats_balance").label == "命令：户籍人口平衡表"
    assert field_prefix_hook.keys() == ["fact:"]
    assert field_label("fact:valid_residence_permit") == "事实核验：持有有效居住证"
    assert purpose_label_hook.keys() == list(Purpose.values)

    # A second, different rule for a model that has one is refused, the first kept.
    taken = area_rule_hook.get("sync.Fact")
    with pytest.raises(ValueError, match=r"'sync\.Fact' is registered twice"):
        area_rule_hook.register(AreaRule(Fact, q=person_ids_q, persons=lambda fact: []))
    assert area_rule_hook.get("sync.Fact") is taken
