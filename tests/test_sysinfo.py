"""benchmarks/sysinfo.py: the report says which CPU it ran on, not only its marketing name."""

from __future__ import annotations

from benchmarks.sections import cpu_details
from benchmarks.sysinfo import cpu_id

ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu sse2 avx fma avx2 sha_ni
processor\t: 1
cpu family\t: 25
model\t\t: 1
flags\t\t: fpu sse2 avx fma avx2 sha_ni
"""

ZEN4 = ZEN3.replace("model\t\t: 1", "model\t\t: 17").replace("avx2", "avx2 avx512f avx512_vnni")

PI4 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU part\t: 0xd08
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def test_two_epycs_with_the_same_name_are_told_apart():
    zen3, zen4 = cpu_id(ZEN3), cpu_id(ZEN4)
    assert zen3 == {"cpu family": "25", "model": "1", "stepping": "1", "vector": ["avx2", "fma"]}
    assert zen4["model"] == "17" and zen4["vector"][:2] == ["avx512f", "avx512_vnni"]
    assert cpu_details(zen3) == ", cpu family 25, model 1, stepping 1; avx2 fma"
    assert cpu_details(zen3) != cpu_details(zen4)


def test_a_pi_reports_its_core_and_neon():
    pi = cpu_id(PI4)
    assert pi["cpu implementer"] == "0x41" and pi["cpu part"] == "0xd08"  # Arm Cortex-A72
    assert pi["vector"] == ["asimd"]


def test_older_reports_without_the_record_render_as_before():
    assert cpu_details(None) == "" and cpu_details({}) == ""
