"""benchmarks/finder_profile.py's summary: each frame's figure comes from its fastest round."""

from __future__ import annotations

from benchmarks.finder_profile import STAGES, summarise


def _run(frames: list[dict[str, list[float]]]) -> dict:
    """A worker's result for one set, frames given as {stage: reads}."""
    reads = {s: [f[s] for f in frames] for s in STAGES}
    return {
        "code": "x",
        "sets": {
            "plain": {
                "frames": len(frames),
                "reads_ms": reads,
                "digits_correct": 9,
                "digits_total": 10,
                "images_exact": 0,
            }
        },
    }


def _frame(find: float, other: float) -> dict[str, list[float]]:
    return {
        "find": [find, find + 2],
        "normalize": [other, other],
        "classify": [other, other],
        "total": [find + 2 * other, find + 2 + 2 * other],
    }


def test_each_frame_takes_all_its_stages_from_its_fastest_round():
    # Frame 0 is fastest in round 2, frame 1 in round 1; a slow process (round 1's frame 0)
    # must not pull the figure up, and the stages must come from one round (they add up).
    round1 = _run([_frame(find=10.0, other=1.0), _frame(find=2.0, other=0.5)])
    round2 = _run([_frame(find=4.0, other=2.0), _frame(find=3.0, other=0.5)])
    out = summarise([round1, round2])["sets"]["plain"]
    ms = out["stage_ms"]
    # Frame 0: round 2, median reads find 5, normalize 2, classify 2, total 9 (round 1: 15).
    # Frame 1: round 1, find 3, normalize 0.5, classify 0.5, total 4 (round 2: 5).
    assert ms["total"]["max"] == 9.0 and ms["find"]["max"] == 5.0 and ms["normalize"]["max"] == 2.0
    assert min(ms["total"]["p50"], ms["total"]["p95"]) >= 4.0
    assert out["digits_correct"] == 9 and "reads_ms" not in out
