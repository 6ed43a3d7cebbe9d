"""find_digits / reading_order on rendered paper photos (edge_runtime.scenes) and drawn cases."""

import cv2
import numpy as np
import pytest

from benchmarks.finder_profile import draw_digit
from edge_runtime.scenes import render_sheet
from edge_runtime.segment import find_digit_candidates, find_digits, ink_map, polarity, reading_order


def grey(img):
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


@pytest.mark.parametrize("seed,rows,n", [(1, 1, 6), (5, 2, 8), (3, 3, 9), (4, 1, 1)])
def test_finds_one_box_per_digit_on_degraded_paper(clean_digits, seed, rows, n):
    x, y = clean_digits
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), n, replace=False)
    img, text = render_sheet(x[idx], y[idx], rng, rows=rows)
    blobs = find_digits(grey(img))
    assert len(blobs) == len(text)
    # Reading order: the boxes' rows go down, and within a row the boxes go right.
    centres = [(b.box[0] + b.box[2] / 2, b.box[1] + b.box[3] / 2) for b in blobs]
    per_row = int(np.ceil(n / rows))
    for r in range(rows):
        row = centres[r * per_row : (r + 1) * per_row]
        assert all(a[0] < b[0] for a, b in zip(row, row[1:]))
    if rows > 1:
        assert centres[0][1] < centres[-1][1]


def test_light_ink_on_dark_board(clean_digits):
    x, y = clean_digits
    rng = np.random.default_rng(7)
    img, text = render_sheet(x[:5], y[:5], rng, invert=True, shadow=False)
    assert len(find_digits(grey(img))) == len(text)


@pytest.mark.parametrize("seed", [2, 3, 30])
def test_chalk_in_a_hard_shadow_is_found(clean_digits, seed):
    # Light ink under a shadow: the shadow dims chalk and board alike, so chalk in the shadow
    # must not read as much fainter than chalk in the light (and be dropped as faint).
    x, y = clean_digits
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), 12, replace=False)
    img, text = render_sheet(x[idx], y[idx], rng, rows=3, invert=True)
    assert len(find_digits(grey(img))) == len(text)


def test_polarity_of_paper_and_board(clean_digits):
    x, y = clean_digits
    for seed in range(3):
        img, _ = render_sheet(x[:8], y[:8], np.random.default_rng(seed), rows=2)
        g = cv2.resize(grey(img), (320, 240), interpolation=cv2.INTER_AREA)
        assert polarity(g) is True
        assert polarity(cv2.bitwise_not(g)) is False
        board, _ = render_sheet(x[:8], y[:8], np.random.default_rng(seed), rows=2, invert=True)
        assert polarity(cv2.resize(grey(board), (320, 240), interpolation=cv2.INTER_AREA)) is False


def test_negative_gives_the_same_boxes(clean_digits):
    # A photo's negative is light ink on a dark ground: the same digits, in the same places.
    # (Black ink: faint pencil in a shadow is the negative's weak spot, see _light_to_dark_lut.)
    x, y = clean_digits
    for seed in (1, 4, 6):
        rng = np.random.default_rng(seed)
        img, text = render_sheet(x[10:19], y[10:19], rng, rows=3, ink="black")
        pos = [b.box for b in find_digits(grey(img))]
        neg = [b.box for b in find_digit_candidates(cv2.bitwise_not(grey(img)))[0]]
        assert len(pos) == len(text) and len(neg) == len(text)
        for a, b in zip(pos, neg):
            assert max(abs(u - v) for u, v in zip(a, b)) <= 4, (a, b)


def test_blank_page_and_grid_paper_have_no_digits():
    rng = np.random.default_rng(0)
    page = np.clip(rng.normal(200, 4, (480, 640)), 0, 255).astype(np.uint8)
    page = cv2.GaussianBlur(page, (0, 0), 1.0)
    assert find_digits(page) == []
    for k in range(0, 640, 40):  # grey grid lines
        cv2.line(page, (k, 0), (k, 479), 150, 2)
    for k in range(0, 480, 40):
        cv2.line(page, (0, k), (639, k), 150, 2)
    assert find_digits(page) == []
    cv2.circle(page, (320, 240), 60, 20, 6)  # a "0" drawn over the grid is found, alone
    blobs = find_digits(page)
    assert len(blobs) == 1
    x0, y0, w, h = blobs[0].box
    assert abs(x0 + w / 2 - 320) < 10 and 110 < h < 140


def test_broken_strokes_are_one_digit():
    img = np.full((300, 400), 230, np.uint8)
    # A "5" whose top bar is separate from its body, next to an open "4" in two strokes.
    cv2.line(img, (60, 100), (130, 100), 30, 6)
    cv2.ellipse(img, (90, 160), (40, 45), 0, -100, 170, 30, 6)
    cv2.line(img, (65, 110), (62, 125), 30, 6)
    cv2.line(img, (250, 70), (230, 170), 30, 6)
    cv2.line(img, (230, 170), (300, 170), 30, 6)
    cv2.line(img, (285, 70), (285, 230), 30, 6)
    blobs = find_digits(img)
    assert len(blobs) == 2


