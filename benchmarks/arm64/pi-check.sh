#!/usr/bin/env bash
# make pi-check: the edge program and every shipped model on an emulated Raspberry Pi CPU.
#
#   sudo make pi-check                  # or: sudo benchmarks/arm64/pi-check.sh
#   PI_CHECK_SKIP=1 make pi-check       # where it cannot run: say why, exit 0 instead of 1
#
# Builds (once, cached outside the clone in $PI_CHECK_CACHE) a 64-bit Debian Bookworm root
# file system, the base of 64-bit Raspberry Pi OS, with Python 3.11; installs the edge
# runtime in it the way the README tells a Pi user (numpy, opencv-python-headless,
# ai-edge-litert from binary wheels, nothing compiled); copies this clone in; then runs,
# under qemu-user emulating a Pi 4's Cortex-A72:
#   1. the TensorFlow-free tests (ARM_TESTS below),
#   2. benchmarks.arm64.compare on both sides (x86 natively, arm64 emulated): every shipped
#      model on a fixed slice of MNIST test digits, and digits-edge image on the seed image
#      and the dev photos,
# and compares the two (benchmarks/arm64/compare.py): the table goes to
# benchmarks/reports/arm64.{md,json}; any disagreement fails the run.
# Emulated timings say nothing about a real Pi's speed, so none are reported.
#
# Needs: root, binfmt_misc, and Debian's qemu-user-static, binfmt-support and debootstrap.
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO=$(pwd)
CACHE=${PI_CHECK_CACHE:-/var/cache/lstm-edge-digits/pi-arm64}
QEMU_CPU=${PI_CHECK_CPU:-cortex-a72} # a Pi 4; cortex-a76 for a Pi 5. qemu's default CPU has ARMv9 features.
DIGITS=${PI_CHECK_DIGITS:-1000}      # MNIST test digits per model
PY=${PY:-.venv/bin/python}
ROOTFS=$CACHE/rootfs
# The tests that need no TensorFlow: they import only edge_runtime, benchmarks' TensorFlow-free
# modules and the test data. The others import training/ or export/ (TensorFlow) at the top.
ARM_TESTS=(tests/test_imageio.py tests/test_preprocess.py tests/test_segment.py tests/test_pipeline.py
  tests/test_camera.py tests/test_cli.py tests/test_photos.py tests/test_doctor.py tests/test_tune.py
  tests/test_arm64_compare.py tests/test_classifier_batches.py)
# Left out under emulation (measured there: 450 s for all, ~300 s without these):
ARM_DESELECT=(
  tests/test_cli.py::test_seed_image_reads_9_without_tensorflow      # a speed bar; the seed is read below
  tests/test_camera.py::test_cli_stops_on_sigterm                    # 95 s emulated; signals are the host kernel's
)
# Recorded in the root file system: change it and the root file system is rebuilt.
ROOTFS_RECIPE="bookworm arm64 minbase python3 python3-venv v2"
T0=$(date +%s)

say() { echo "pi-check [$(($(date +%s) - T0))s]: $*" >&2; }
cannot() {
  echo "pi-check: cannot run on this machine: $*" >&2
  echo "pi-check: to check on a real Raspberry Pi instead, see the README (Raspberry Pi section)." >&2
  if [[ ${PI_CHECK_SKIP:-0} == 1 ]]; then
    echo "pi-check: SKIPPED (PI_CHECK_SKIP=1): nothing was checked" >&2
    exit 0
  fi
  exit 1
}

# ---- What the machine must offer -------------------------------------------------------------
[[ $(uname -m) == x86_64 ]] || cannot "it emulates arm64 on an x86-64 host, and this is $(uname -m); on an arm64 machine run the comparison natively (README)"
[[ $EUID -eq 0 ]] || cannot "it needs root (debootstrap, chroot and mounts); run: sudo make pi-check"
for tool in debootstrap qemu-aarch64-static update-binfmts chroot mount; do
  command -v "$tool" >/dev/null || cannot "$tool is missing; run: apt-get install qemu-user-static binfmt-support debootstrap"
