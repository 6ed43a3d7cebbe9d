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
        "classify_warm": [other / 2, other / 2],
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


def test_a_typical_process_is_each_frames_median_over_the_rounds_beside_the_fastest():
    # Three rounds (processes), one of them slow throughout: the fastest-round figures leave it
    # out, the typical ones take each frame's middle round, and the report shows both codes'.
    from benchmarks.finder_profile import render_finder_profile

    fast = _run([_frame(find=2.0, other=0.5), _frame(find=4.0, other=1.0)])
    slow = _run([_frame(find=6.0, other=1.0), _frame(find=9.0, other=2.0)])
    middle = _run([_frame(find=3.0, other=0.5), _frame(find=5.0, other=1.0)])
    out = summarise([slow, fast, middle])["sets"]["plain"]
    # Median reads: frame 0 totals 4 (fast), 9 (slow), 5 (middle); frame 1: 7, 14, 8.
    assert out["frame_total_ms"] == [4.0, 7.0]
    assert out["frame_typical_ms"] == [5.0, 8.0]
    assert out["typical_ms"]["max"] == 8.0 and out["stage_ms"]["total"]["max"] == 7.0
    old = summarise([slow, slow, fast])  # typical: frame 0 at 9, frame 1 at 14
    data = {"new": summarise([slow, fast, middle]), "old": old, "baseline": {"ref": "v1", "commit": "0" * 40}}
    text = render_finder_profile(data)
    assert "| plain (2) | 11.50 / 13.75 / 14.00 | 6.50 / 7.85 / 8.00 |" in text
    # A report made before the typical figures were kept has no such table.
    for entry in (data["new"]["sets"]["plain"], old["sets"]["plain"]):
        del entry["typical_ms"]
    assert "typical process" not in render_finder_profile(data)


def test_a_single_pass_is_each_rounds_first_reads_the_median_over_the_rounds():
    # Three rounds of a 3-frame set, each frame's first read given apart from its timed reads:
    # the single pass takes the first reads only, p50 / p95 / max per round, then the median of
    # each over the rounds; the table shows both codes and this code's p95 range over rounds.
    from benchmarks.finder_profile import render_finder_profile

    frames = [_frame(find=2.0, other=0.5)] * 3
    firsts = ([2.0, 3.0, 9.0], [1.0, 2.0, 4.0], [3.0, 5.0, 6.0])
    runs = []
    for first in firsts:
        run = _run(frames)
        run["sets"]["plain"]["first_read_ms"] = first
        runs.append(run)
    out = summarise(runs)["sets"]["plain"]
    # Per round: p50 3 / 2 / 5, max 9 / 4 / 6, p95 8.4 / 3.8 / 5.9 (numpy's linear percentile).
    assert out["single_pass_ms"]["p50"] == 3.0 and out["single_pass_ms"]["max"] == 6.0
    assert abs(out["single_pass_ms"]["p95"] - 5.9) < 1e-9
    assert [round(r["p95"], 6) for r in out["single_pass_rounds"]] == [8.4, 3.8, 5.9]
    assert out["stage_ms"]["total"]["max"] == 4.0 and "first_read_ms" not in out  # the timed reads as before
    data = {"new": summarise(runs), "old": summarise(runs[:1]), "baseline": {"ref": "v1", "commit": "0" * 40}}
    assert "| plain (3) | 3.00 / 8.40 / 9.00 | 3.00 / 5.90 / 6.00 | 3.80 - 8.40 |" in render_finder_profile(
        data
    )
    for run in runs:  # workers from before the first reads were kept: no such table
        del run["sets"]["plain"]["first_read_ms"]
    assert "single pass" not in render_finder_profile({"new": summarise(runs)})