def test_reading_order_sloped_row_and_column():
    # A row climbing steeply to the right stays one row.
    sloped = [(0, 200, 40, 80), (60, 160, 40, 80), (120, 120, 40, 80), (180, 80, 40, 80)]
    below = [(0, 400, 40, 80), (60, 400, 40, 80)]
    boxes = below + sloped[::-1]
    order = reading_order(boxes)
    assert [boxes[i] for i in order] == sloped + below
    column = [(100, 300, 40, 60), (100, 0, 40, 60), (100, 150, 40, 60)]
    assert [column[i][1] for i in reading_order(column)] == [0, 150, 300]


def test_ink_map_ignores_smooth_shadow():
    img = np.full((480, 640), 220, np.float32)
    img[:, 320:] *= 0.55  # a shadow over the right half
    img = cv2.GaussianBlur(img, (0, 0), 6).astype(np.uint8)
    ink = ink_map(img)
    assert np.percentile(ink, 99) < 0.1


def test_cli_draws_boxes_where_it_is_told(tmp_path):
    from edge_runtime.segment.__main__ import main

    img = np.full((200, 300), 230, np.uint8)
    cv2.putText(img, "42", (60, 150), cv2.FONT_HERSHEY_SIMPLEX, 3.0, 20, 8)
    src, out = tmp_path / "in.png", tmp_path / "boxes.png"
    cv2.imwrite(str(src), img)
    assert main([str(src), str(out)]) == 0
    assert cv2.imread(str(out)).shape == (200, 300, 3)
    assert main([str(src), str(tmp_path / "missing" / "boxes.png")]) == 1


def small_digits_frame(x):
    """Ten MNIST digits ~43 px tall on flat noisy 640x480 paper (the profile's plain frames):
    ~21 px in the coarse pass, so the finder reads them at full resolution (they stand apart:
    from the coarse pass's segmentation, ``segment.refine``, unless a test turns that off)."""
    img = np.full((480, 640), 200.0, np.float32)
    for k, d in enumerate(x[:10]):
        r, c = divmod(k, 5)
        draw_digit(img, d, 160 + r * 100, 60 + c * 110, 60)
    img += np.random.default_rng(0).normal(0, 3.0, img.shape).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def test_coarse_pass_stops_at_the_height_when_a_closer_look_follows(clean_digits, monkeypatch):
    import edge_runtime.segment.finder as finder
    from edge_runtime.segment.ink import background_of
    from edge_runtime.segment.options import DEFAULT

    monkeypatch.setattr(finder, "REFINE_FROM", DEFAULT.min_digit_px)  # the closer look, always
    frame = small_digits_frame(clean_digits[0])
    passes = []
    real = finder.find_at
    monkeypatch.setattr(finder, "find_at", lambda *a, **k: passes.append(real(*a, **k)) or passes[-1])
    blobs = find_digits(frame)
    assert len(blobs) == 10 and len(passes) == 2
    coarse, fine = passes
    assert coarse.blobs == [] and 0 < coarse.digit_h < DEFAULT.min_digit_px
    assert fine.digit_h >= DEFAULT.min_digit_px
    # The full coarse pass (no early stop) measures the same height and finds blobs there.
    work = finder.rescale(frame, 0.5)
    whole = real(work, 0.5, DEFAULT, True, background_of(work, DEFAULT))
    assert whole.digit_h == coarse.digit_h and len(whole.blobs) > 0


def test_closer_look_searches_only_around_what_the_coarse_pass_saw(clean_digits, monkeypatch):
    # Ten small digits in the middle of the frame: the closer look reads only the region around
    # the coarse pass's digits, and finds the same blobs, pixel for pixel, as a look at it all.
    import edge_runtime.segment.finder as finder
    from edge_runtime.segment.options import DEFAULT

    monkeypatch.setattr(finder, "REFINE_FROM", DEFAULT.min_digit_px)  # the closer look, always
    frame = small_digits_frame(clean_digits[0])
    regions = []
    real = finder.find_at
    monkeypatch.setattr(finder, "find_at", lambda *a, **k: regions.append(k.get("region")) or real(*a, **k))
    blobs = find_digits(frame)
    monkeypatch.setattr(finder, "find_at", real)
    assert len(blobs) == 10 and regions[0] is None
    x0, y0, x1, y1 = regions[1]
    assert (x1 - x0) * (y1 - y0) < finder.REGION_MAX * frame.size
    for b in blobs:  # every digit lies inside, at least a margin from its edge
        bx, by, bw, bh = b.box
        assert x0 < bx and y0 < by and bx + bw < x1 and by + bh < y1
    whole = finder.closer_look(frame, 1.0, DEFAULT, True).blobs
    assert [b.box for b in whole] == [b.box for b in blobs]
    assert all(np.array_equal(a.ink, b.ink) for a, b in zip(whole, blobs))


