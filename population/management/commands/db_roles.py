from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from population.db_roles import quote_role, role_create, runtime_grants_sql


class Command(BaseCommand):
    help = (
        "创建（或保留）数据库属主角色和运行角色并授权（可重复执行）：属主拥有全部表并执行迁移；"
        "运行角色只能读写数据行，不能改表结构、不能 TRUNCATE，不能修改或删除只增表（查阅日志、"
        "历史记录等）。须以超级用户（或有 CREATEROLE 权限的角色）运行。 "
        "Create (or keep) the database owner and runtime roles and grant them (idempotent): the "
        "owner owns every table and runs the migrations; the runtime role reads and writes rows "
        "only: no DDL, no TRUNCATE, no UPDATE or DELETE on append-only tables (the access log, "
        "history tables ...). Run it as a superuser (or a role with CREATEROLE)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--owner",
            help="属主角色名（默认取 DATABASE_OWNER_URL 的用户） / owner role "
            "(default: the user of DATABASE_OWNER_URL)",
        )
        parser.add_argument(
            "--runtime",
            help="运行角色名（默认取 DATABASE_URL 的用户） / runtime role "
            "(default: the user of DATABASE_URL)",
        )
        parser.add_argument(
            "--take-ownership",
            action="store_true",
            help="把现有的表和序列转给属主（由超级用户建表的旧库） / make the owner own the "
            "existing tables and sequences (a database migrated before by a superuser)",
        )

    @transaction.atomic
    def handle(self, *args, owner, runtime, take_ownership, **options):
        owner_settings = settings.DATABASE_OWNER or {}
        owner = owner or owner_settings.get("USER")
        runtime = runtime or settings.DATABASE_RUNTIME_USER
        if not owner or not runtime:
            raise CommandError(
                "须给出属主和运行角色（--owner/--runtime 或 DATABASE_OWNER_URL/DATABASE_URL） / "
                "name the owner and runtime roles (--owner/--runtime, or DATABASE_OWNER_URL and "
                "DATABASE_URL)"
            )
        if owner == runtime:
            raise CommandError(
                f"属主和运行角色不能相同：{owner} / owner and runtime role must differ: {owner}"
            )
        try:
            quote_role(owner)
            quote_role(runtime)
        except ValueError as exc:
            raise CommandError(f"角色名不合规 / {exc}") from exc
        with connection.cursor() as cursor:
            passwords = {
                owner: owner_settings.get("PASSWORD")
                if owner == owner_settings.get("USER")
                else None,
                runtime: settings.DATABASES["default"].get("PASSWORD")
                if runtime == settings.DATABASE_RUNTIME_USER
                else None,
            }
            for name in (owner, runtime):
                created = role_create(cursor, name, password=passwords[name] or None)
                self.stdout.write(
                    f"{'已创建' if created else '已存在'} {name} / role {name} "
                    f"{'created' if created else 'exists'}"
                )
            cursor.execute("SELECT quote_ident(current_database())")
            database = cursor.fetchone()[0]
            cursor.execute(
                f"GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {database} TO {quote_role(owner)}"
            )
            cursor.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {quote_role(owner)}")
            if take_ownership:
                cursor.execute(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
                    " AND pg_get_userbyid(c.relowner) <> %s"
                    # Sequences of identity and serial columns follow their table.
                    " OR (n.nspname = 'public' AND c.relkind = 'S'"
                    " AND pg_get_userbyid(c.relowner) <> %s AND NOT EXISTS (SELECT FROM pg_depend d"
                    " WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))",
                    [owner, owner],
                )
                moved = [row[0] for row in cursor.fetchall()]
                for name in moved:
                    cursor.execute(f'ALTER TABLE "{name}" OWNER TO {quote_role(owner)}')
                # Trigger functions (pgtrigger, pghistory, the TRUNCATE guard) are replaced by
                # later migrations: their owner must be the one who migrates.
                cursor.execute(
                    "SELECT p.oid::regprocedure::text FROM pg_proc p"
                    " JOIN pg_namespace n ON n.oid = p.pronamespace"
                    " WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> %s",
                    [owner],
                )
                functions = [row[0] for row in cursor.fetchall()]
                for signature in functions:
                    cursor.execute(f"ALTER ROUTINE {signature} OWNER TO {quote_role(owner)}")
                moved += functions
                self.stdout.write(
                    f"转给属主 {len(moved)} 个对象 / {len(moved)} objects now owned by {owner}"
                )
            for statement in runtime_grants_sql(runtime, owner=owner):
                cursor.execute(statement)
        self.stdout.write(
            self.style.SUCCESS(
                f"运行角色 {runtime} 已授权 / runtime role {runtime} granted (owner {owner})"
            )
        )
