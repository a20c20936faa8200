"""An area-scoped officer's person list at scale: its count and first page (issue 19).

Read only, on an existing demo database (e.g. the 5M-person scale bench's): only SELECTs run.
Per named user, in the same run: baseline = what the list ran before, the exact
``COUNT(*)`` of the area's ``id IN (UNION ALL ...)`` and the first page (``ORDER BY id DESC
LIMIT 50``) in that shape; project = the admin's own change list for that user
(``PersonAdmin.get_changelist_instance``: the capped count probe and the list shape of the
area rule). Printed: median seconds, the ratio, the count shown, and the 1-minute load average.

    python bench/bench_area_list.py NAME [--users bench_户籍民警 bench_户籍主管] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import django
from _setup import database_url


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", help="an existing demo database, read only")
    parser.add_argument("--users", nargs="+", default=["bench_户籍民警", "bench_户籍主管"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = database_url(args.database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()

    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import RequestFactory

    from population.jurisdiction import area_of, person_q
    from population.models import Person

    with connection.cursor() as cursor:
        cursor.execute("SET default_transaction_read_only = on")
    person_admin = admin.site._registry[Person]
    for username in args.users:
        user = get_user_model().objects.get(username=username)
        area = area_of(user)
        narrow = Person.objects.filter(person_q(area)).select_related("hukou_region")

        def baseline(narrow=narrow):
            return narrow.count(), [p.pk for p in narrow.order_by("-id")[:50]]

        def project(user=user):
            request = RequestFactory().get("/admin/population/person/")
            request.user = user
            request._popbase_listing = person_admin
            changelist = person_admin.get_changelist_instance(request)
            shown = f"> {changelist.result_count}" if changelist.paginator.capped else ""
            return shown or changelist.result_count, [p.pk for p in changelist.result_list]

        load = os.getloadavg()[0]
        base_s, (base_count, base_ids) = timed(baseline, args.repeat)
        proj_s, (proj_count, proj_ids) = timed(project, args.repeat)
        assert base_ids == proj_ids, "the first page differs"
        print(
            f"{username} {area.prefixes}: baseline {base_s:.3f}s (count {base_count:,}) | "
            f"project {proj_s:.3f}s (shown {proj_count}) | {base_s / proj_s:.1f}x faster | "
            f"load {load:.2f}"
        )


if __name__ == "__main__":
    main()
