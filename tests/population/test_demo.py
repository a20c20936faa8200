"""The synthetic demo city: seed_demo and create_demo_officer."""

from __future__ import annotations

import datetime as dt
import io
import re
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, F, Q

from population import demo, roles
from population.codes import Relation
from population.identity import parse_citizen_id
from population.models import URBAN_CODES, Person, Region, RegionLevel, RegionUrbanRural
from population.regions import regions_load_reference, villages_generate_demo
from registry.models import Household, HouseholdKind, Membership

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 6, 30)


def seed(*args: str, loaders: bool = False) -> str:
    """The city alone (--city-only) unless ``loaders``: these tests are about the generator."""
    out = io.StringIO()
    extra = () if loaders else ("--city-only",)
    call_command("seed_demo", *args, *extra, verbosity=0, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def counts() -> tuple[int, int, int]:
    return Person.objects.count(), Household.objects.count(), Membership.objects.count()


@pytest.fixture
def seeded_city(db):
    """1,500 persons from seed 7, through the management command."""
    out = seed("--persons", "1500", "--seed", "7")
    return out


# -- what one run generates --------------------------------------------------------------------


def test_seed_demo_creates_exactly_the_requested_number_of_persons(seeded_city):
    persons, households, memberships = counts()
    assert persons == 1500
    assert f"generated: 1500 persons, {households} households, {memberships} memberships" in (
        seeded_city
    )
    assert 0 < households < persons
    assert Region.objects.filter(level=5, is_synthetic=True).exists()


def test_every_citizen_id_is_valid_and_agrees_with_sex_and_birth_date(seeded_city):
    rows = list(Person.objects.values_list("citizen_id", "sex", "birth_date", "name", "status"))
    assert len(rows) == 1500
    for number, sex, born, name, status in rows:
        parsed = parse_citizen_id(number)
        assert str(parsed) == number
        assert (parsed.sex, parsed.birth_date) == (sex, born)
        assert 2 <= len(name) <= 3
        assert status == "active"
    assert len({r[0] for r in rows}) == len(rows)


def test_every_family_household_has_exactly_one_head(seeded_city):
    households = Household.objects.annotate(
        heads=Count("memberships", filter=Q(memberships__relation=Relation.HEAD)),
        members=Count("memberships"),
    )
    assert not households.filter(members=0).exists()
    families = households.filter(kind=HouseholdKind.FAMILY)
    assert families.exists()
    assert sorted(set(families.values_list("heads", flat=True))) == [1]
    collectives = households.exclude(kind=HouseholdKind.FAMILY)
    assert collectives.exists()
    assert set(collectives.values_list("heads", flat=True)) == {0}
    # a household sits in the unit its members are registered in
    mismatched = Membership.objects.exclude(person__hukou_region=F("household__region"))
    assert not mismatched.exists()


def test_registered_persons_have_one_open_membership_and_others_none(seeded_city):
    open_counts = Person.objects.annotate(
        open=Count("memberships", filter=Q(memberships__end_date__isnull=True)),
        total=Count("memberships"),
    )
    assert set(open_counts.values_list("open", flat=True)) <= {0, 1}
    registered = open_counts.filter(hukou_region__isnull=False)
    others = open_counts.filter(hukou_region__isnull=True)
    assert registered.exists() and others.exists()
    assert set(registered.values_list("open", flat=True)) == {1}
    assert set(others.values_list("total", flat=True)) == {0}
    # registered persons hold hukou in the demo city; the others' numbers come from elsewhere
    assert not registered.exclude(hukou_region__code__startswith="4418").exists()
    assert not others.filter(citizen_id__startswith="4418").exists()
    # everyone non-registered lives in the city (that is why they are known)
    assert not others.filter(residence_region__isnull=True).exists()


def test_memberships_start_no_earlier_than_birth(seeded_city):
    rows = Membership.objects.values_list("start_date", "person__birth_date", "end_date")
    assert rows.exists()
    for start, born, end in rows:
        assert born <= start
        assert end is None


# -- determinism -------------------------------------------------------------------------------


@pytest.fixture
def demo_regions(db):
    regions_load_reference()
    assert villages_generate_demo() > 0


def generate_and_roll_back(*, persons: int, seed_value: int) -> dict[str, list]:
    """Run the generator inside a savepoint, collect what it wrote, then undo it all."""
    with transaction.atomic():
        demo.seed_demo_city(persons=persons, seed=seed_value, today=TODAY)
        result = {
            "persons": list(Person.objects.order_by("id").values_list("citizen_id", "name")),
            "households": list(
                Household.objects.order_by("id").values_list("number", "kind", "region_id")
            ),
            "memberships": list(
                Membership.objects.order_by("id").values_list(
                    "person__citizen_id", "household__number", "relation", "start_date"
                )
            ),
        }
        transaction.set_rollback(True)
    assert counts() == (0, 0, 0)
    return result


def test_the_same_seed_generates_the_same_city(demo_regions):
    first = generate_and_roll_back(persons=800, seed_value=42)
    second = generate_and_roll_back(persons=800, seed_value=42)

    assert len(first["persons"]) == 800
    assert first == second


def test_a_different_seed_generates_a_different_city(demo_regions):
    a = generate_and_roll_back(persons=800, seed_value=42)["persons"]
    b = generate_and_roll_back(persons=800, seed_value=43)["persons"]
    assert len(a) == len(b) == 800
    assert a != b
    assert len(set(a) & set(b)) < len(a) // 2


def test_the_command_is_deterministic_too(db):
    def run(seed_value: str) -> list:
        with transaction.atomic():
            seed("--persons", "500", "--seed", seed_value)
            rows = list(Person.objects.order_by("id").values_list("citizen_id", "name"))
            transaction.set_rollback(True)
        return rows

    first, second, other = run("3"), run("3"), run("4")
    assert len(first) == 500
    assert first == second
    assert first != other


# -- arguments and --if-empty ------------------------------------------------------------------


def test_if_empty_does_nothing_when_persons_exist(make_person):
    person = make_person(name="已有")
    out = seed("--persons", "300", "--seed", "1", "--if-empty")
    assert "skipped" in out
    assert list(Person.objects.values_list("pk", flat=True)) == [person.pk]
    assert counts() == (1, 0, 0)
    assert not Region.objects.exists()  # not even the regions were loaded


def test_if_empty_seeds_an_empty_database(db):
    seed("--persons", "300", "--seed", "1", "--if-empty")
    assert Person.objects.count() == 300


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--persons", "0"), "must be 1..20,000,000"),
        (("--persons", "-5"), "must be 1..20,000,000"),
        (("--persons", "20000001"), "must be 1..20,000,000"),
        (("--persons", "100", "--city", "12"), "must be a 4-digit city code"),
        (("--persons", "100", "--city", "44a8"), "must be a 4-digit city code"),
    ],
)
def test_bad_arguments_are_refused_and_write_nothing(db, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        seed(*args)
    assert counts() == (0, 0, 0)
    assert not Region.objects.exists()


def test_a_city_without_townships_is_refused(db):
    with pytest.raises(CommandError, match="no townships for city 4499"):
        seed("--persons", "100", "--city", "4499")
    assert counts() == (0, 0, 0)


# -- atomicity ---------------------------------------------------------------------------------


class Boom(RuntimeError):
    pass


def test_a_failure_while_generating_leaves_nothing(db, monkeypatch):
    # given a row writer that breaks after 700 rows
    real = demo.copy_line
    calls = {"n": 0}

    def failing(values):
        calls["n"] += 1
        if calls["n"] > 700:
            raise Boom("disk full")
        return real(values)

    monkeypatch.setattr(demo, "copy_line", failing)

    # when the demo city is seeded
    with pytest.raises(Boom):
        seed("--persons", "1000", "--seed", "1")

    # then no person, household or membership is left
    assert calls["n"] == 701
    assert counts() == (0, 0, 0)


def test_a_failure_after_rows_were_copied_leaves_nothing(demo_regions):
    # given a progress callback that fails once the final COPY has written every row
    seen = []

    def progress(done: int) -> None:
        seen.append(Person.objects.count())
        raise Boom("interrupted")

    # when the demo city is generated
    with pytest.raises(Boom):
        demo.seed_demo_city(persons=400, seed=1, today=TODAY, progress=progress)

    # then the rows had reached the tables, and are all gone
    assert seen == [400]
    assert counts() == (0, 0, 0)


# -- properties of the generator ---------------------------------------------------------------


def test_urban_share_and_sex_ratio_are_plausible(db):
    """Properties of the generator, not of any real city.

    With seed 1 and 5,000 persons: about 45% of persons with hukou are registered in urban units
    (urban-rural codes 111-123), and the sex ratio is about 1.14 (it tends to 1.09 for large
    runs: more male heads of household and male migrants). The bands are wide on purpose; a
    change of the weights that moves them out is a change of the demo city's character.
    """
    seed("--persons", "5000", "--seed", "1")
    codes = dict(RegionUrbanRural.objects.filter(year=2024).values_list("region_id", "code"))
    hukou = list(
        Person.objects.filter(hukou_region__isnull=False).values_list("hukou_region_id", flat=True)
    )
    urban_share = sum(codes[r] in URBAN_CODES for r in hukou) / len(hukou)
    assert 0.30 <= urban_share <= 0.55

    males = Person.objects.filter(sex=1).count()
    females = Person.objects.filter(sex=2).count()
    assert males + females == 5000
    assert 0.95 <= males / females <= 1.15

    # about 12% hold hukou elsewhere
    assert Person.objects.filter(hukou_region__isnull=True).count() == round(5000 * 0.12)


# -- small and repeated runs ----------------------------------------------------------------


def test_a_small_city_has_exactly_the_requested_number_of_persons(db):
    seed("--persons", "50", "--seed", "1")
    assert Person.objects.count() == 50


def test_seeding_twice_leaves_no_household_without_members(db):
    seed("--persons", "1000", "--seed", "1")
    seed("--persons", "1000", "--seed", "1")
    households = Household.objects.annotate(
        heads=Count("memberships", filter=Q(memberships__relation=Relation.HEAD)),
        members=Count("memberships"),
    )
    assert not households.filter(members=0).exists()
    assert not households.filter(kind=HouseholdKind.FAMILY).exclude(heads=1).exists()


# -- create_demo_officer -----------------------------------------------------------------------


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.POPBASE_DATA_DIR = tmp_path / "data"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.POPBASE_DATA_DIR


def create_officer(*args: str) -> tuple[str, str]:
    out = io.StringIO()
    call_command("create_demo_officer", *args, stdout=out)
    text = out.getvalue()
    match = re.search(r"密码 / password: (\S+)", text)
    assert match, text
    return match.group(1), text


def test_create_demo_officer_creates_a_staff_officer_and_prints_the_password(db, data_dir):
    password, text = create_officer("--url", "http://example.test/admin/")

    user = get_user_model().objects.get(username="demo_officer")
    assert user.is_staff and user.is_active and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == [roles.REGISTRATION_OFFICER]
    assert user.check_password(password)
    assert user.has_perm("population.view_full_citizen_id")
    assert "管理后台 / admin: http://example.test/admin/" in text
    assert "演示账号 / login: demo_officer" in text
    secret = data_dir / "demo-officer-password.txt"
    assert secret.read_text(encoding="utf-8") == password + "\n"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_create_demo_officer_twice_keeps_the_password(db, data_dir):
    first, _ = create_officer()
    second, _ = create_officer()

    assert first == second
    assert get_user_model().objects.filter(username="demo_officer").count() == 1
    assert get_user_model().objects.get(username="demo_officer").check_password(first)


def test_create_demo_officer_makes_a_new_password_when_the_file_is_gone(db, data_dir):
    first, _ = create_officer()
    (data_dir / "demo-officer-password.txt").unlink()

    second, _ = create_officer()

    assert second != first
    user = get_user_model().objects.get(username="demo_officer")
    assert user.check_password(second) and not user.check_password(first)
    assert user.groups.count() == 1


def test_create_demo_officer_prints_a_totp_secret_that_logs_in_and_keeps_it(db, data_dir):
    """The quickstart's second factor: the printed secret gives codes the officer's device
    accepts, and a rerun prints the same secret."""
    import base64
    import time

    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    _, text = create_officer()
    secret = re.search(r"动态口令密钥 / TOTP secret: ([A-Z2-7]+)", text).group(1)
    device = TOTPDevice.objects.get(user__username="demo_officer")
    assert device.confirmed
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    assert key == device.bin_key
    totp = TOTP(key, device.step, device.t0, device.digits)
    totp.time = time.time()
    assert device.verify_token(f"{totp.token():06d}")
    assert "█" in text or "▀" in text  # the QR code for an authenticator app

    _, again = create_officer()
    assert f"动态口令密钥 / TOTP secret: {secret}" in again
    assert TOTPDevice.objects.filter(user__username="demo_officer").count() == 1


def test_create_demo_officer_works_in_the_demo_city(seeded_city, data_dir):
    from population.jurisdiction import persons_within

    create_officer()
    create_officer()  # idempotent

    user = get_user_model().objects.get(username="demo_officer")
    city = Person.objects.exclude(hukou_region=None).first().hukou_region_id[:4]
    assert list(user.jurisdiction_regions.values_list("region_id", flat=True)) == [
        f"{city}00000000"
    ]
    assert persons_within(user).count() == Person.objects.count()


def test_create_demo_officer_without_a_city_has_no_area(db, data_dir):
    from population.jurisdiction import persons_within

    create_officer()
    user = get_user_model().objects.get(username="demo_officer")
    assert not user.jurisdiction_regions.exists()
    assert persons_within(user).count() == 0


def test_registered_demo_loaders_run_once_each_in_order_and_a_failure_rolls_back_its_own_work(db):
    calls = []

    def first(today):
        calls.append(("first", today))
        return "one"

    def failing(today):
        Region.objects.create(code="449900000000", name="临时", level=RegionLevel.CITY)
        raise RuntimeError("loader failed")

    saved = list(demo.demo_loader_hook)
    try:
        for loader in saved:
            demo.demo_loader_hook.unregister(loader.name)
        demo.demo_loader_hook.register(demo.DemoLoader("first", first))
        demo.demo_loader_hook.register(demo.DemoLoader("first", first))  # again: a no-op
        with pytest.raises(ValueError, match="registered twice"):  # another loader, same name
            demo.demo_loader_hook.register(demo.DemoLoader("first", failing))
        assert demo.demo_loaders_run(today=dt.date(2026, 1, 31)) == [("first", "one")]
        assert calls == [("first", dt.date(2026, 1, 31))]
        demo.demo_loader_hook.register(demo.DemoLoader("failing", failing))
        with pytest.raises(RuntimeError):
            demo.demo_loaders_run(today=dt.date(2026, 1, 31))
        assert not Region.objects.filter(code="449900000000").exists()
    finally:
        for loader in demo.demo_loader_hook:
            demo.demo_loader_hook.unregister(loader.name)
        for loader in saved:
            demo.demo_loader_hook.register(loader)


def test_the_demo_has_twelve_month_end_snapshots_and_a_past_month_can_be_taken(db):
    """The city counts as recorded 13 months back (rows and history), so the statistics loader
    made the last 12 month ends, and `stats_snapshot --month` of a past month finds the areas
    in the history (it found none when the history was dated at the load)."""
    from django.utils import timezone

    from population.models import PersonEvent
    from population.statistics.models import StatSnapshot

    out = seed("--persons", "1500", "--seed", "7", loaders=True)
    assert "stats: 12 个月末统计快照" in out
    assert "residence_permit: 8 张待签注的居住证" in out
    assert "个待核查的数据质量问题" in out
    today = timezone.localdate()
    months = sorted(set(StatSnapshot.objects.values_list("month", flat=True)))
    assert len(months) == 12
    assert months[-1] == today.replace(day=1) - dt.timedelta(days=1)
    assert StatSnapshot.objects.filter(month=months[0], region_code="441800000000").get().level == 2
    recorded = demo.demo_recorded_at(today)
    # The city's 1,500 persons and their first history rows carry the recorded date; the demo
    # loaders' own work (3 double entries, permits) is dated today.
    city_rows = PersonEvent.objects.filter(pgh_created_at=recorded, pgh_label="insert")
    assert city_rows.count() == 1500
    assert Person.objects.filter(created_at=recorded).count() == 1500
    assert not PersonEvent.objects.filter(pgh_created_at__lt=recorded).exists()

    past = months[-2].strftime("%Y-%m")
    StatSnapshot.objects.filter(month=months[-2]).delete()
    out = io.StringIO()
    call_command("stats_snapshot", "--month", past, stdout=out)
    areas = StatSnapshot.objects.filter(month=months[-2])
    assert out.getvalue().strip() == f"{past}: {areas.count()} 个区域 / areas"
    city = areas.get(region_code="441800000000")
    assert city.registered_total + city.resident_total > 0
    assert city.source == "history"


def _printed_logins(text: str) -> dict[str, str]:
    return dict(re.findall(r"演示账号 / login: (\S+)\n密码 / password: (\S+)", text))


def _totp_now(secret: str) -> str:
    import base64
    import time

    from django_otp.oath import TOTP

    totp = TOTP(base64.b32decode(secret + "=" * (-len(secret) % 8)), 30, 0, 6)
    totp.time = time.time()
    return f"{totp.token():06d}"


def test_create_demo_officer_gives_every_desk_a_login_that_signs_in(db, data_dir, client):
    seed("--persons", "300", "--seed", "7", loaders=True)  # the whole demo, snapshots included
    _, text = create_officer()
    logins = _printed_logins(text)
    assert set(logins) == {"demo_officer", "demo_supervisor", "demo_statistician"}
    expected = {
        "demo_officer": roles.REGISTRATION_OFFICER,
        "demo_supervisor": roles.SUPERVISOR,
        "demo_statistician": roles.STATISTICIAN,
    }
    city = Person.objects.exclude(hukou_region=None).first().hukou_region_id[:4] + "00000000"
    for username, password in logins.items():
        user = get_user_model().objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [expected[username]]
        assert user.is_staff and not user.is_superuser
        assert list(user.jurisdiction_regions.values_list("region_id", flat=True)) == [city]
        assert (data_dir / f"demo-{username.removeprefix('demo_')}-password.txt").read_text(
            encoding="utf-8"
        ) == password + "\n"
        # Signs in through the login form with the printed password, then the code of an
        # authenticator app holding the printed TOTP secret, and reaches the desk.
        client.logout()
        response = client.post(
            "/admin/login/?next=/admin/", {"username": username, "password": password}, follow=True
        )
        assert response.redirect_chain[-1][0].startswith("/admin/otp/verify/"), username
        secret = re.search(
            rf"演示账号 / login: {username}\n密码 / password: \S+\n"
            r"动态口令密钥 / TOTP secret: ([A-Z2-7]+)",
            text,
        ).group(1)
        response = client.post(
            "/admin/otp/verify/",
            {"otp_token": _totp_now(secret), "next": "/admin/"},
            follow=True,
        )
        assert response.status_code == 200 and response.context["user"] == user, username
        index = response.content.decode()
        if username == "demo_statistician":
            desk = r'<a href="([^"]+)"[^>]*>统计：城镇化率与报表下载</a>'
            entry = re.search(desk, index).group(1)
            statistics = client.get(entry, follow=True)
            assert statistics.status_code == 200
            assert "城镇化统计：" in statistics.content.decode()
            assert "落户申请" not in index  # no desk of the officers
        else:
            assert "落户申请" in index and "居住证" in index
    # A second run keeps every password; a wrong one does not sign in.
    assert _printed_logins(create_officer()[1]) == logins
    client.logout()
    response = client.post(
        "/admin/login/", {"username": "demo_supervisor", "password": "wrong-password"}
    )
    assert response.status_code == 200 and not response.context["user"].is_authenticated
