"""digits-edge doctor against fake system files (sysfs, /dev, /proc, vcgencmd), and once for real."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_runtime.contract import PROJECT_ROOT
from edge_runtime.doctor import FAIL, OK, WARN, DoctorOptions, decode_throttled, exit_status, run_doctor
from edge_runtime.manifest import MODELS_DIR

ROOT = PROJECT_ROOT


def no_picamera2():
    raise ImportError("No module named 'picamera2'")


def fake_pi(
    tmp_path: Path, temps=(45000,), throttled="0x0", videos=("video0",), pi=True, mem_kb=900_000
) -> DoctorOptions:
    """A fake Raspberry Pi's /sys, /dev, /proc and vcgencmd under tmp_path."""
    sys_root, dev_root, proc_root = tmp_path / "sys", tmp_path / "dev", tmp_path / "proc"
    for i, t in enumerate(temps):
        zone = sys_root / "class" / "thermal" / f"thermal_zone{i}"
        zone.mkdir(parents=True)
        (zone / "temp").write_text(f"{t}\n")
    dev_root.mkdir()
    for name in videos:
        (dev_root / name).touch()
        (sys_root / "class" / "video4linux" / name).mkdir(parents=True)
        (sys_root / "class" / "video4linux" / name / "name").write_text("USB Camera\n")
    (proc_root / "device-tree").mkdir(parents=True)
    if pi:
        (proc_root / "device-tree" / "model").write_text("Raspberry Pi 4 Model B Rev 1.4\x00")
    (proc_root / "meminfo").write_text(
        f"MemTotal: 3884000 kB\nMemFree: 100000 kB\nMemAvailable: {mem_kb} kB\n"
    )
    vcgencmd = tmp_path / "vcgencmd"
    vcgencmd.write_text(f'#!/bin/sh\n[ "$1" = get_throttled ] && echo "throttled={throttled}"\n')
    vcgencmd.chmod(0o755)
    return DoctorOptions(None, sys_root, dev_root, proc_root, str(vcgencmd), tmp_path / "dist-packages")


def by_name(checks):
    return {c.name: c for c in checks}


def test_healthy_pi_is_all_ok_except_picamera2(tmp_path):
    checks = by_name(run_doctor(fake_pi(tmp_path), import_picamera2=no_picamera2))
    for name in (
        "python",
        "numpy",
        "opencv",
        "litert",
        "model-files",
        "interpreter",
        "camera-v4l2",
        "cpu-temperature",
        "throttling",
        "memory",
        "disk",
    ):
        assert checks[name].status == OK, checks[name]
    assert "10 of the 10" in checks["interpreter"].detail
    assert "/video0 (USB Camera)" in checks["camera-v4l2"].detail
    assert checks["cpu-temperature"].detail.startswith("45.0 C")
    # On a Pi without Picamera2: the apt package and the venv flag.
    pic = checks["camera-picamera2"]
    assert (
        pic.status == WARN
        and "apt install python3-picamera2" in pic.fix
        and "--system-site-packages" in pic.fix
    )


def test_picamera2_installed_for_the_system_but_not_this_venv(tmp_path):
    options = fake_pi(tmp_path)
    (options.system_site / "picamera2").mkdir(parents=True)
    pic = by_name(run_doctor(options, import_picamera2=no_picamera2))["camera-picamera2"]
    assert pic.status == WARN and "--system-site-packages" in pic.fix and "apt install" not in pic.fix
    ok = by_name(run_doctor(options, import_picamera2=lambda: None))["camera-picamera2"]
    assert ok.status == OK


def test_heat_throttling_and_memory(tmp_path):
    checks = run_doctor(
        fake_pi(tmp_path, temps=(45000, 83500), throttled="0x50005", videos=(), mem_kb=50_000),
        import_picamera2=no_picamera2,
    )
    c = by_name(checks)
    assert c["cpu-temperature"].status == FAIL and "83.5 C (thermal_zone1)" in c["cpu-temperature"].detail
    assert c["throttling"].status == FAIL and "under-voltage now" in c["throttling"].detail
    assert "power supply" in c["throttling"].fix
    assert c["camera-v4l2"].status == WARN and c["camera-v4l2"].fix
    assert c["memory"].status == FAIL
    assert exit_status(checks) == 2


def test_throttling_since_boot_warns(tmp_path):
    c = by_name(
        run_doctor(fake_pi(tmp_path, throttled="0x50000", temps=(72000,)), import_picamera2=no_picamera2)
    )
    assert c["throttling"].status == WARN and "under-voltage has occurred" in c["throttling"].detail
    assert c["cpu-temperature"].status == WARN
    assert decode_throttled(0x0) == [] and decode_throttled(0x8) == ["soft temperature limit now"]


def test_not_a_pi_and_nothing_exposed(tmp_path):
    options = fake_pi(tmp_path, temps=(), pi=False)
    options = DoctorOptions(
        None,
        options.sys_root,
        options.dev_root,
        options.proc_root,
        str(tmp_path / "none"),
        options.system_site,
    )
    c = by_name(run_doctor(options, import_picamera2=no_picamera2))
    assert c["camera-picamera2"].status == OK and "not a Raspberry Pi" in c["camera-picamera2"].detail
    assert c["cpu-temperature"].status == OK and "not exposed" in c["cpu-temperature"].detail
    assert c["throttling"].status == OK and "not checked" in c["throttling"].detail


def test_corrupt_and_missing_model_files(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    manifest = json.loads((MODELS_DIR / "manifest.json").read_text())
    shutil.copy(MODELS_DIR / "manifest.json", models)
    default = next(e["file"] for e in manifest["models"] if e["name"] == manifest["default"])
    shutil.copy(MODELS_DIR / default, models)  # a Pi user copies only the default: fine
    base = fake_pi(tmp_path / "pi")
    options = DoctorOptions(
        models, base.sys_root, base.dev_root, base.proc_root, base.vcgencmd, base.system_site
    )
    c = by_name(run_doctor(options, import_picamera2=no_picamera2))
    assert c["model-files"].status == OK and "not copied" in c["model-files"].detail
    assert c["interpreter"].status == OK

    (models / default).write_bytes((models / default).read_bytes()[:-10])  # a truncated copy
    checks = run_doctor(options, import_picamera2=no_picamera2)
    c = by_name(checks)
    assert c["model-files"].status == FAIL and default in c["model-files"].detail and c["model-files"].fix
    assert exit_status(checks) == 2


def test_real_run_on_this_machine(tmp_path):
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-m", "edge_runtime", "doctor", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    checks = [json.loads(line) for line in out.stdout.splitlines()]
    assert {c["status"] for c in checks} <= {OK, WARN, FAIL}
    statuses = {c["name"]: c["status"] for c in checks}
    for name in ("python", "numpy", "opencv", "litert", "model-files", "interpreter", "memory", "disk"):
        assert statuses[name] == OK, checks
    assert all(c["fix"] for c in checks if c["status"] != OK)
    assert out.returncode == {OK: 0, WARN: 1, FAIL: 2}[max(statuses.values(), key=[OK, WARN, FAIL].index)]


@pytest.mark.parametrize("argv", [["doctor", "--help"], ["tune", "--help"]])
def test_subcommands_have_their_own_help(argv):
    out = subprocess.run(
        [sys.executable, "-m", "edge_runtime", *argv], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0 and f"digits-edge {argv[0]}" in out.stdout