def test_ink_in_a_region_is_the_whole_maps_there_and_its_sample_the_whole_maps():
    from edge_runtime.segment import ink

    rng = np.random.default_rng(3)
    for sheet in (False, True):
        img = np.full((480, 640), 190.0) + rng.normal(0, 4, (480, 640))
        if sheet:  # a sheet on a dark desk: the ink is masked by the sheet
            img[:, :120] = 40
        for _ in range(40):
            x, y = int(rng.integers(0, 620)), int(rng.integers(0, 460))
            img[y : y + 20, x : x + 3] = rng.uniform(20, 120)
        grey = np.clip(img, 0, 255).astype(np.uint8)
        background = ink.with_page(grey, None, ink.DEFAULT)
        assert (background.page is not None) == sheet
        whole, page = ink.relative_ink(grey, background)
        dark_grey, contrast, sample = ink.contrast_and_sample(grey, ink.DEFAULT, True, 4)
        for x0, y0, x1, y1 in ((37, 101, 555, 390), (0, 0, 640, 250), (300, 200, 640, 480)):
            part = ink.ink_in_region(dark_grey, contrast, (x0, y0, x1, y1))
            assert np.array_equal(part[y0:y1, x0:x1], whole[y0:y1, x0:x1]) and part[y0:y1, x0:x1].any()
            part[y0:y1, x0:x1] = 0
            assert not part.any()  # nothing outside it
        page_too = contrast.page
        assert np.array_equal(sample, whole[::4, ::4])
        assert (page is None and page_too is None) or np.array_equal(page, page_too)


def test_the_closer_looks_region_is_the_coarse_box_widened_and_scaled():
    from edge_runtime.segment.finder import REGION_MARGIN, around

    # A box of 20 px digits, widened by a digit height each way, twice as large, within the image.
    assert around((50, 40, 150, 80), 20.0, 2.0, (480, 640)) == (
        int((50 - 20 * REGION_MARGIN) * 2),
        int((40 - 20 * REGION_MARGIN) * 2),
        int((150 + 20 * REGION_MARGIN) * 2),
        int((80 + 20 * REGION_MARGIN) * 2),
    )
    assert around((0, 0, 150, 80), 20.0, 2.0, (480, 640))[:2] == (0, 0)  # clipped at the edge
    assert around((10, 10, 300, 220), 20.0, 2.0, (480, 640)) is None  # most of it: all of it


def test_a_blob_cut_by_the_region_edge_touches_an_edge():
    from edge_runtime.segment.finder import candidates
    from edge_runtime.segment.options import DEFAULT

    stats = np.array([[0, 0, 640, 480, 0], [100, 100, 20, 40, 300], [300, 100, 20, 40, 300]], np.int32)
    keep = np.array([False, True, True])
    inside, cut = candidates(stats, keep, None, (480, 640), DEFAULT, region=(50, 50, 320, 300))
    assert not inside.touches and cut.touches  # the second one reaches the region's right edge
    assert not any(c.touches for c in candidates(stats, keep, None, (480, 640), DEFAULT))


def _hyp_2_reads(monkeypatch, dev_photos, shipped_model, negative: bool):
    """hyp_2.bmp fitted to 640x480 (or its negative) -> run(): (the finder's candidate lists,
    the polarities given a closer look, the reader's text). Paper and board are both seen there
    and the strokes are 1.3x thinner one way: ``ink.SHEET_AND_BOARD_WIDTH`` would decide the
    polarity, so that vote is off here, leaving it ambiguous (as for a ratio below 1.25)."""
    import edge_runtime.segment.finder as finder
    from benchmarks.finder_profile import fit_frame
    from edge_runtime.classifier import DigitClassifier
    from edge_runtime.pipeline import DigitReader
    from edge_runtime.segment import ink

    monkeypatch.setattr(ink, "SHEET_AND_BOARD_WIDTH", float("inf"))

    frame = fit_frame(cv2.imread(str(dev_photos / "hyp_2.bmp"), cv2.IMREAD_COLOR))
    frame = 255 - frame if negative else frame
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    looks = []
    real = finder.closer_look
    monkeypatch.setattr(finder, "closer_look", lambda *a, **k: looks.append(a[3]) or real(*a, **k))
    reader = DigitReader(DigitClassifier(shipped_model), min_confidence=0.0)

    def run():
        looks.clear()
        return find_digit_candidates(grey), looks[:], reader.read(frame).text

    return run


def test_the_other_polarity_gets_no_closer_look_for_far_smaller_digits(
    monkeypatch, dev_photos, shipped_model
):
    # hyp_2.bmp fitted to 640x480: the polarity is ambiguous; the likelier (dark) polarity's
    # coarse digits are 15 px and need the closer look, the other's "digits" (gaps between
    # strokes) are 8 px: that closer look is skipped, and the reading does not change.
    import edge_runtime.segment.finder as finder

    run = _hyp_2_reads(monkeypatch, dev_photos, shipped_model, negative=False)
    (likely, other), skipped_looks, text = run()
    assert skipped_looks == [likely.dark] and likely.closer and not other.closer
    monkeypatch.setattr(finder, "OTHER_POLARITY_H", 0.0)  # every other polarity that saw digits
    (likely_all, other_all), all_looks, text_all = run()
    assert all_looks == [likely.dark, other.dark] and other_all.closer
    assert [b.box for b in likely_all] == [b.box for b in likely]
    assert text == text_all and len(text) >= 15  # (17 digits)


