"""Check that this device can run the edge program: one line per check, OK / WARN / FAIL, with the fix.

    python -m edge_runtime doctor           # or: digits-edge doctor [--json]

Checks Python, numpy, OpenCV and LiteRT, and that they work together (the default model reads
the digits 0-9 printed by OpenCV); the model files against the manifest's sha256; this device's
tuned default; camera back-ends (V4L2 devices, Picamera2); OpenCV's GUI; CPU temperature and
throttling where the OS exposes them; free memory and disk. Exit status: 0 all OK, 1 a WARN,
2 a FAIL. The system roots (/sys, /dev, /proc, vcgencmd) are options so tests can fake them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

OK, WARN, FAIL = "OK", "WARN", "FAIL"
EXIT_STATUS = {OK: 0, WARN: 1, FAIL: 2}
TEMP_WARN_C, TEMP_FAIL_C = 70.0, 80.0
"""A Pi 4/5 starts throttling its clock at 80-85 C: warn well before, fail at the threshold."""
MEM_WARN_MB, MEM_FAIL_MB = 300, 100
"""The runtime with one model takes ~100 MB (numpy, OpenCV, LiteRT)."""
DISK_WARN_MB, DISK_FAIL_MB = 500, 50
"""--save writes a JPEG per frame (~50 KB each)."""
# vcgencmd get_throttled bits (Raspberry Pi firmware documentation): now (0-3), since boot (16-19).
THROTTLE_BITS = {
    0: "under-voltage now",
    1: "ARM frequency capped now",
    2: "throttled now",
    3: "soft temperature limit now",
    16: "under-voltage has occurred",
    17: "ARM frequency capping has occurred",
    18: "throttling has occurred",
    19: "soft temperature limit has occurred",
}


@dataclass(frozen=True)
class DoctorOptions:
    models_dir: Path | None = None
    """Folder with manifest.json; None: where the runtime finds it (the project's models/)."""
    sys_root: Path = Path("/sys")
    """sysfs: class/thermal/thermal_zone*/temp, class/video4linux/video*/name."""
    dev_root: Path = Path("/dev")
    """Device nodes: video* (V4L2)."""
    proc_root: Path = Path("/proc")
    """procfs: meminfo, device-tree/model (a Raspberry Pi says so there)."""
    vcgencmd: str = "vcgencmd"
    """The Raspberry Pi firmware tool (name on PATH or a path); throttling is skipped without it."""
    system_site: Path = Path("/usr/lib/python3/dist-packages")
    """Where apt installs Python packages (python3-picamera2)."""


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    """OK, WARN or FAIL."""
    detail: str
    fix: str = ""
    """What to do about a WARN or FAIL."""


def _versions() -> list[Check]:
    checks = []
    py = sys.version_info
    checks.append(
        Check("python", OK, sys.version.split()[0])
        if py >= (3, 10)
        else Check("python", FAIL, sys.version.split()[0], "install Python 3.10 or newer")
    )
    try:
        import numpy

        checks.append(Check("numpy", OK, numpy.__version__))
    except ImportError as exc:
        checks.append(Check("numpy", FAIL, f"not importable: {exc}", "pip install numpy"))
    try:
        import cv2

        checks.append(Check("opencv", OK, cv2.__version__))
    except ImportError as exc:
        checks.append(Check("opencv", FAIL, f"not importable: {exc}", "pip install opencv-python-headless"))
    try:
        from edge_runtime.classifier import load_interpreter_class

        module = load_interpreter_class().__module__.split(".")[0]
        from importlib.metadata import version

        dist = "ai-edge-litert" if module == "ai_edge_litert" else "tflite-runtime"
        checks.append(Check("litert", OK, f"{dist} {version(dist)}"))
    except Exception as exc:  # noqa: BLE001 - any failure here is the check's answer
        checks.append(
            Check(
                "litert", FAIL, f"no TFLite runtime: {exc}", "pip install --only-binary=:all: ai-edge-litert"
            )
        )
    return checks


def _opencv_gui() -> Check:
    try:
        import cv2
    except ImportError:
        return Check("opencv-gui", FAIL, "OpenCV is not importable", "pip install opencv-python-headless")
    build = cv2.getBuildInformation()
    gui = next(
        (ln.split(":", 1)[1].strip() for ln in build.splitlines() if ln.strip().startswith("GUI:")), ""
    )
    if gui and gui.upper() != "NONE":
        return Check("opencv-gui", OK, f"GUI build ({gui}): --show opens a window")
    return Check(
        "opencv-gui",
        OK,
        "headless build: --show opens no window; use --save DIR (or pip install opencv-python)",
    )


def _models(options: DoctorOptions) -> tuple[list[Check], Path | None]:
    """Manifest, file hashes, the model the runtime would use, and a real interpreter call on it
    (one check after another, each a few lines with its fix: kept whole, past 60 lines)."""
    from edge_runtime.classifier import DigitClassifier, ModelError
    from edge_runtime.manifest import models_folder, read_manifest, sha256_file
    from edge_runtime.tune import device_default, sample_digits

    fix_export = "copy models/ again from the release, or run make export"
    try:
        folder = Path(options.models_dir) if options.models_dir else models_folder()
        manifest = read_manifest(folder).to_json()
    except (ModelError, OSError) as exc:
        return [Check("manifest", FAIL, str(exc), fix_export)], None
    checks = []
    entries = [e for e in manifest.get("models", []) if isinstance(e, dict) and e.get("file")]
    present, bad, missing = [], [], []
    for e in entries:
        path = folder / e["file"]
        if not path.is_file():
            missing.append(e["file"])
        elif e.get("sha256") and sha256_file(path) != e["sha256"]:
            bad.append(e["file"])
        else:
            present.append(e["file"])
    default = next((e for e in entries if e.get("name") == manifest.get("default")), None)
    if bad:
        checks.append(
            Check("model-files", FAIL, f"sha256 differs from the manifest: {', '.join(bad)}", fix_export)
        )
    elif default is None or default["file"] in missing:
        checks.append(
            Check(
                "model-files",
                FAIL,
                f"the default model {manifest.get('default')!r} is not in {folder}",
                "copy it beside manifest.json, or pass --model",
            )
        )
    else:
        note = f" ({len(missing)} not copied: fine, they are optional)" if missing else ""
        checks.append(
            Check("model-files", OK, f"{len(present)} of {len(entries)} match the manifest's sha256{note}")
        )
    warnings: list[str] = []
    tuned = device_default(folder, warn=warnings.append)
    if warnings:
        checks.append(Check("tuned-default", WARN, warnings[0], "run digits-edge tune"))
    elif tuned:
        checks.append(Check("tuned-default", OK, f"{tuned[0].name}: {tuned[1]}"))
    else:
        checks.append(
            Check(
                "tuned-default",
                OK,
                "none: the manifest's default is used (digits-edge tune picks this device's fastest)",
            )
        )
    model = (
        tuned[0]
        if tuned
        else (folder / default["file"] if default and default["file"] not in missing else None)
    )
    if model is None or model.name in bad:
        return checks, folder
    try:
        read = DigitClassifier(model).logits(sample_digits()).argmax(axis=1)
    except (ModelError, ImportError, ValueError, RuntimeError) as exc:
        checks.append(
            Check(
                "interpreter",
                FAIL,
                f"{model.name}: {exc}",
                "pip install --only-binary=:all: --upgrade ai-edge-litert numpy",
            )
        )
        return checks, folder
    right = int((read == list(range(10))).sum())
    status = OK if right >= 9 else WARN
    checks.append(
        Check(
            "interpreter",
            status,
            f"{model.name} read {right} of the 10 digits OpenCV printed ({''.join(map(str, read))})",
            ""
            if status == OK
            else "numpy, OpenCV and LiteRT disagree: reinstall them (pip install --force-reinstall ...)",
        )
    )
    return checks, folder


def _is_pi(options: DoctorOptions) -> bool:
    try:
        return "Raspberry Pi" in (options.proc_root / "device-tree" / "model").read_text(errors="replace")
    except OSError:
        return False


def _cameras(options: DoctorOptions, import_picamera2: Callable[[], object]) -> list[Check]:
    devices = sorted(options.dev_root.glob("video*"), key=lambda p: (len(p.name), p.name))
    if devices:
        names = []
        for dev in devices:
            try:
                label = (options.sys_root / "class" / "video4linux" / dev.name / "name").read_text().strip()
            except OSError:
                label = "?"
            names.append(f"{dev} ({label})")
        v4l2 = Check("camera-v4l2", OK, f"{len(devices)} device(s): {', '.join(names)}")
    else:
        v4l2 = Check(
            "camera-v4l2",
            WARN,
            f"no V4L2 device ({options.dev_root}/video*): --source 0 will find no webcam",
            "plug in a USB webcam (ls /dev/video*), or use a video file; the Pi camera module is --source picamera",
        )
    try:
        import_picamera2()
        return [v4l2, Check("camera-picamera2", OK, "Picamera2 imports: --source picamera works")]
    except Exception as exc:  # noqa: BLE001 - an ImportError, or libcamera failing to load
        reason = f"Picamera2 does not import here ({type(exc).__name__}: {exc})"
    if (options.system_site / "picamera2").is_dir():
        fix = (
            f"it is installed for the system Python ({options.system_site}) but this venv cannot see it: "
            "python3 -m venv --system-site-packages .venv, then reinstall"
        )
        return [v4l2, Check("camera-picamera2", WARN, reason, fix)]
    if _is_pi(options):
        fix = "sudo apt install python3-picamera2, and make the venv with python3 -m venv --system-site-packages"
        return [v4l2, Check("camera-picamera2", WARN, reason, fix)]
    return [
        v4l2,
        Check("camera-picamera2", OK, "not a Raspberry Pi: Picamera2 not needed (webcams use V4L2)"),
    ]


def _import_picamera2() -> object:
    import picamera2

    return picamera2


def _thermal(options: DoctorOptions) -> Check:
    temps = []
    for zone in sorted((options.sys_root / "class" / "thermal").glob("thermal_zone*")):
        try:
            temps.append((int((zone / "temp").read_text().strip()) / 1000.0, zone.name))
        except (OSError, ValueError):
            continue
    if not temps:
        return Check("cpu-temperature", OK, "not exposed by this OS (no thermal_zone*/temp): not checked")
    celsius, zone = max(temps)
    detail = f"{celsius:.1f} C ({zone})"
    if celsius >= TEMP_FAIL_C:
        return Check(
            "cpu-temperature",
            FAIL,
            detail + ": the CPU throttles at this heat",
            "add a heatsink or fan; let it cool",
        )
    if celsius >= TEMP_WARN_C:
        return Check(
            "cpu-temperature", WARN, detail + ": close to the throttling point", "add a heatsink or fan"
        )
    return Check("cpu-temperature", OK, detail)


def decode_throttled(value: int) -> list[str]:
    return [text for bit, text in THROTTLE_BITS.items() if value >> bit & 1]


def _throttling(options: DoctorOptions) -> Check:
    exe = shutil.which(options.vcgencmd)
    if exe is None:
        return Check("throttling", OK, f"{options.vcgencmd} not found (not Raspberry Pi OS): not checked")
    try:
        out = subprocess.run(
            [exe, "get_throttled"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        value = int(out.split("=", 1)[1], 16)
    except (OSError, subprocess.SubprocessError, IndexError, ValueError) as exc:
        return Check(
            "throttling",
            WARN,
            f"vcgencmd get_throttled gave no reading ({exc})",
            "sudo usermod -aG video $USER",
        )
    flags = decode_throttled(value)
    if not flags:
        return Check("throttling", OK, f"none (get_throttled {value:#x})")
    detail = f"{value:#x}: {', '.join(flags)}"
    if value & 0x1:
        return Check(
            "throttling",
            FAIL,
            detail,
            "use the official power supply (5 V 3 A Pi 4, 5 V 5 A Pi 5) and a short cable",
        )
    if value & 0xF:
        return Check(
            "throttling",
            WARN,
            detail,
            "cool the CPU (heatsink, fan) before timing: digits-edge tune would measure a throttled CPU",
        )
    return Check("throttling", WARN, detail, "it happened since boot: check the power supply and cooling")


def _memory(options: DoctorOptions) -> Check:
    try:
        text = (options.proc_root / "meminfo").read_text()
        kb = int(next(ln.split()[1] for ln in text.splitlines() if ln.startswith("MemAvailable:")))
    except (OSError, StopIteration, ValueError, IndexError):
        return Check("memory", OK, "not exposed by this OS (no MemAvailable in meminfo): not checked")
    mb = kb / 1024
    if mb < MEM_FAIL_MB:
        return Check(
            "memory", FAIL, f"{mb:.0f} MB available", "close other programs (the runtime needs ~100 MB)"
        )
    if mb < MEM_WARN_MB:
        return Check("memory", WARN, f"{mb:.0f} MB available", "close other programs")
    return Check("memory", OK, f"{mb:.0f} MB available")


def _disk(folder: Path) -> Check:
    try:
        mb = shutil.disk_usage(folder).free / 2**20
    except OSError as exc:
        return Check("disk", WARN, f"cannot read free space of {folder}: {exc}")
    if mb < DISK_FAIL_MB:
        return Check("disk", FAIL, f"{mb:.0f} MB free in {folder}", "free some disk space")
    if mb < DISK_WARN_MB:
        return Check(
            "disk", WARN, f"{mb:.0f} MB free in {folder}: --save fills it fast", "free some disk space"
        )
    return Check("disk", OK, f"{mb / 1024:.1f} GB free in {folder}")


def run_doctor(
    options: DoctorOptions, import_picamera2: Callable[[], object] = _import_picamera2
) -> list[Check]:
    checks = _versions()
    checks.append(_opencv_gui())
    model_checks, folder = _models(options)
    checks += model_checks
    checks += _cameras(options, import_picamera2)
    checks += [_thermal(options), _throttling(options), _memory(options), _disk(folder or Path.cwd())]
    return checks


def exit_status(checks: list[Check]) -> int:
    return max((EXIT_STATUS[c.status] for c in checks), default=0)


def format_check(c: Check) -> str:
    fix = f"  -> {c.fix}" if c.fix else ""
    return f"{c.status:<4}  {c.name:<17} {c.detail}{fix}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="digits-edge doctor", description=__doc__.splitlines()[0])
    p.add_argument(
        "--models-dir", type=Path, default=None, help="folder with manifest.json (default: models/)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per check (default: readable lines)")
    p.add_argument("--sys-root", type=Path, default=Path("/sys"), help="sysfs root (default: /sys)")
    p.add_argument("--dev-root", type=Path, default=Path("/dev"), help="device root (default: /dev)")
    p.add_argument("--proc-root", type=Path, default=Path("/proc"), help="procfs root (default: /proc)")
    p.add_argument("--vcgencmd", default="vcgencmd", help="the vcgencmd program (default: vcgencmd on PATH)")
    args = p.parse_args(argv)
    options = DoctorOptions(args.models_dir, args.sys_root, args.dev_root, args.proc_root, args.vcgencmd)
    checks = run_doctor(options)
    for c in checks:
        print(json.dumps(asdict(c)) if args.json else format_check(c))
    status = exit_status(checks)
    if not args.json:
        worst = [k for k, v in EXIT_STATUS.items() if v == status][0]
        print(f"doctor: {len(checks)} checks, worst {worst} (exit {status})")
    return status


if __name__ == "__main__":
    sys.exit(main())
