"""The deploy/ files stay in step with the settings and the units are well-formed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_env_template_lists_every_setting_read_from_the_environment():
    source = (REPO / "config/settings.py").read_text()
    read = set(re.findall(r'(?:os\.environ\.get|env_bool|env_list)\(\s*"([A-Z_0-9]+)"', source))
    template = (REPO / "deploy/popbase.env.example").read_text()
    listed = set(re.findall(r"^#?([A-Z_0-9]+)=", template, flags=re.MULTILINE))
    assert read - listed == set(), "settings missing from deploy/popbase.env.example"
    assert listed - read - {"CELERY_CONCURRENCY"} == set(), "template names unknown settings"


def test_systemd_units_verify():
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is part of systemd on Debian"
    units = sorted((REPO / "deploy/systemd").glob("*"))
    assert {u.name for u in units} >= {
        "popbase-web.service",
        "popbase-worker@.service",
        "popbase-beat.service",
        "popbase-backup.service",
        "popbase-backup.timer",
    }
    # systemd's own check, on copies pointing at this checkout instead of /opt/popbase.
    with tempfile.TemporaryDirectory() as scratch:
        names = []
        for unit in units:
            name = unit.name.replace("@.service", "@default.service")
            Path(scratch, name).write_text(unit.read_text().replace("/opt/popbase", str(REPO)))
            names.append(name)
        done = subprocess.run(  # noqa: S603
            [analyze, "verify", *names], cwd=scratch, capture_output=True, text=True, check=False
        )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    text = "\n".join(u.read_text() for u in units)
    # Each unit names its program by absolute path and reads the one env file.
    assert text.count("EnvironmentFile=/etc/popbase/popbase.env") == 4
    for unit in units:
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                assert line.split("=", 1)[1].startswith("/"), line


def test_deploy_check_passes_a_production_env_and_refuses_the_unfilled_template(tmp_path):
    script = REPO / "deploy/deploy_check.py"
    ok = subprocess.run(  # noqa: S603
        [sys.executable, script], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stderr
    assert "a weak setting (DEBUG on) is refused" in ok.stdout
    unfilled = subprocess.run(  # noqa: S603
        [sys.executable, script, REPO / "deploy/popbase.env.example"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert unfilled.returncode == 1
    assert "SECRET_KEY must be set" in unfilled.stderr
    assert "AUDIT_HMAC_KEY must be set" in unfilled.stderr