def test_the_likelier_polarity_gets_no_closer_look_when_the_other_saw_far_taller_digits(
    monkeypatch, dev_photos, shipped_model
):
    # The negative of hyp_2.bmp fitted to 640x480, with the cheap guess made wrong on purpose
    # (dark ink; before the stroke-width tie-break it was so): its coarse "digits" are 5 px
    # against the light ink's 15 px, so only the light ink gets the closer look, and the
    # reading is the one both closer looks give.
    import edge_runtime.segment.finder as finder

    monkeypatch.setattr(finder, "likely_dark", lambda *a, **k: True)
    run = _hyp_2_reads(monkeypatch, dev_photos, shipped_model, negative=True)
    (likely, other), skipped_looks, text = run()
    assert likely.dark and not other.dark
    assert skipped_looks == [False] and not likely.closer and len(likely) == 0 and other.closer
    monkeypatch.setattr(finder, "OTHER_POLARITY_H", 0.0)  # every polarity that saw digits
    (likely_all, other_all), all_looks, text_all = run()
    assert all_looks == [True, False] and likely_all.closer
    assert [b.box for b in other_all] == [b.box for b in other]
    assert text == text_all and len(text) >= 15  # (17 digits)


def test_when_paper_and_board_are_both_seen_the_thinner_strokes_decide(dev_photos, monkeypatch):
    # hyp_2.bmp and hyp_3.bmp and their negatives at 640x480: paper and a dark surround both
    # found, strokes less than twice but more than 1.25x thinner one way: the thinner strokes'
    # polarity is decided, one list. With that vote off (a ratio below 1.25) the votes cannot
    # tell and both polarities are searched, the thinner strokes' first (before: always dark
    # ink, wrong for the negatives); it finds the same digits as the decided search.
    from benchmarks.finder_profile import fit_frame
    from edge_runtime.segment import DEFAULT, ink
    from edge_runtime.segment.ink import polarity_and_background

    for name in ("hyp_2.bmp", "hyp_3.bmp"):
        photo = cv2.cvtColor(fit_frame(cv2.imread(str(dev_photos / name))), cv2.COLOR_BGR2GRAY)
        for grey, dark in ((photo, True), (255 - photo, False)):
            work = cv2.resize(grey, (320, 240), interpolation=cv2.INTER_AREA)
            votes, background = polarity_and_background(work, DEFAULT)
            seen = background.votes
            assert votes == dark and seen.paper and seen.board
            ratio = max(seen.w_dark, seen.w_light) / min(seen.w_dark, seen.w_light)
            assert ink.SHEET_AND_BOARD_WIDTH <= ratio < ink.WIDTH_VOTE
            (decided,) = find_digit_candidates(grey)
            assert decided.dark == dark and len(decided) >= 15, name
            with monkeypatch.context() as m:
                m.setattr(ink, "SHEET_AND_BOARD_WIDTH", float("inf"))
                assert polarity_and_background(work, DEFAULT)[0] is None
                first, second = find_digit_candidates(grey)
                assert first.dark == dark and second.dark == (not dark)
                assert len(second) == 0, name  # (the right polarity finds them)
                assert [b.box for b in find_digits(grey)] == [b.box for b in first]
            assert [b.box for b in first] == [b.box for b in decided]


def test_small_array_statistics_equal_numpy_bit_for_bit():
    from edge_runtime.segment.stats import median, percentile, percentile_u8

    rng = np.random.default_rng(1)
    for _ in range(500):
        n = int(rng.integers(1, 60))
        for dtype in (np.float64, np.float32, np.int64):
            v = (rng.random(n) * 1000).astype(dtype)
            assert median(v) == np.median(v) and np.asarray(median(v)).dtype == np.median(v).dtype
        v = rng.integers(1, 900, n).astype(float)
        assert percentile(v, 90) == np.percentile(v, 90)
        image = rng.integers(0, 256, (n, int(rng.integers(1, 60)))).astype(np.uint8)
        assert percentile_u8(image, 90) == np.percentile(image, 90)


def test_median_at_least_equals_thresholding_medianblur():
    from edge_runtime.segment.sheet import median_at_least

    rng = np.random.default_rng(2)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(8, 120, 2))
        window = int(rng.choice([3, 5, 7, 9, 11]))
        image = rng.integers(0, 256, (h, w)).astype(np.uint8)
        if rng.random() < 0.5:
            image = cv2.blur(image, (5, 5))  # smooth images: many ties at the level
        level = float(rng.uniform(0, 255))
        expected = cv2.medianBlur(image, window) >= level
        assert np.array_equal(median_at_least(image, level, window), expected)


