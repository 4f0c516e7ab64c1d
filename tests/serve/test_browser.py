"""The web page in a real browser: Debian's chromium + chromedriver driven by Selenium, against `osld serve`
started as a subprocess on a free loopback port with a copy of the demo registry."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import DEMO, ROOT

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (dev extra)")
    if missing:
        reason = f"needs {', '.join(missing)} (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_proc(tmp_path_factory, synced_demo):
    _need_browser()
    reg = tmp_path_factory.mktemp("browser") / "logos"
    shutil.copytree(synced_demo, reg)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    log = tmp_path_factory.mktemp("browser_log") / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "osld.cli", "serve", "--registry", str(reg), "--port",
                                 str(port), "--threads", "2"], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        yield url, reg, proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def live(server_proc, browser):
    """The server once it answers (it boots while chromium starts)."""
    url, reg, proc, log = server_proc
    for _ in range(1200):  # the models load in seconds; a machine busy with training may need a minute or two
        if proc.poll() is not None:
            pytest.fail(f"osld serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        pytest.fail(f"osld serve did not answer: {log.read_text()[-2000:]}")
    return url, reg


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--window-size=1280,1000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, timeout: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def test_upload_a_photo_and_see_the_api_boxes(live, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url, _ = live
    photo = DEMO / "images" / "collage_cars.jpg"
    browser.get(url + "/")
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    browser.find_element(By.ID, "file-input").send_keys(str(photo))
    _wait(browser, lambda d: d.find_element(By.ID, "status").get_attribute("data-done") == "1")
    boxes = browser.find_elements(By.CSS_SELECTOR, "#results .box")
    labels = [b.find_element(By.CLASS_NAME, "label").text for b in boxes]
    # the API at the page's default thresholds must give exactly the drawn boxes
    with open(photo, "rb") as f:
        api = httpx.post(url + "/v1/detect", files=[("files", (photo.name, f, "image/jpeg"))], timeout=60).json()
    want = api["results"][0]["detections"]
    assert want, "the demo photo should have at least one logo at the default threshold"
    assert [b.get_attribute("data-brand") for b in boxes] == [d["brand"] for d in want]
    assert [float(b.get_attribute("data-score")) for b in boxes] == pytest.approx([d["score"] for d in want])
    assert all(lab.split()[1] == d["brand"] for lab, d in zip(labels, want, strict=True))
    assert all(b.is_displayed() and b.size["width"] > 5 for b in boxes)
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    assert len(rows) == len(want)
    browser.save_screenshot(str(tmp_path / "serve.png"))
    if os.environ.get("OSLD_SCREENSHOT"):  # docs/serve.png is made this way
        shutil.copy(tmp_path / "serve.png", os.environ["OSLD_SCREENSHOT"])

    # the score slider re-filters without a new request: at its maximum no box is left
    slider = browser.find_element(By.ID, "conf")
    browser.execute_script("arguments[0].value = 1; arguments[0].dispatchEvent(new Event('input'))", slider)
    assert browser.find_elements(By.CSS_SELECTOR, "#results .box") == []


def test_register_and_remove_a_brand_through_the_page(live, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url, reg = live
    browser.get(url + "/")
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    browser.find_element(By.ID, "tab-registry").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#brands .brand[data-brand='audi']"))
    logo = sorted((reg / "audi").iterdir())[0]
    browser.find_element(By.ID, "brand-name").send_keys("acme motors")
    browser.find_element(By.ID, "logo-input").send_keys(str(logo))
    browser.find_element(By.ID, "add-button").click()
    card = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#brands .brand[data-brand='acme motors']"))
    assert (reg / "acme motors" / logo.name).read_bytes() == logo.read_bytes()
    assert httpx.get(url + "/v1/brands/acme motors").json()["images"][0]["name"] == logo.name
    _wait(browser, lambda d: d.execute_script(
        "const i = document.querySelector(\"#brands .brand[data-brand='acme motors'] img\");"
        "return i && i.complete && i.naturalWidth > 0"))
    browser.save_screenshot(str(tmp_path / "registry.png"))
    remove = card[0].find_element(By.TAG_NAME, "button")
    remove.click()
    remove.click()  # the second click confirms
    _wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#brands .brand[data-brand='acme motors']"))
    assert not (reg / "acme motors").exists()
