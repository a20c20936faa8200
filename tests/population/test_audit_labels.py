"""The access log admin names channels in Chinese, never by their codes."""

from __future__ import annotations

import re

import pytest

from population.audit_labels import KNOWN_CHANNELS, channel_label


@pytest.mark.parametrize("channel", [*KNOWN_CHANNELS, "admin.event.birth", "admin.new_page", "x"])
def test_every_channel_has_a_chinese_label(channel):
    label = channel_label(channel)
    assert label and not re.search(r"[A-Za-z_]", label)


@pytest.mark.django_db
def test_the_access_log_list_shows_labels_not_codes(client, django_user_model):
    from population.audit import access_log_record

    access_log_record(
        user=None, channel="admin.person_list", person_ids=[1], fields=["name"], purpose="测试"
    )
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    body = client.get("/admin/population/accesslog/").content.decode()
    assert "后台：人员页面（列表）" in body
    assert "admin.person_list" not in body.replace('value="admin.person_list"', "").replace(
        "channel=admin.person_list", ""
    )


def test_prints_and_their_pdf_copies_are_named():
    assert channel_label("admin.household_print") == "后台：户口簿打印"
    assert channel_label("admin.household_print.pdf") == "后台：户口簿打印（电子版）"
    assert channel_label("admin.print.transfer_permit.pdf") == "后台：户口迁移证打印（电子版）"
    assert channel_label("admin.residence_permit_print.pdf") == "后台：居住证打印（电子版）"
