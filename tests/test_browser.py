"""The serve page in a real headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium through /usr/bin/chromedriver: nothing downloads a browser of its own).

A real video file of rendered MNIST digits is the camera: the page's live view and text update;
a real photo is uploaded through the file input and its digits appear; a digit drawn on the
canvas with pointer events is read and its row-by-row view is drawn. Screenshots go to the
test's tmp folder (and to $DIGITS_SCREENSHOT_DIR if set).

Skips when chromium or chromedriver is missing, unless DIGITS_REQUIRE_BROWSER=1 (CI), which
turns that into a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the [serve] extra is not installed")

from serve_helpers import ServeProcess, write_video  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REQUIRED = os.environ.get("DIGITS_REQUIRE_BROWSER") == "1"
SEED = os.environ.get("DIGITS_SEED_IMAGE")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1400",
)

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).is_file():
            return f"{path} not found: apt-get install chromium chromium-driver (make setup-browser)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the dev extra)"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    why = _missing()
    if why:
        if REQUIRED:
            pytest.fail(f"DIGITS_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory, clean_digits, model_path):
    x, y = clean_digits
    video = tmp_path_factory.mktemp("browser_video") / "desk.avi"
    text = write_video(video, x[30:34], y[30:34], frames=30)
    env = dict(os.environ, DIGITS_MODEL=str(model_path))
    srv = ServeProcess("--source", str(video), "--loop", env=env)
    browser.get(srv.url + "/")
    yield browser, srv, text
    srv.stop()


def screenshot(driver, tmp_path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    extra = os.environ.get("DIGITS_SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)
    return path


def wait_for(driver, condition, timeout=20, message=""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d), message)


def text_of(driver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def test_live_view_and_text_update_from_the_video(page, tmp_path):
    driver, _, text = page
    wait_for(driver, lambda d: text_of(d, "live-text") == text, message=f"live text never became {text}")
    first = text_of(driver, "live-fps")
    wait_for(driver, lambda d: text_of(d, "live-fps") != first, message="frame counter did not move")
    # The MJPEG <img> shows real frames; the digit strip shows the live digits' inputs.
    assert driver.execute_script("return document.getElementById('live').naturalWidth") == 640
    assert driver.execute_script("return document.querySelectorAll('#digit-strip canvas').length") == len(
        text
    )
    assert text_of(driver, "camera-state") == "live"
    assert "find" in text_of(driver, "live-stages")
    screenshot(driver, tmp_path, "live")


@pytest.mark.skipif(not SEED, reason="DIGITS_SEED_IMAGE is not set")
def test_upload_a_photo_shows_its_digits(page, tmp_path):
    from selenium.webdriver.common.by import By

    driver, _, _ = page
    driver.find_element(By.ID, "upload-input").send_keys(str(Path(SEED).resolve()))
    wait_for(driver, lambda d: text_of(d, "upload-text") == "9", message="upload never read 9")
    assert text_of(driver, "upload-error") == ""
    assert driver.execute_script("return document.getElementById('upload-canvas').height") > 10
    assert "seed_9.jpg" in text_of(driver, "focus-name")
    wait_for(driver, lambda d: "settled" in text_of(d, "steps-label"), message="no row-by-row view")
    screenshot(driver, tmp_path, "upload")


def test_draw_a_digit_with_pointer_events(page, tmp_path):
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.interaction import POINTER_TOUCH
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    from selenium.webdriver.common.by import By

    driver, _, _ = page
    pad = driver.find_element(By.ID, "draw-canvas")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)
    # A "7" drawn with a finger (touch pointer): across the top, then down to the lower left.
    # Offsets are from the canvas' centre (280x280 px).
    finger = PointerInput(POINTER_TOUCH, "finger")
    actions = ActionBuilder(driver, mouse=finger)
    actions.pointer_action.move_to(pad, -70, -90).pointer_down()
    for dx, dy in [(-30, -90), (10, -90), (50, -90), (70, -88), (55, -50), (35, -5), (15, 40), (0, 90)]:
        actions.pointer_action.move_to(pad, dx, dy)
    actions.pointer_action.pointer_up()
    actions.perform()
    wait_for(driver, lambda d: text_of(d, "draw-text") not in ("…", ""), message="the drawing was never read")
    assert text_of(driver, "draw-text") == "7", text_of(driver, "draw-error")
    wait_for(
        driver, lambda d: "final 7" in text_of(d, "steps-label"), message="no row-by-row view for the drawing"
    )
    # The heat map was painted: its centre is not the blank black background everywhere.
    lit = driver.execute_script(
        "const c = document.getElementById('steps-heat').getContext('2d');"
        "const d = c.getImageData(0, 0, 200, 182).data; let n = 0;"
        "for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 100) n++; return n;"
    )
    assert lit > 100
    # Moving the slider back to row 5 shows an earlier belief.
    driver.execute_script(
        "const s = document.getElementById('steps-row'); s.value = 5; s.dispatchEvent(new Event('input'));"
    )
    assert text_of(driver, "steps-label").startswith("after row 5:")
    driver.execute_script(
        "const s = document.getElementById('steps-row'); s.value = 28; s.dispatchEvent(new Event('input'));"
    )
    screenshot(driver, tmp_path, "draw")
