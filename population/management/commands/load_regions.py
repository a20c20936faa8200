from django.core.management.base import BaseCommand

from population.regions import regions_load_reference


class Command(BaseCommand):
    help = (
        "载入内置区划数据（五市的省、市、县、乡级代码及县级代码沿革），可重复执行。 "
        "Load the shipped province, city, county and township codes and county-code history "
        "of the five seed cities; safe to run again."
    )

    def handle(self, *args, **options):
        counts = regions_load_reference()
        summary = ", ".join(f"{k} {v}" for k, v in counts.items())
        self.stdout.write(self.style.SUCCESS(f"区划已载入 / regions loaded: {summary}"))