def test_noise_bound_never_claims_too_low_and_usually_decides():
    from edge_runtime.segment.components import NOISE_MADS, noise_at_most, noise_below_by_count

    rng = np.random.default_rng(3)
    shown = counted = 0
    for _ in range(1000):
        n = int(rng.integers(1, 5000))
        v = np.clip(rng.exponential(rng.uniform(0.001, 0.2), n), 0, 1).astype(np.float32)
        if rng.random() < 0.3:
            v[rng.random(n) < rng.random()] = 0  # paper lighter than its background: exact zeros
        med = float(np.median(v))
        noise = med + NOISE_MADS * float(np.median(np.abs(v - med)))
        level = float(rng.uniform(0, 0.4))
        if noise_at_most(v, level):
            shown += 1
            assert noise <= level, (n, noise, level)
        if noise_below_by_count(v, level):
            counted += 1
            assert noise <= level, (n, noise, level)
    assert shown > 200 and counted > 100  # each decides often enough to pay
    assert not noise_below_by_count(np.float32([-1.0, -1.0, 0.9]), 0.1)  # negative values do not count
    assert not noise_at_most(np.float32([0.5, 2.0, 3.0]), 1.0)  # values beyond [0, 1]: not shown


def test_labelling_the_ink_box_gives_the_whole_frames_labels(monkeypatch):
    from edge_runtime.segment import components

    monkeypatch.setattr(components, "thresholds", lambda *a: (0.12, 0.5))
    rng = np.random.default_rng(4)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(10, 120, 2))
        ink = np.zeros((h, w), np.float32)
        y0, x0 = int(rng.integers(0, h - 3)), int(rng.integers(0, w - 3))  # odd corners too
        bh, bw = int(rng.integers(1, h - y0)), int(rng.integers(1, w - x0))
        if _ % 10 == 0:  # ink up to every edge: the box is the whole frame
            y0, x0, bh, bw = 0, 0, h, w
        dots = rng.random((bh, bw)) < rng.uniform(0.2, 0.7)
        ink[y0 : y0 + bh, x0 : x0 + bw] = dots * rng.uniform(0.15, 1.0, (bh, bw))
        found = components.label_ink(ink)
        weak = np.greater(ink, 0.12).view(np.uint8)
        components.remove_grid(weak, ink, 0.5)
        n, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
            weak, 8, cv2.CV_32S, cv2.CCL_GRANA
        )
        assert np.array_equal(found.labels, labels) and np.array_equal(found.stats, stats)
        assert np.array_equal(found.keep[1:], np.array([ink[labels == i].max() > 0.5 for i in range(1, n)]))


