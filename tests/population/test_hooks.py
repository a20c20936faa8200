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