done
[[ -x $PY ]] || cannot "$PY is missing; run make setup first (the x86 side runs there)"
for var in MNIST_PATH DIGITS_SEED_IMAGE DIGITS_PHOTOS_DIR; do
  [[ -e ${!var:-} ]] || cannot "\$$var is not set or does not exist (${!var:-unset})"
done
# Where no init system mounted binfmt_misc, mount it; a container without the privilege can't.
if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
    cannot "binfmt_misc is not mounted and cannot be (mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc failed: an unprivileged container?)"
fi
update-binfmts --enable qemu-aarch64 2>/dev/null || true
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null ||
  cannot "the qemu-aarch64 binfmt handler is not enabled (update-binfmts --enable qemu-aarch64 failed)"
# The F flag makes the kernel open qemu on the host, so the root file system needs no copy of it.
grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 ||
  cannot "the qemu-aarch64 binfmt handler lacks the F (fix-binary) flag; use Debian's qemu-user-static"

# ---- The root file system (cached) -----------------------------------------------------------
mirror() { # the host's Debian mirror (deb822 or one-line sources), else Debian's CDN
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -m1 '/debian/\?$' || true)
  [[ -n $uri ]] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -m1 '/debian/\?$' || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
if [[ $(cat "$ROOTFS/.pi-check-recipe" 2>/dev/null) != "$ROOTFS_RECIPE" ]]; then
  say "building the arm64 Bookworm root file system in $ROOTFS (about 10-20 minutes, once)"
  mkdir -p "$CACHE"
  rm -rf "$CACHE/rootfs.partial" "$ROOTFS"
  # (python3-venv's pip wheel pulls in ca-certificates, whose set-up alone takes minutes emulated.)
  debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv \
    bookworm "$CACHE/rootfs.partial" "$(mirror)" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE/debootstrap.log" >&2; echo "pi-check: debootstrap failed (log: $CACHE/debootstrap.log)" >&2; exit 1; }
  echo "$ROOTFS_RECIPE" >"$CACHE/rootfs.partial/.pi-check-recipe"
  mv "$CACHE/rootfs.partial" "$ROOTFS"
else
  say "reusing the arm64 root file system in $ROOTFS"
fi

# ---- Mounts for the run (undone on exit) -----------------------------------------------------
MOUNTS=()
cleanup() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" || true; done
}
trap cleanup EXIT
mountpoint -q "$ROOTFS/proc" || { mount -t proc proc "$ROOTFS/proc" && MOUNTS+=("$ROOTFS/proc"); }
# qemu 7.2 shows ARM programs the host's x86 /proc/cpuinfo, on which LiteRT's CPU detection
# crashes (a segfault creating the interpreter): show them a Pi 4's instead.
mount --bind benchmarks/arm64/cpuinfo-pi4.txt "$ROOTFS/proc/cpuinfo" && MOUNTS+=("$ROOTFS/proc/cpuinfo")
# LiteRT's CPU detection also reads /sys/devices/system/cpu (it complains, and guesses, without it).
mountpoint -q "$ROOTFS/sys" || { mount -t sysfs sysfs "$ROOTFS/sys" && MOUNTS+=("$ROOTFS/sys"); }
mountpoint -q "$ROOTFS/dev" || { mount --bind /dev "$ROOTFS/dev" && MOUNTS+=("$ROOTFS/dev"); }
# pip inside must reach the index: the host's name servers and certificate authorities.
cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
mkdir -p "$ROOTFS/etc/ssl/certs"
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"