def test_grid_lines_cleared_in_bands_are_those_cleared_on_the_whole_frame():
    # remove_grid decides on bands of rows and columns around the lines: the same pixels as
    # deciding on the whole frame, on grids, lone lines near the edges, thick bars and strokes.
    from edge_runtime.segment import components

    rng = np.random.default_rng(6)
    cleared = 0
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(40, 400, 2))
        ink = (rng.random((h, w)) < 0.02) * rng.uniform(0.1, 0.4, (h, w))
        for _ in range(int(rng.integers(0, 6))):  # lines, some at the frame's edge, some thick
            width, level = int(rng.integers(1, 8)), float(rng.uniform(0.15, 0.9))
            at = int(rng.choice([0, int(rng.integers(0, h)), h - 1]))
            ink[at : at + width, int(rng.integers(0, w // 4)) :] = level
            at = int(rng.choice([0, int(rng.integers(0, w)), w - 1]))
            ink[int(rng.integers(0, h // 4)) :, at : at + width] = level
        for _ in range(int(rng.integers(0, 8))):  # strokes crossing them
            p, q = (tuple(int(v) for v in rng.integers(0, (w, h))) for _ in range(2))
            cv2.line(ink, p, q, float(rng.uniform(0.3, 1.0)), int(rng.integers(1, 6)))
        ink = ink.astype(np.float32)
        weak = np.greater(ink, 0.12).view(np.uint8)
        banded, whole = weak.copy(), weak.copy()
        components.remove_grid(banded, ink, 0.5)
        components.remove_grid(whole, ink, 0.5, whole=True)
        assert np.array_equal(banded, whole)
        cleared += int((banded != weak).any())
    assert cleared > 50  # (most frames had lines to clear)


def test_ink_map_ceiling_is_skipped_only_when_it_changes_nothing(monkeypatch):
    # relative_ink skips the ceiling at 1 when a bound shows no value reaches it: its maps must be
    # those with the ceiling always taken, on even paper (skipped) and dim, vignetted frames (not).
    from edge_runtime.segment import ink

    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:240, 0:320]
    frames = []
    for _ in range(40):
        vignette = rng.choice([0, 0.9]) * ((xx - 160) ** 2 + (yy - 120) ** 2) / (160**2 + 120**2)
        paper = rng.uniform(60, 230)
        img = paper * (1 - vignette) + rng.normal(0, 3, xx.shape)
        black = rng.random() < 0.5  # black strokes: a map a little above 1 before the ceiling
        for _ in range(30):
            x, y = int(rng.integers(0, 300)), int(rng.integers(0, 220))
            img[y : y + 20, x : x + 3] = 0 if black else paper * rng.uniform(0.2, 0.8)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    ceilings = []
    real_min = cv2.min
    monkeypatch.setattr(ink.cv2, "min", lambda *a, **k: ceilings.append(1) or real_min(*a, **k))
    maps = [ink.relative_ink(g, ink.background_of(g, ink.DEFAULT))[0] for g in frames]
    taken = len(ceilings)
    assert 0 < taken < len(frames)  # both paths are tested
    monkeypatch.setattr(ink, "ROUNDING", 1e9)  # the ceiling always taken
    for g, m in zip(frames, maps):
        assert np.array_equal(ink.relative_ink(g, ink.background_of(g, ink.DEFAULT))[0], m)
    assert max(float(m.max()) for m in maps) <= 1.0


@pytest.mark.parametrize("size", [(1080, 1920), (720, 1280), (442, 640), (1536, 2048)])
def test_large_and_odd_frames_find_every_digit_in_the_right_place(clean_digits, size):
    # The finder shrinks frames by whole factors (block averages); its boxes must still land on
    # the digits of the full frame: the same boxes, to within the factor, as on a 640 px copy
    # (shrunk by OpenCV's own INTER_AREA), scaled back.
    x, y = clean_digits
    rng = np.random.default_rng(11)
    idx = rng.choice(len(x), 8, replace=False)
    img, text = render_sheet(x[idx], y[idx], rng, size=size, rows=2)
    big = find_digits(grey(img))
    assert len(big) == len(text)
    f = 640 / max(size)
    small = cv2.resize(grey(img), (round(size[1] * f), round(size[0] * f)), interpolation=cv2.INTER_AREA)
    ref = find_digits(small)
    assert len(ref) == len(text)
    for b, r in zip(big, ref):
        expected = np.array(r.box) / f
        assert np.abs(np.array(b.box) - expected).max() <= 4 / f, (b.box, expected)


def test_frames_shrink_by_whole_factors_near_their_targets():
    from edge_runtime.segment.finder import SHRINK_FLOOR, scales
    from edge_runtime.segment.options import DEFAULT

    for h in range(100, 4001, 37):
        for w in (h, int(h * 4 / 3), int(h * 16 / 9), int(h * 3 / 4), 3 * h):
            short, long = min(h, w), max(h, w)
            if short < DEFAULT.min_side:  # (tiny strips are enlarged)
                continue
            fine, coarse = scales(h, w, DEFAULT)
            assert coarse <= fine <= 1.0
            assert long * fine <= DEFAULT.max_side / SHRINK_FLOOR or fine == 1.0
            # The first pass is a whole factor, or the closer look's scale itself (one pass).
            assert round(1 / coarse) * coarse == 1.0 or coarse == fine, (h, w, coarse)
            assert short * coarse >= DEFAULT.work_side or coarse == fine
            if long > DEFAULT.max_side:  # a closer look near max_side: a whole factor, else the exact ratio
                side = long * fine
                whole = round(1 / fine) * fine == 1.0
                assert (whole and SHRINK_FLOOR <= side / DEFAULT.max_side <= 1 / SHRINK_FLOOR) or (
                    not whole and round(side) == DEFAULT.max_side
                ), (h, w, fine)


def test_other_shrinking_ratios_give_the_exact_size_and_keep_thin_strokes():
    """``rescale`` at a ratio that is not 1/k (the closer look of 1280x720, 1200x900, 2592x1944)
    takes whole blocks while at least half is left, then bilinear: the exact size, within a grey
    level of OpenCV's area averaging on smooth light, and a 2 px pen stroke keeps at least half
    the contrast area averaging gives it (sampling every k-th pixel loses it at some phases;
    measured: all of it from 0.8 to 0.85, 63% at worst at 0.395, 56% at 0.3)."""
    from edge_runtime.segment.finder import rescale

    rng = np.random.default_rng(12)
    for h, w, scale in (
        (720, 1280, 0.8),
        (900, 1200, 1024 / 1200),
        (1944, 2592, 1024 / 2592),
        (2000, 3000, 0.3),
    ):
        size = (round(w * scale), round(h * scale))
        light = cv2.GaussianBlur(rng.integers(0, 256, (h // 40, w // 40)).astype(np.uint8), (3, 3), 0)
        light = cv2.resize(light, (w, h), interpolation=cv2.INTER_CUBIC)  # smooth shading
        out = rescale(light, scale)
        assert out.shape == size[::-1], (h, w, scale)
        area = cv2.resize(light, size, interpolation=cv2.INTER_AREA)
        assert np.abs(out.astype(int) - area).mean() < 1.0, (h, w, scale)
        page = np.full((h, w), 200, np.uint8)
        for x in range(40, w - 40, 97):  # 2 px strokes at every phase against the output grid
            page[:, x : x + 2] = 60
        shrunk = rescale(page, scale)
        area = cv2.resize(page, size, interpolation=cv2.INTER_AREA)
        for x in range(40, w - 40, 97):
            centre = int((x + 1) * scale)
            ours = 200 - int(shrunk[size[1] // 2, max(0, centre - 2) : centre + 3].min())
            theirs = 200 - int(area[size[1] // 2, max(0, centre - 2) : centre + 3].min())
            assert ours >= 0.5 * theirs, (h, w, scale, x, ours, theirs)


def test_a_streak_cut_off_a_digit_is_not_read_as_one(clean_digits):
    # A shadow's edge or an underline running into a digit makes one wide blob; splitting it at
    # the thinnest column leaves the streak as a flat piece, no digit (a 2592x1944 rendered frame
    # read three such pieces as digits). Five digits ~80 px tall, the third with a 4 px line
    # running 150 px to its left along its foot.
    x, _ = clean_digits
    img = np.full((480, 640), 205.0, np.float32)
    for k, d in enumerate(x[20:25]):
        draw_digit(img, d, 180, 20 + k * 120, 110)
    rows, cols = np.nonzero(img[180:290, 260:370] < 120)
    foot = 180 + rows.max()
    left = 260 + cols[rows > rows.max() - 8].min()
    img[foot - 3 : foot + 1, left - 150 : left + 4] = 45.0
    img += np.random.default_rng(1).normal(0, 2.0, img.shape).astype(np.float32)
    frame = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    blobs = find_digits(frame)
    heights = [b.box[3] for b in blobs]
    assert len(blobs) == 5, [b.box for b in blobs]
    assert min(heights) > 0.5 * max(heights)


def test_morphology_on_padded_rows_equals_opencvs():
    """``segment.morph.morphology`` pads rows to a multiple of 16 px for speed: the same pixels as
    OpenCV's opening and closing (default border), whatever the width, kernel or image."""
    from edge_runtime.segment.morph import morphology

    rng = np.random.default_rng(6)
    for trial in range(600):
        h, w = (int(v) for v in rng.integers(1, 260, 2))
        k = int(rng.choice([3, 19, 21, 25, 33, 71])) if trial % 4 else int(rng.integers(1, 2 * max(h, w) + 3))
        kernel = (
            np.ones((k, k), np.uint8)
            if trial % 5
            else cv2.getStructuringElement(
                cv2.MORPH_ELLIPSE, (int(rng.integers(19, 40)), int(rng.integers(1, 40)))
            )
        )
        image = rng.integers(0, 256, (h, w)).astype(np.uint8)
        if trial % 3 == 1:
            image = (image > 127).astype(np.uint8) * 255  # masks, as the sheet and polarity tests open
        elif trial % 3 == 2:
            image = cv2.blur(image, (5, 5))  # smooth, as the background
        for op in (cv2.MORPH_OPEN, cv2.MORPH_CLOSE):
            ours, opencv = morphology(image, op, kernel), cv2.morphologyEx(image, op, kernel)
            assert np.array_equal(ours, opencv), (h, w, kernel.shape, op)
    with pytest.raises(ValueError, match="MORPH_OPEN or MORPH_CLOSE"):
        morphology(np.zeros((5, 7), np.uint8), cv2.MORPH_GRADIENT, np.ones((21, 21), np.uint8))


def test_busy_ink_thresholds_take_numpys_medians_without_importing_numpy_ma():
    """The noise ceiling of a busy ink map (most of it above the weak floor) comes from two
    medians: numpy's, bit for bit, but without ``np.median``, whose first call in a process
    imports numpy.ma (~19 ms in one frame's read)."""
    import subprocess
    import sys

    code = """
import sys
import numpy as np
from edge_runtime.segment.components import NOISE_CAP, NOISE_MADS, thresholds
from edge_runtime.segment.options import DEFAULT
ink = np.random.default_rng(7).uniform(0.0, 0.6, (116, 640)).astype(np.float32)
weak, strong = thresholds(ink, DEFAULT)
assert "numpy.ma" not in sys.modules
sub = ink[::4, ::4]
med = float(np.median(sub))
noise = med + NOISE_MADS * float(np.median(np.abs(sub - med)))
assert noise > max(DEFAULT.min_contrast, 0.4 * strong)  # the busy path: the medians decide
assert weak == max(DEFAULT.min_contrast, 0.4 * strong, min(noise, NOISE_CAP * strong)), (weak, noise)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_board_is_looked_for_only_when_it_can_change_the_polarity(mnist_test, monkeypatch):
    """polarity_and_background skips the board test when the width vote and the paper test agree:
    the polarity must be what the two votes give with both tests taken (scenes, their negatives
    and boards, blank and noisy frames, and a scene whose thin dark strokes meet a board and no
    paper: there the board makes the votes disagree)."""
    from benchmarks import finder_profile as fp
    from edge_runtime.segment import DEFAULT, ink

    def both_tests(work):  # the votes as written before the skip: every test taken
        small = ink.small_copy(work, DEFAULT)
        _, dark, light = ink.responses(small, ink.background_kernel(work.shape, small, DEFAULT))
        w_dark, w_light = ink.response_width(dark), ink.response_width(light)
        votes = [w_dark < w_light] if max(w_dark, w_light) > ink.WIDTH_VOTE * min(w_dark, w_light) else []
        sheet, board = ink.dark_ink(small), ink.dark_ink(cv2.bitwise_not(small))
        disagree = bool(votes) and sheet != board and sheet != votes[0]
        votes += [sheet] if sheet != board else []
        return (votes[0] if votes and all(v == votes[0] for v in votes) else None), disagree

    x, y = mnist_test
    rng = np.random.default_rng(9)
    frames = [np.full((240, 320), 200, np.uint8), rng.integers(0, 256, (240, 320)).astype(np.uint8)]
    for seed in range(6):
        img, _ = render_sheet(
            x[:8], y[:8], np.random.default_rng(seed), rows=1 + seed % 2, invert=seed % 3 == 0
        )
        work = cv2.resize(grey(img), (320, 240), interpolation=cv2.INTER_AREA)
        frames += [work, cv2.bitwise_not(work)]
    scene = np.random.default_rng([0, 9])  # the finder profile's rendered_009
    pick = scene.choice(len(x), 10, replace=False)
    img, _ = fp.camera_frame(x[pick], y[pick], scene, fp.FRAME)
    frames.append(cv2.resize(grey(img), (320, 240), interpolation=cv2.INTER_AREA))
    calls = []
    real = ink.dark_ink
    monkeypatch.setattr(ink, "dark_ink", lambda small: calls.append(1) or real(small))
    disagreements = 0
    for work in frames:
        expected, disagree = both_tests(work)
        disagreements += disagree
        assert ink.polarity_and_background(work, DEFAULT)[0] == expected
    assert disagreements >= 1  # the case where the board must be looked for is among them
    assert len(calls) < 4 * len(frames)  # (2 a frame each, at most): some boards were skipped


def test_block_means_equal_opencvs_area_averaging():
    """``block_mean`` takes a faster path for k = 3 (a 3x3 box filter at the blocks' centres):
    the same pixels as OpenCV's INTER_AREA over whole blocks; an even k above 2 halves first
    (rounding twice): within one grey level of it."""
    from edge_runtime.segment.ink import block_mean

    rng = np.random.default_rng(10)
    for trial in range(300):
        h, w = (int(v) for v in rng.integers(8, 300, 2))
        image = rng.integers(0, 256, (h, w)).astype(np.uint8)
        if trial % 2:
            image = cv2.blur(image, (7, 7))  # smooth, as frames are, as well as noise
        for k in (2, 3, 4, 5, 6, 8):
            crop = image[: h - h % k, : w - w % k]
            expected = cv2.resize(crop, (w // k, h // k), interpolation=cv2.INTER_AREA)
            ours = block_mean(image, k)
            if k in (2, 3, 5):
                assert np.array_equal(ours, expected), (h, w, k)
            else:
                assert ours.shape == expected.shape and np.abs(ours.astype(int) - expected).max() <= 1, (
                    h,
                    w,
                    k,
                )


def test_responses_are_numpys_float32_quotients():
    """``ink.responses`` divides in OpenCV: each response must be numpy's float32 quotient of the
    same uint8 difference and floor, pixel for pixel (random copies at widths with and without a
    SIMD tail, and flat, black and white ones)."""
    from edge_runtime.segment.ink import RESPONSE_FLOOR, _background, _smooth_padded, responses

    rng = np.random.default_rng(4)
    copies = [rng.integers(0, 256, (h, w), dtype=np.uint8) for h, w in ((120, 160), (160, 213), (31, 7))]
    copies += [np.full((40, 50), v, np.uint8) for v in (0, 255, 128)]
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    for small in copies:
        bg_dark, dark, light = responses(small, k)
        smooth = _smooth_padded(small, k)
        bg_light = _background(smooth, k, cv2.MORPH_OPEN)
        floor = np.float32(RESPONSE_FLOOR)
        want_dark = (bg_dark.astype(np.float32) - small).clip(0) / np.maximum(
            bg_dark.astype(np.float32), floor
        )
        want_light = (small.astype(np.float32) - bg_light).clip(0) / np.maximum(
            255 - bg_light.astype(np.float32), floor
        )
        assert np.array_equal(bg_dark, _background(smooth, k, cv2.MORPH_CLOSE))
        assert dark.dtype == light.dtype == np.float32
        assert np.array_equal(dark, want_dark) and np.array_equal(light, want_light)


def test_the_sheet_keeps_every_bright_region_of_half_the_largest_ones_area():
    """``sheet.sheet_mask`` on a textured dark desk holding a large sheet, one of two thirds its
    area and a bright patch of an eighth: both sheets are paper (inside their eroded edge), the
    patch and the desk are not."""
    from edge_runtime.segment.sheet import sheet_mask

    rng = np.random.default_rng(2)
    small = np.clip(rng.normal(60, 15, (160, 213)), 0, 255).astype(np.uint8)  # a textured desk
    small[10:100, 10:100] = 200  # the large sheet, 8100 px
    small[20:95, 120:192] = 200  # a second sheet, 5400 px
    small[120:152, 20:52] = 200  # a highlight, 1024 px
    mask = sheet_mask(cv2.blur(small, (3, 3)), small)
    assert mask is not None and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    assert mask[20:90, 20:90].all() and mask[30:85, 130:182].all()
    assert not mask[120:152, 20:52].any() and not mask[105:, :].any() and not mask[:, 200:].any()
