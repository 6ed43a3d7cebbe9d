"""training/styles.py: each writing-style edit does what it says, on real MNIST test digits.

Every check compares the edited digits with the same digits normalised without the edit
(``plain``), over the first few hundred digits of the class, so one odd digit cannot
pass or fail a test by itself.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from training import styles

N = 200  # digits per class checked


def box(img: np.ndarray) -> tuple[int, int, int, int]:
    return cv2.boundingRect((img > 90).astype(np.uint8))


def runs(row: np.ndarray) -> list[tuple[int, int]]:
    return styles._runs(row / 255.0)


def plain(img: np.ndarray) -> np.ndarray:
    """The digit through the same upscale and normalisation as an edit, without the edit."""
    return styles._down(styles._up(img))


def edited(mnist_test, digit: int, edit) -> list[tuple[np.ndarray, np.ndarray]]:
    """(plain, edited) pairs for the first N test digits of a class the edit applies to."""
    x, y = mnist_test
    rng = np.random.default_rng(0)
    pairs = [(plain(x[i]), edit(x[i], rng)) for i in np.flatnonzero(y == digit)[:N]]
    kept = [(p, e) for p, e in pairs if e is not None]
    assert len(kept) >= 0.7 * N, f"{edit.__name__} applies to only {len(kept)} of {N} digits"
    for _, e in kept:
        assert e.shape == (28, 28) and e.dtype == np.uint8 and e.max() > 200
    return kept


def widest_run_mid_height(img: np.ndarray) -> int:
    """Longest horizontal ink run between 40% and 70% of the digit's height (px)."""
    x0, y0, w, h = box(img)
    rows = range(y0 + int(0.4 * h), y0 + int(0.7 * h) + 1)
    return max((b - a for r in rows for a, b in runs(img[r])), default=0)


def test_crossed_seven_has_a_bar_across_the_middle_of_its_stem(mnist_test):
    pairs = edited(mnist_test, 7, styles.crossed_seven)
    bar = np.array([widest_run_mid_height(e) for _, e in pairs])
    before = np.array([widest_run_mid_height(p) for p, _ in pairs])
    assert np.mean(bar >= 7) >= 0.9  # a bar of at least a quarter of the box crosses the stem
    assert np.mean(before >= 7) <= 0.3  # a plain 7's stem there is 2-4 px wide
    gained = [(e.astype(int) - p).clip(0).sum(axis=1) for p, e in pairs]  # ink added, per row
    where = [(int(np.argmax(g)) - box(p)[1]) / box(p)[3] for g, (p, _) in zip(gained, pairs)]
    assert np.mean([0.35 <= w <= 0.75 for w in where]) >= 0.9  # mid-stem, not at the top or foot