def test_a_real_worker_run_times_the_warm_classification_and_reads_the_negative(
    mnist_test, shipped_model, tmp_path
):
    # One rendered frame and its negative through the real reader and model: every stage is
    # timed for every read, the warm re-classification only when there are digits, and the
    # negative reads its digits too (the profile's ``negatives`` set is such frames).
    import json

    import numpy as np

    from benchmarks import finder_profile as fp

    x, y = mnist_test
    rng = np.random.default_rng(3)
    image, text = fp.camera_frame(x[:10], y[:10], rng, fp.FRAME)
    blank = np.full_like(image, 200)
    sets = {
        "rendered": [fp._save(tmp_path, "r.png", image, text), fp._save(tmp_path, "blank.png", blank, "")],
        "negatives": [fp._save(tmp_path, "n.png", 255 - image, text)],
    }
    (tmp_path / "sets.json").write_text(json.dumps(sets))
    out = fp.profile_folder(tmp_path, shipped_model, reps=2)
    rendered, negatives = out["sets"]["rendered"], out["sets"]["negatives"]
    for entry in (rendered, negatives):
        assert set(entry["reads_ms"]) == set(fp.STAGES)
        assert all(len(reads) == 2 for stage in entry["reads_ms"].values() for reads in stage)
    warm = rendered["reads_ms"]["classify_warm"]
    assert min(warm[0]) > 0 and warm[1] == [0.0, 0.0]  # the blank frame has nothing to classify
    # The warm-up's first reads are kept, one a frame: the single pass.
    assert len(rendered["first_read_ms"]) == 2 and len(negatives["first_read_ms"]) == 1
    assert rendered["first_read_ms"][0] > 0
    assert negatives["digits_correct"] >= 9 and rendered["digits_correct"] >= 9


def test_the_report_table_leaves_out_a_stage_an_older_report_did_not_measure():
    from benchmarks.finder_profile import render_finder_profile

    one = _run([_frame(find=2.0, other=0.5)])
    new = summarise([one])
    old = summarise([one])
    for stage_ms in (s["stage_ms"] for s in old["sets"].values()):
        del stage_ms["classify_warm"]
    data = {"new": new, "old": old, "baseline": {"ref": "v1", "commit": "0" * 40}}
    table = render_finder_profile(data)
    assert "| plain (1) | find |" in table and "| classify again, warm |" not in table
    assert "| plain (1) | classify again, warm |" in render_finder_profile({"new": new})


def test_the_report_names_the_frames_above_the_p95_bar_with_their_digits():
    from benchmarks.finder_profile import FINDER_BARS_MS, render_finder_profile

    bar = FINDER_BARS_MS[1]
    run = _run(
        [_frame(find=bar + 3, other=1.0), _frame(find=1.0, other=0.5), _frame(find=bar + 1, other=1.0)]
    )
    entry = run["sets"]["plain"]
    entry["frame_files"] = ["a/hyp_3.bmp.png", "b.png", "c.png"]
    entry["frame_digits"] = [34, 10, 12]
    text = render_finder_profile({"new": summarise([run])})
    # Totals (median reads): hyp_3 bar + 6, c bar + 4; b is under the bar and not named.
    line = next(ln for ln in text.splitlines() if ln.startswith("Frames above"))
    assert f"plain: 2 of 3: hyp_3.bmp (34 digits) {bar + 6:.1f}, c (12 digits) {bar + 4:.1f}" in line
    assert "b (" not in line
    # A report made before the frames were kept has no such line.
    del run["sets"]["plain"]["frame_files"]
    old = summarise([run])
    del old["sets"]["plain"]["frame_total_ms"]
    assert "Frames above" not in render_finder_profile({"new": old})


def test_timed_reads_pay_nothing_a_process_pays_once(mnist_test, shipped_model, tmp_path, monkeypatch):
    # A bare classifier makes an interpreter for each new batch size on its first use (~5 ms); the
    # profile's reader makes them all first, and every frame is read once before the timed reads,
    # so no read makes one: a blank frame first, then a frame of 10 digits.
    import json

    import numpy as np

    import edge_runtime.pipeline as pipeline
    from benchmarks import finder_profile as fp

    x, y = mnist_test
    image, text = fp.camera_frame(x[:10], y[:10], np.random.default_rng(3), fp.FRAME)
    blank = np.full_like(image, 200)
    sets = {
        "rendered": [fp._save(tmp_path, "blank.png", blank, ""), fp._save(tmp_path, "r.png", image, text)]
    }
    (tmp_path / "sets.json").write_text(json.dumps(sets))
    made = []  # interpreters the classifier holds after each read, in order
    read = pipeline.DigitReader.read

    def counting_read(self, img):
        out = read(self, img)
        made.append(sum(v is not None for v in self.classifier._batched.values()))
        return out

    monkeypatch.setattr(pipeline.DigitReader, "read", counting_read)
    fp.profile_folder(tmp_path, shipped_model, reps=2)
    pages = len(pipeline.warm_up_pages())  # the reader's own warm-up, when it is made
    assert len(made) == pages + 2 + 2 * 2  # then the set's first reads, then two timed reads of each frame
    assert made == [4] * len(made)  # made with the reader, never in a read
