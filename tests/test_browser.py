"""Every page in a real browser: ``streamlit run app.py`` on a ledger with a replayed demo, loaded in
headless Chromium through selenium, a screenshot per page, no Streamlit exception on any.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); skipped with the
reason otherwise. Selenium is given the driver's path, so selenium-manager downloads nothing.
Screenshots go to ``$BROWSER_SCREENSHOTS`` (default: a pytest temp folder); their paths are printed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.pages import ROOT
from support.pages import demo_ledger as build_demo_ledger

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1440,1000",
)
# url path -> (title, a CSS selector that shows the page got past its first query)
PAGES = {
    "": ("Runs", '[data-testid="stMetric"]'),
    "routing_lab": ("Routing lab", '[data-testid="stAlert"]'),
    "costs": ("Costs", '[data-testid="stMetric"]'),
    "label": ("Label", 'img[src*="media"]'),  # the screen at the first question's time
    "replay": ("Replay", 'img[src*="media"]'),
    "live": ("Live room", '[data-testid="stMetric"]'),
    "rooms": ("Rooms", '[data-testid="stAlert"]'),
}

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless browser test needs Debian's chromium and chromium-driver "
    "(apt-get install -y chromium chromium-driver; .ci/run does it)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ledger = build_demo_ledger(tmp_path_factory)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "STREAMLIT_"))}
    env.update(
        WORKBENCH_LEDGER=str(ledger),
        WORKBENCH_JOBS=str(tmp_path_factory.mktemp("jobs")),
        HF_HUB_OFFLINE="1",
    )
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "app.py"),
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_renders_in_chromium(
    path: str, server: str, browser: object, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    title, ready = PAGES[path]
    heading = (By.CSS_SELECTOR, '[data-testid="stMain"] h1')
    wait = WebDriverWait(browser, 90, poll_frequency=0.25)
    browser.set_window_size(1440, 1000)
    # As a user does: open the app at its root, then follow the sidebar's link. (A page's own
    # address in a fresh server skips app.py: Streamlit falls back to listing pages/.)
    browser.get(f"{server}/")
    wait.until(ec.text_to_be_present_in_element(heading, "Runs"))
    if path:
        link = f'[data-testid="stSidebarNav"] a[href$="/{path}"]'
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, link))).click()
    wait.until(ec.text_to_be_present_in_element(heading, title))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ready)))
    sidebar = browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]').text
    assert "Ledger file" in sidebar and "Tenant" in sidebar  # app.py's sidebar, on every page
    time.sleep(1.5)  # let charts and images paint
    height = browser.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 0;"
    )
    browser.set_window_size(1440, max(900, min(int(height or 0) + 120, 8000)))  # the whole page
    time.sleep(1.0)
    shot = _shots(tmp_path_factory) / f"{path or 'runs'}.png"
    assert browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    exceptions = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not exceptions, exceptions[0].text
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
