from django.core.management.commands.migrate import Command as DjangoMigrateCommand

from population.db_roles import connected_as_owner


class Command(DjangoMigrateCommand):
    help = (
        "更新数据库结构；设置 DATABASE_OWNER_URL 时以表的属主角色连接，"
        "之后为运行角色（DATABASE_URL）重新授权。 "
        + DjangoMigrateCommand.help
        + " With DATABASE_OWNER_URL set, it connects as the owner role and then grants the "
        "runtime role (DATABASE_URL) its rights on the new tables (population/db_roles.py)."
    )

    def handle(self, *args, **options):
        with connected_as_owner(options["database"]):
            return super().handle(*args, **options)
