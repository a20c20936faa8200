from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from population.regions import villages_load_nbs


class Command(BaseCommand):
    help = (
        "载入国家统计局《统计用区划代码和城乡划分代码》村级文件（每行：12位代码,城乡分类代码,名称）。"
        "任一行有误则不载入并列出错误行。 Load an NBS village-level file (code,urban_rural_code,"
        "name per row); any bad row loads nothing and every bad line is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="CSV/TSV file, UTF-8 or GB18030")
        parser.add_argument("--year", type=int, required=True, help="classification year")

    def handle(self, *args, path: Path, year: int, **options):
        if not path.is_file():
            raise CommandError(f"文件不存在 / no such file: {path}")
        if not 2000 <= year <= 2100:
            raise CommandError("年份应在2000至2100之间 / year must be 2000..2100")
        report = villages_load_nbs(path, year=year)
        if report.errors:
            for error in report.errors:
                self.stderr.write(error)
            raise CommandError(
                f"{len(report.errors)}行有误，未载入任何数据 / {len(report.errors)} bad rows, "
                "nothing loaded"
            )
        self.stdout.write(self.style.SUCCESS(f"已载入村级单位 / villages loaded: {report.loaded}"))
