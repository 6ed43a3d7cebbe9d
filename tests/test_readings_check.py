"""benchmarks/readings_check.py: the frames it writes, how it compares two codes' readings, and a
small real run against HEAD (the same code: nothing may read differently)."""

from __future__ import annotations

import json

import cv2

from benchmarks import readings_check


def test_compare_counts_digits_right_and_lists_the_frames_read_differently():
    frames = [
        {"file": "a.png", "set": "plain", "label": "123"},
        {"file": "b.png", "set": "plain", "label": "45"},
        {"file": "c.png", "set": "photos", "label": "67"},
    ]
    old = {"a.png": "123", "b.png": "4", "c.png": "67"}
    new = {"a.png": "128", "b.png": "45", "c.png": "67"}
    result = readings_check.compare(frames, new, old)
    assert result["plain"] == {
        "frames": 2,
        "digits": 5,
        "new": 4,
        "old": 4,
        "changed": [
            {"file": "a.png", "label": "123", "old": "123", "new": "128"},
            {"file": "b.png", "label": "45", "old": "4", "new": "45"},
        ],
    }
    assert result["photos"]["changed"] == [] and result["photos"]["new"] == 2
    table = readings_check.render(result, "HEAD")
    assert (
        "| plain | 2 | 4/5 | 4/5 | 2 |" in table and "a.png: label 123, HEAD read '123', now '128'" in table
    )


def test_a_small_run_against_head_reads_every_frame_the_same(mnist_test, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DIGITS_PHOTOS_DIR", raising=False)
    out = tmp_path / "readings.json"
    rc = readings_check.main(["--baseline", "HEAD", "--synthetic", "4", "--out", str(out)])
    data = json.loads(out.read_text())
    assert rc == 0, capsys.readouterr().out
    assert {k: (s["frames"], len(s["changed"])) for k, s in data["sets"].items()} == {
        "plain": (4, 0),
        "rendered": (2, 0),
        "large": (1, 0),
    }
    assert data["sets"]["plain"]["digits"] == 40 and data["sets"]["plain"]["new"] >= 36
    assert data["baseline"]["ref"] == "HEAD" and len(data["baseline"]["commit"]) == 40
    section = readings_check.render_readings_check(data)
    assert section.startswith("## Readings check") and "| plain | 4 |" in section


def test_two_models_on_the_same_code_list_the_frames_they_read_differently(
    mnist_test, tmp_path, monkeypatch, capsys
):
    """--baseline-model: the baseline side reads with the shipped LSTM, this side with the RNN
    (97% on MNIST): the seeded frames hold digits the two read differently."""
    from benchmarks.finder_profile import _default_model

    monkeypatch.delenv("DIGITS_PHOTOS_DIR", raising=False)
    lstm = _default_model()
    rnn = next(lstm.parent.glob("rnn_unrolled_dynamic-*.tflite"))
    out = tmp_path / "readings.json"
    argv = ["--synthetic", "4", "--model", str(rnn), "--baseline-model", str(lstm), "--out", str(out)]
    rc = readings_check.main(argv)
    data = json.loads(out.read_text())
    assert (data["model"], data["baseline_model"]) == (rnn.name, lstm.name)
    changed = [c for s in data["sets"].values() for c in s["changed"]]
    assert changed and rc == 1  # the RNN reads fewer digits right
    assert f"HEAD with {lstm.name} read" in capsys.readouterr().out


def test_frames_are_lossless_files_with_their_labels(mnist_test, tmp_path):
    frames = readings_check.write_frames(tmp_path, None, synthetic=2)
    assert [f["set"] for f in frames] == ["plain", "plain", "rendered"]
    for f in frames:
        img = cv2.imread(str(tmp_path / f["file"]), cv2.IMREAD_COLOR)
        assert img is not None and f["file"].endswith(".png") and len(f["label"]) == 10
    assert json.loads((tmp_path / "frames.json").read_text()) == frames