def test_flag_and_foot_one_adds_a_flag_at_the_top_left_and_a_foot(mnist_test):
    pairs = edited(mnist_test, 1, styles.flag_and_foot_one)
    for _, e in pairs[:50]:
        x0, y0, w, h = box(e)
        top_ink = runs(e[y0])  # the stem's top
        stem_top = (top_ink[0][0] + top_ink[-1][1]) / 2
        flag_rows = e[y0 : y0 + h // 3]
        left_of_stem = flag_rows[:, : max(0, int(stem_top) - 3)]
        assert left_of_stem.max() > 128, "no flag to the left of the top"
        foot = max(b - a for a, b in runs(e[y0 + h - 2]))
        assert foot >= 0.25 * h, f"foot only {foot} px wide on a {h} px tall 1"
    ratio_after = np.median([box(e)[2] / box(e)[3] for _, e in pairs])
    ratio_before = np.median([box(p)[2] / box(p)[3] for p, _ in pairs])
    assert ratio_after > ratio_before + 0.1


def test_flag_one_has_the_flag_and_no_foot(mnist_test):
    pairs = edited(mnist_test, 1, styles.flag_one)
    feet = []
    for _, e in pairs[:50]:
        x0, y0, w, h = box(e)
        top_ink = runs(e[y0])
        assert e[y0 : y0 + h // 3, : max(0, int((top_ink[0][0] + top_ink[-1][1]) / 2) - 3)].max() > 128
        feet.append(max(b - a for a, b in runs(e[y0 + h - 2])) / h)
    assert np.median(feet) < 0.2  # the base stays a stroke's width


def test_long_tail_nine_keeps_a_small_loop_above_a_long_straight_tail(mnist_test):
    pairs = edited(mnist_test, 9, styles.long_tail_nine)
    straight = 0
    for _, e in pairs:
        x0, y0, w, h = box(e)
        tail = [(r, runs(e[r])) for r in range(y0 + int(0.55 * h), y0 + h - 1)]
        if any(len(rs) != 1 for _, rs in tail):
            continue  # the loop reaches below 55%: not a long tail
        centres = np.array([(r, (rs[0][0] + rs[0][1]) / 2) for r, rs in tail])
        fit = np.polyfit(centres[:, 0], centres[:, 1], 1)
        straight += np.abs(np.polyval(fit, centres[:, 0]) - centres[:, 1]).max() <= 1.5
    assert straight >= 0.9 * len(pairs)  # one straight stroke in the lower 45%

    # The loop is still there (two sides of ink in the top half), if small: at 28x28 some close up.
    def has_loop(img):
        x0, y0, w, h = box(img)
        return any(len(runs(img[r])) == 2 for r in range(y0, y0 + h // 2))

    assert np.mean([has_loop(e) for _, e in pairs]) >= 0.7


def test_open_top_four_opens_the_top(mnist_test):
    x, y = mnist_test
    rng = np.random.default_rng(0)
    closed = [i for i in np.flatnonzero(y == 4) if styles._hole(styles._up(x[i])) is not None]
    assert len(closed) >= 20  # MNIST has a few closed (triangle) 4s
    opened = [styles.open_top_four(x[i], rng) for i in closed]
    done = [e for e in opened if e is not None]
    assert len(done) >= 0.5 * len(closed)  # the rest are left out (None), never returned closed
    assert all(styles._hole(styles._up(e)) is None for e in done)  # no closed triangle left
    # Near the top, only the stem is left: one ink run where a plain 4 often shows two strokes.
    pairs = edited(mnist_test, 4, styles.open_top_four)

    def strokes_near_top(img):
        x0, y0, w, h = box(img)
        return len(runs(img[y0 + max(1, int(0.1 * h))]))

    assert np.mean([strokes_near_top(e) == 1 for _, e in pairs]) >= 0.8
    assert (
        np.mean([strokes_near_top(e) == 1 for _, e in pairs])
        > np.mean([strokes_near_top(p) == 1 for p, _ in pairs]) + 0.2
    )


def test_closed_top_four_closes_an_open_four_with_a_slanted_side(mnist_test):
    x, y = mnist_test
    rng = np.random.default_rng(0)
    fours = np.flatnonzero(y == 4)[:N]
    pairs = [(plain(x[i]), styles.closed_top_four(x[i], rng), x[i]) for i in fours]
    kept = [(p, e) for p, e, _ in pairs if e is not None]
    # It needs an open 4 whose bar crosses the stem and a triangle that stays open at 28x28:
    # about three in ten of MNIST's 4s.
    assert len(kept) >= 0.25 * N
    for _, e in kept:
        assert e.shape == (28, 28) and e.dtype == np.uint8 and e.max() > 200
    # Every one it made is closed, none of those it took was (closed 4s are left out: None).
    assert np.mean([styles._hole(styles._up(e)) is not None for _, e in kept]) >= 0.9
    assert all(styles._hole(styles._up(src)) is None for _, e, src in pairs if e is not None)
    assert all(e is None for _, e, src in pairs if styles._hole(styles._up(src)) is not None)

    def sides(img, at):
        x0, y0, w, h = box(img)
        return len(runs(img[y0 + int(at * h)]))

    # A triangle: one apex at the top, its two sides apart below it; the bar still reaches
    # right of the stem (two strokes end there, so the bar's row is wider than the stem's).
    assert np.mean([sides(e, 0.05) == 1 for _, e in kept]) >= 0.8
    assert np.mean([sides(e, 0.3) == 2 for _, e in kept]) >= 0.7
    assert np.mean([sides(p, 0.05) == 1 for p, _ in kept]) < np.mean([sides(e, 0.05) == 1 for _, e in kept])


def test_elastic_is_seeded_mild_and_moves_pixels(mnist_test):
    x, _ = mnist_test
    a = [styles.elastic(x[i], np.random.default_rng(i)) for i in range(100)]
    b = [styles.elastic(x[i], np.random.default_rng(i)) for i in range(100)]
    np.testing.assert_array_equal(np.stack(a), np.stack(b))
    moved = np.mean([np.abs(a[i].astype(int) - x[i]).mean() > 5 for i in range(100)])
    assert moved > 0.9
    mass = np.array([a[i].sum() / x[i].sum() for i in range(100)])
    assert 0.5 < mass.min() and mass.max() < 1.6 and 0.9 < np.median(mass) < 1.1  # bent, not erased
    np.testing.assert_array_equal(styles.elastic(x[0], np.random.default_rng(0), alpha=0.0), x[0])


def test_thin_pen_thins_the_strokes_and_keeps_the_digit_whole(mnist_test):
    x, y = mnist_test
    rng = np.random.default_rng(0)
    idx = range(300)
    pairs = [(x[i], styles.thin_pen(x[i], rng)) for i in idx]
    kept = [(a, b) for a, b in pairs if b is not None]
    assert len(kept) > 0.6 * len(pairs)  # most MNIST digits are written with a broad pen

    def width(img):  # at 28x28, the normaliser's thickening included, as the classifier sees it
        return styles.stroke_width(img > 0.35 * 255)

    def pieces(img):
        return cv2.connectedComponents((img > 0.35 * 255).astype(np.uint8))[0]

    plain_w = np.median([width(plain(a)) for a, _ in kept])
    thin_w = np.array([width(b) for _, b in kept])
    assert np.median(thin_w) < 0.75 * plain_w and np.percentile(thin_w, 90) < plain_w
    assert np.mean([pieces(b) == pieces(plain(a)) for a, b in kept]) > 0.9  # strokes unbroken


def test_restyle_touches_only_the_share_asked_and_is_reproducible(mnist_test):
    x, y = mnist_test
    x, y = x[:2000], y[:2000]
    a = styles.restyle(x, y, 0.4, seed=1)
    np.testing.assert_array_equal(a, styles.restyle(x, y, 0.4, seed=1))
    assert not np.array_equal(a, styles.restyle(x, y, 0.4, seed=2))
    changed = (a != x).any(axis=(1, 2))
    assert 0.15 < changed.mean() < 0.35  # 0.4 of the 1/4/7/9s (~40% of digits), 0.1 of all elastic
    np.testing.assert_array_equal(styles.restyle(x, y, 0.0), x)


def test_suite_only_styles_are_never_trained_on(mnist_test, monkeypatch):
    x, y = mnist_test
    x, y = x[:2000], y[:2000]

    def never(img, rng):
        raise AssertionError("a suite-only style was drawn for training")

    for name in styles.SUITE_ONLY:
        monkeypatch.setitem(styles.STYLES, name, (styles.STYLES[name][0], never))
    assert (styles.restyle(x, y, 1.0, seed=1) != x).any(axis=(1, 2))[y == 4].mean() > 0.5  # 4s restyled


def test_restyle_draws_afresh_per_epoch_seed(mnist_test):
    x, y = mnist_test
    x, y = x[:1000], y[:1000]
    np.testing.assert_array_equal(styles.restyle(x, y, 0.4, seed=3), styles.restyle(x, y, 0.4, seed=[3]))
    epoch0, epoch1 = (styles.restyle(x, y, 0.4, seed=[3, e]) for e in (0, 1))
    assert not np.array_equal(epoch0, epoch1)
    np.testing.assert_array_equal(epoch1, styles.restyle(x, y, 0.4, seed=[3, 1]))


def test_style_weights_scale_one_style_and_leave_the_others(mnist_test):
    x, y = mnist_test
    x, y = x[:2000], y[:2000]
    full = styles.restyle(x, y, 1.0, seed=1)
    weighted = styles.restyle(x, y, 1.0, seed=1, weights=styles.parse_weights("open_top_4=0,elastic=0"))
    changed = (weighted != x).any(axis=(1, 2))
    assert not changed[y == 4].any()  # no open 4 and no elastic: every 4 stays as written
    assert not changed[(y != 1) & (y != 7) & (y != 9)].any()  # nor any digit without an edit
    assert changed[y == 7].mean() > 0.8 and (full != x).any(axis=(1, 2))[y == 4].mean() > 0.5
    np.testing.assert_array_equal(
        styles.restyle(x, y, 0.4, seed=1, weights={}), styles.restyle(x, y, 0.4, seed=1)
    )


@pytest.mark.parametrize(
    "text", ["open_top_4", "open_top_5=0.5", "elastic=x", "crossed_7=1.5", "thin_pen=0.5"]
)
def test_bad_style_weights_are_named(text):
    with pytest.raises(ValueError, match=text.split("=")[0]):
        styles.parse_weights(text)


def test_style_suite_is_fixed_and_made_of_the_digits_given(mnist_test):
    x, y = mnist_test
    x, y = x[:1500], y[:1500]
    suite = styles.style_suite(x, y, seed=0)
    assert set(suite) == set(styles.STYLES)
    for name, (xs, ys) in suite.items():
        digit = styles.STYLES[name][0]
        assert len(xs) == len(ys) > 0 and xs.dtype == np.uint8, name
        assert digit is None or set(ys.tolist()) == {digit}, name
    again = styles.style_suite(x, y, seed=0)
    for name in suite:
        np.testing.assert_array_equal(suite[name][0], again[name][0])


def test_example_picture_is_written(mnist_test, tmp_path):
    x, y = mnist_test
    path = styles.write_examples(tmp_path / "styles.png", x[:600], y[:600])
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert img is not None and img.shape[0] > 28 * 2 * len(styles.STYLES)


@pytest.mark.parametrize("name", sorted(styles.STYLES))
def test_edits_keep_the_range_and_do_not_touch_the_input(mnist_test, name):
    x, y = mnist_test
    digit, edit = styles.STYLES[name]
    i = int(np.flatnonzero(y == digit)[0]) if digit is not None else 0
    original = x[i].copy()
    out = edit(x[i], np.random.default_rng(0))
    np.testing.assert_array_equal(x[i], original)
    assert out is not None and out.shape == (28, 28) and out.dtype == np.uint8


@pytest.mark.slow
def test_training_with_styles_writes_the_example_picture(mnist_test, tmp_path):
    from training.__main__ import main

    out = tmp_path / "run"
    args = ["--out", str(out), "--train-limit", "512", "--epochs", "1", "--batch-size", "128"]
    assert main([*args, "--styles", "0.3", "--no-deterministic"]) == 0
    assert cv2.imread(str(out / "styles.png")) is not None
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["styles"] == 0.3 and config["options"]["augment"]
