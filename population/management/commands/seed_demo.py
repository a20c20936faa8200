import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from population.demo import demo_city_exists, demo_loaders_run, seed_demo_city
from population.regions import DEMO_CITY, regions_load_reference, villages_generate_demo


class Command(BaseCommand):
    help = (
        "生成确定性的演示城市（默认清远市）：村级单位、户、户成员、本市及非本市户籍人员，"
        "经 COPY 一次事务载入，失败不留半成品。 "
        "Generate a deterministic synthetic demo city: village units, households, members, "
        "registered and non-registered residents, loaded by COPY in one transaction "
        "(nothing is left behind on failure)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--persons", type=int, default=20_000, help="number of persons (>=1)")
        parser.add_argument("--seed", type=int, default=1, help="random seed; same seed, same city")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when persons already exist (used by `make run`)",
        )
        parser.add_argument("--city", default=DEMO_CITY, help="4-digit city code (default 4418)")
        parser.add_argument(
            "--city-only",
            action="store_true",
            help="只生成城市，不加载各模块的演示内容 / the city only, no demo content of the apps",
        )

    def handle(
        self, *args, persons: int, seed: int, if_empty: bool, city: str, city_only: bool, **options
    ):
        if persons < 1 or persons > 20_000_000:
            raise CommandError("--persons 应在1至20000000之间 / must be 1..20,000,000")
        if not (len(city) == 4 and city.isdigit()):
            raise CommandError("--city 应为4位城市代码 / must be a 4-digit city code")
        if if_empty and demo_city_exists():
            self.stdout.write("演示数据已存在，跳过 / demo data already loaded, skipped")
            return
        started = time.monotonic()
        regions_load_reference()
        villages = villages_generate_demo(city=city)
        if not villages:
            raise CommandError(f"城市{city}没有乡级区划 / no townships for city {city}")
        with tqdm(
            total=persons, unit="人", desc="seed_demo", disable=options["verbosity"] < 1
        ) as bar:

            def progress(done: int) -> None:
                bar.update(done - bar.n)

            result = seed_demo_city(persons=persons, seed=seed, city=city, progress=progress)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"已生成 / generated: {result.persons} persons, {result.households} households, "
                f"{result.memberships} memberships, {villages} village units in {elapsed:.1f} s"
            )
        )
        if city_only:
            return
        for name, summary in demo_loaders_run():
            self.stdout.write(f"  {name}: {summary}")
