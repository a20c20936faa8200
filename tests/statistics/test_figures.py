"""Exact rates of the hand-computed small city at three levels, and bad requests."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from population.errors import DomainError, NotFound
from population.statistics import selectors
from population.statistics.models import StatSnapshot
from population.statistics.services import snapshot_recount_check, snapshot_take

pytestmark = pytest.mark.django_db


def this_month() -> str:
    return timezone.localdate().strftime("%Y-%m")


def counts(code):
    return selectors.urbanization(region_code=code, month=this_month())


def test_small_city_rates_at_city_county_and_township(small_city):
    assert snapshot_take(month=this_month()) == 1 + 2 + 3
    city = counts("441800000000")
    assert city["counts"] == {
        "registered_total": 21,
        "registered_urban": 7,
        "registered_unclassified": 2,
        "registered_away": 3,
        "resident_total": 26,
        "resident_urban": 16,
        "resident_unclassified": 2,
        "separated": 8,
        "resident_male": 16,
        "resident_female": 10,
    }
    assert (city["registered_rate"], city["resident_rate"]) == (
        round(700 / 21, 4),
        round(1600 / 26, 4),
    )
    assert city["gap"] == round(round(1600 / 26, 4) - round(700 / 21, 4), 4)
    assert city["sex_ratio"] == 160.0

    qingcheng = counts("441802000000")
    assert (qingcheng["registered_rate"], qingcheng["resident_rate"], qingcheng["gap"]) == (
        50.0,
        80.0,
        30.0,
    )
    qingxin = counts("441803000000")
    assert (qingxin["registered_rate"], qingxin["resident_rate"]) == (0.0, 0.0)
    assert qingxin["counts"]["registered_total"] == 7
    assert qingxin["counts"]["resident_total"] == 6

    fengcheng = counts("441802006000")
    assert fengcheng["counts"]["registered_total"] == 13
    assert fengcheng["counts"]["resident_urban"] == 9
    assert fengcheng["registered_rate"] == round(600 / 13, 4)
    assert fengcheng["resident_rate"] == round(900 / 13, 4)
    assert fengcheng["counts"]["separated"] == 0
    dongcheng = counts("441802100000")
    assert (dongcheng["registered_rate"], dongcheng["resident_rate"]) == (100.0, 100.0)
    assert dongcheng["counts"]["separated"] == 7
    assert dongcheng["counts"]["registered_away"] == 1


def test_pyramid_and_by_area(small_city):
    snapshot_take(month=this_month())
    pyramid = selectors.pyramid(region_code="441800000000", month=this_month())
    assert pyramid["groups"][1] == "5-9" and pyramid["groups"][-1] == "100+"
    assert pyramid["male"][1] == 5 and pyramid["male"][6] == 11
    assert pyramid["female"][6] == 10
    assert sum(pyramid["male"]) + sum(pyramid["female"]) == 26
    registered = selectors.pyramid(
        region_code="441800000000", month=this_month(), population="registered"
    )
    assert sum(registered["male"]) + sum(registered["female"]) == 21
    areas = selectors.urbanization_by_area(region_code="441800000000", month=this_month())
    assert [a["region_code"] for a in areas] == ["441802000000", "441803000000"]


def test_suppression_hides_small_cells_for_departments(small_city):
    snapshot_take(month=this_month())
    figures = selectors.urbanization(region_code="441802100000", month=this_month(), suppress=True)
    assert figures["counts"]["registered_total"] == "<5"
    assert figures["counts"]["resident_total"] == 7
    assert figures["registered_rate"] is None and figures["gap"] is None
    assert figures["resident_rate"] == 100.0
    assert figures["counts"]["registered_unclassified"] == 0  # zero is not a small cell


def test_snapshot_equals_recount_and_a_tampered_one_is_reported(small_city):
    snapshot_take(month=this_month())
    assert snapshot_recount_check(month=this_month()) == []
    StatSnapshot.objects.filter(region_code="441803100000").update(resident_urban=1)
    assert snapshot_recount_check(month=this_month()) == [
        {"region_code": "441803100000", "field": "resident_urban", "stored": 1, "recount": 0}
    ]
    with pytest.raises(CommandError, match="1 处差异"):
        call_command("stats_recount", month=this_month())


def test_a_rerun_replaces_the_month(small_city):
    snapshot_take(month=this_month())
    first = list(
        StatSnapshot.objects.order_by("region_code").values_list("region_code", "resident_total")
    )
    snapshot_take(month=this_month())
    assert (
        list(
            StatSnapshot.objects.order_by("region_code").values_list(
                "region_code", "resident_total"
            )
        )
        == first
    )


def test_history_backfill_of_the_month_before_the_city_existed_is_empty(small_city):
    today = timezone.localdate()
    previous = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    assert snapshot_take(month=previous, from_history=True) == 0
    # Same month from history as from the current records.
    assert snapshot_take(month=this_month(), from_history=True) == 6
    assert snapshot_recount_check(month=this_month()) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "code"),
    [
        ({"region_code": "441899000000"}, NotFound, "unknown_region"),
        ({"region_code": "441802006001"}, NotFound, "unknown_region"),  # a village: not an area
        ({"month": "2999-01"}, DomainError, "month_in_future"),
        ({"month": "2025-13"}, DomainError, "bad_month"),
        ({"month": "last month"}, DomainError, "bad_month"),
        ({"month": "2001-01"}, NotFound, "no_data"),
    ],
)
def test_bad_requests_get_bilingual_errors(small_city, kwargs, error, code):
    snapshot_take(month=this_month())
    args = {"region_code": "441800000000", "month": this_month(), **kwargs}
    with pytest.raises(error) as excinfo:
        selectors.urbanization(**args)
    assert excinfo.value.code == code
    assert excinfo.value.message_zh and excinfo.value.message_en


def test_backfill_command_reports_progress_and_refuses_a_future_month(small_city, capsys):
    today = timezone.localdate()
    first = (today.replace(day=1) - dt.timedelta(days=40)).strftime("%Y-%m")
    call_command("stats_backfill", "--from", first, "--to", this_month())
    out = capsys.readouterr().out
    assert "[1/3]" in out and f"[3/3] {this_month()}: 6" in out
    with pytest.raises(CommandError, match="future"):
        call_command("stats_backfill", "--from", first, "--to", "2999-01")


def test_balance_lists_the_persons_recorded_without_an_event(small_city):
    from population.statistics.balance import balance_compute

    snapshot_take(month=this_month())
    balance = balance_compute(region_code="441803000000", month=this_month())
    # Seven registered persons of 清新区 were entered directly, with no registration event.
    assert {
        k: balance[k]
        for k in (
            "opening",
            "births",
            "moves_in",
            "deaths",
            "moves_out",
            "other",
            "closing",
            "imbalance",
        )
    } == {
        "opening": 0,
        "births": 0,
        "moves_in": 0,
        "deaths": 0,
        "moves_out": 0,
        "other": 0,
        "closing": 7,
        "imbalance": 7,
    }
    assert (balance["resident_opening"], balance["resident_closing"]) == (None, 6)
    assert [u["change"] for u in balance["unexplained"]] == ["arrived"] * 7
    assert all(
        len(u["citizen_id"]) == 18 and "*" in u["citizen_id"] for u in balance["unexplained"]
    )


def test_balance_command_lists_the_records_and_logs_the_read(small_city, capsys):
    from population.models import AccessLog

    snapshot_take(month=this_month())
    with pytest.raises(CommandError, match="imbalance 7"):
        call_command("stats_balance", region="441803000000", month=this_month())
    out = capsys.readouterr().out
    assert "期末/closing 7; 差额/imbalance 7" in out
    assert out.count("无登记事项 / no event: 441802********") == 7
    log = AccessLog.objects.get(channel="command.stats_balance")
    assert len(log.person_ids) == 7 and log.fields == ["citizen_id"]
    with pytest.raises(CommandError, match="unknown area"):
        call_command("stats_balance", region="999999000000", month=this_month())