arm() { # run a command in the arm64 root file system, with a clean environment
  chroot "$ROOTFS" /usr/bin/env -i QEMU_CPU="$QEMU_CPU" HOME=/root LANG=C.UTF-8 \
    PATH=/opt/pi-check/venv/bin:/usr/bin:/bin PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    MNIST_PATH=/opt/pi-check/data/mnist.npz DIGITS_SEED_IMAGE=/opt/pi-check/data/$(basename "$DIGITS_SEED_IMAGE") \
    DIGITS_PHOTOS_DIR=/opt/pi-check/data/photos XDG_CONFIG_HOME=/opt/pi-check/config "$@"
}
export QEMU_CPU
arm /usr/bin/uname -m | grep -qx aarch64 || cannot "the root file system does not run as aarch64"

# ---- The edge runtime, installed as the README tells a Pi user (cached) ----------------------
# The same versions as the x86 side, so a difference is the CPU's and not a release's; binary
# wheels only (PyPI has cp311 aarch64 wheels for all three), so nothing compiles.
pins=$($PY - <<'EOF'
from importlib.metadata import version
print(" ".join(f"{p}=={version(p)}" for p in ("numpy", "opencv-python-headless", "ai-edge-litert")))
EOF
)
want="$pins pytest"
if [[ $(cat "$ROOTFS/opt/pi-check/venv/.pi-check-pins" 2>/dev/null) != "$want" ]]; then
  say "installing the edge runtime in the arm64 venv: $want"
  rm -rf "$ROOTFS/opt/pi-check/venv"
  arm /usr/bin/python3 -m venv /opt/pi-check/venv
  # shellcheck disable=SC2086 # $want is a list of requirements
  # --no-compile: byte-compiling every module emulated costs ~1 min; Python compiles what it imports.
  arm python -m pip install --quiet --no-compile --only-binary=:all: $want
  echo "$want" >"$ROOTFS/opt/pi-check/venv/.pi-check-pins"
else
  say "reusing the arm64 venv ($want)"
fi

# ---- This clone and the data, copied in fresh ------------------------------------------------
rm -rf "$ROOTFS/opt/pi-check/src" "$ROOTFS/opt/pi-check/data" "$ROOTFS/opt/pi-check/out" "$ROOTFS/opt/pi-check/config"
mkdir -p "$ROOTFS/opt/pi-check/src" "$ROOTFS/opt/pi-check/data" "$ROOTFS/opt/pi-check/out"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$ROOTFS/opt/pi-check/src"
cp "$MNIST_PATH" "$ROOTFS/opt/pi-check/data/mnist.npz"
cp "$DIGITS_SEED_IMAGE" "$ROOTFS/opt/pi-check/data/"
cp -r "$DIGITS_PHOTOS_DIR" "$ROOTFS/opt/pi-check/data/photos"
arm python -c "import platform, numpy, cv2; from ai_edge_litert.interpreter import Interpreter; \
print('arm64 side:', platform.machine(), platform.python_version(), 'numpy', numpy.__version__, 'opencv', cv2.__version__)"

# ---- Under emulation: the tests, then the comparison's arm64 side ----------------------------
say "arm64: the TensorFlow-free tests (${#ARM_TESTS[@]} files)"
arm /bin/sh -c "cd /opt/pi-check/src && python -m pytest -q -p no:cacheprovider ${ARM_TESTS[*]} ${ARM_DESELECT[*]/#/--deselect }"
say "arm64: every shipped model on $DIGITS MNIST test digits, and digits-edge image on the photos"
arm /bin/sh -c "cd /opt/pi-check/src && python -m benchmarks.arm64.compare run --digits $DIGITS --out /opt/pi-check/out"

# ---- Natively: the x86 side, and the comparison ----------------------------------------------
x86_out=$(mktemp -d)
trap 'cleanup; rm -rf "$x86_out"' EXIT
say "x86: the same run natively"
$PY -m benchmarks.arm64.compare run --digits "$DIGITS" --out "$x86_out"
say "comparing"
$PY -m benchmarks.arm64.compare diff "$x86_out" "$ROOTFS/opt/pi-check/out" --report benchmarks/reports/arm64
say "passed"
