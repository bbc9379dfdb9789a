"""Every page in a real browser: ``streamlit run app.py`` on a ledger with a replayed demo, loaded in
headless Chromium through selenium, a screenshot per page, no Streamlit exception on any. And the
Label page's loop on a fresh ``--both-tiers`` replay: two answers graded through its widgets, the
Routing lab's sweep shows the new qualities, the labels survive a restart of the server.

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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


def _start_server(
    ledger: Path, factory: pytest.TempPathFactory, env_extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``streamlit run app.py`` on ``ledger`` at a free port, once its health check answers."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "STREAMLIT_"))}
    env.update(
        WORKBENCH_LEDGER=str(ledger),
        WORKBENCH_JOBS=str(factory.mktemp("jobs")),
        HF_HUB_OFFLINE="1",
        **(env_extra or {}),
    )
    log = factory.mktemp("streamlit") / "streamlit.log"
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
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.read().strip() == b"ok":
                    return process, url
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _stop_server(process)
            pytest.fail(f"streamlit did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.3)


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as Ctrl-C would, then wait: the ledger file is free once it returns."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = _start_server(build_demo_ledger(tmp_path_factory), tmp_path_factory)
    try:
        yield url
    finally:
        _stop_server(process)


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


LABEL_RUN = "bt"
# The Label page's history table as dicts: st.dataframe paints on a canvas; the grid keeps its
# visible cells in an accessibility table.
HISTORY_ROWS = """
const grid = document.querySelector('[data-testid="stDataFrame"] table[role="grid"]');
if (!grid) return null;
const names = [...grid.querySelectorAll('thead th')].map(th => th.textContent);
return [...grid.querySelectorAll('tbody tr')].map(tr => Object.fromEntries(
    [...tr.querySelectorAll('td')].map((td, i) => [names[i], td.textContent])));
"""


@pytest.fixture(scope="module")
def label_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh ``--both-tiers`` replay of a copy of the demo, by the CLI, for the Label page to
    write into (the shared demo ledger is read only)."""
    root = tmp_path_factory.mktemp("label-ledger")
    dataset = shutil.copytree(ROOT / "datasets" / "demo", root / "demo")
    ledger = root / "labels.duckdb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant",
            "replay",
            str(dataset),
            "--ledger",
            str(ledger),
            "--stt",
            "recorded",
            "--both-tiers",
            "--threshold",
            "0.3",
            "--run-id",
            LABEL_RUN,
            "--quiet",
        ],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=True,
        capture_output=True,
        timeout=300,
    )
    return ledger


def test_label_two_answers_the_sweep_follows_and_a_restart_keeps_them(
    label_ledger: Path, browser: object, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 12 in the real app: grade both answers of the first question through the Label
    page's widgets, the Routing lab's sweep shows the new qualities, and after the server is
    stopped and a new one started on the same ledger the Label page still lists both grades."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from assistant.ledger.owner import release
    from assistant.views.labels import read_label_run
    from assistant.views.workbench import read_sweep

    assert isinstance(browser, WebDriver)
    # What the ledger says before any label (read here, then the file is let go for the app).
    before = read_sweep(label_ledger, LABEL_RUN).data
    first = read_label_run(label_ledger, LABEL_RUN).data["items"][0]  # type: ignore[index]
    release(label_ledger)
    assert before is not None and before["requests"] == 20
    # each tier's grade the opposite of its offline score, so both qualities move
    grades = {
        t: 0.0 if first["answers"][t]["quality"] >= 0.5 else 1.0 for t in ("cheap", "premium")
    }
    expected = {
        t: before[f"{t}_quality"] + (grades[t] - first["answers"][t]["quality"]) / 20
        for t in grades
    }
    shots = _shots(tmp_path_factory)
    wait = WebDriverWait(
        browser, 60, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,)
    )
    heading = (By.CSS_SELECTOR, '[data-testid="stMain"] h1')
    main = (By.CSS_SELECTOR, '[data-testid="stMain"]')

    def open_app(url: str) -> None:
        browser.get(f"{url}/")
        wait.until(ec.text_to_be_present_in_element(heading, "Runs"))

    def go(path: str, title: str) -> None:
        link = f'[data-testid="stSidebarNav"] a[href$="/{path}"]'
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, link))).click()
        wait.until(ec.text_to_be_present_in_element(heading, title))

    def main_text_has(*parts: str) -> Callable[[object], bool]:
        return lambda _: all(p in browser.find_element(*main).text for p in parts)

    def sweep_caption(*parts: str) -> str:
        """The Routing lab's sweep caption, once it holds every one of ``parts``."""
        go("routing_lab", "Routing lab")
        captions = (By.CSS_SELECTOR, '[data-testid="stCaptionContainer"]')
        try:
            caption = wait.until(
                lambda d: next(
                    (
                        c.text
                        for c in d.find_elements(*captions)
                        if "all-premium quality" in c.text and all(p in c.text for p in parts)
                    ),
                    None,
                )
            )
        except TimeoutException:
            shown = [c.text for c in browser.find_elements(*captions)]
            raise AssertionError(f"no sweep caption with {parts}: {shown}") from None
        return str(caption)

    def grade_boxes() -> list[Any]:
        """The two "Grade (0–1)" number inputs, cheap's then premium's (empty mid-rerun)."""
        found = browser.find_elements(By.CSS_SELECTOR, 'input[aria-label="Grade (0–1)"]')
        return found if len(found) == 2 else []

    def save_buttons() -> list[Any]:
        found = browser.find_elements(By.XPATH, '//button[normalize-space(.)="Save grade"]')
        return found if len(found) == 2 else []

    def click(element: Any) -> bool:
        element.click()  # a stale element (mid-rerun) raises, and the wait tries again
        return True

    process, url = _start_server(label_ledger, tmp_path_factory, {"USER": "browser-tester"})
    step = "start"
    try:
        browser.set_window_size(1440, 1000)
        step = "sweep-before"
        open_app(url)
        sweep_caption(
            f"all-premium quality {before['premium_quality']:.3f}",
            f"all-cheap quality {before['cheap_quality']:.3f}",
        )

        step = "label"
        go("label", "Label")
        wait.until(main_text_has("20 of 20 labelled", "both tiers' answers recorded"))
        wait.until(main_text_has(first["question"][:40], "No labels yet."))
        for index, tier in enumerate(("cheap", "premium")):
            step = f"grade-{tier}"
            box = wait.until(lambda _, i=index: grade_boxes()[i])
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys(f"{grades[tier]:.1f}", Keys.ENTER)  # Enter commits the number: a rerun
            wait.until(
                lambda _, i=index, g=grades[tier]: (
                    float(grade_boxes()[i].get_attribute("value")) == g
                )
            )
            wait.until(lambda _, i=index: click(save_buttons()[i]))
            # the answer's quality now comes from the grade, under its column
            wait.until(
                lambda _, n=index + 1: browser.find_element(*main).text.count("(grade)") == n
            )
            wait.until(main_text_has(f"quality {grades[tier]:.2f} (grade)", "Stored 1 label."))
        answers = browser.find_element(*main).text
        assert answers.count("(grade)") == 2, answers
        assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')

        step = "sweep-after"
        after = (
            f"all-premium quality {expected['premium']:.3f}",
            f"all-cheap quality {expected['cheap']:.3f}",
            "(20 of 20 labelled)",
        )
        sweep_caption(*after)

        step = "restart"
        _stop_server(process)
        process, url = _start_server(label_ledger, tmp_path_factory, {"USER": "browser-tester"})
        open_app(url)
        go("label", "Label")
        wait.until(main_text_has(first["question"][:40]))
        wait.until(lambda _: browser.find_element(*main).text.count("(grade)") == 2)
        text = browser.find_element(*main).text
        assert "No labels yet." not in text
        for tier in grades:
            assert f"quality {grades[tier]:.2f} (grade)" in text, text
        # the history table (a canvas grid; its cells are in the grid's accessibility table)
        rows = wait.until(lambda d: d.execute_script(HISTORY_ROWS) or None)
        assert sorted((r["kind"], r["tier"], float(r["score"])) for r in rows) == sorted(
            ("grade", t, g) for t, g in grades.items()
        ), rows
        assert {r["author"] for r in rows} == {"browser-tester"}, rows
        sweep_caption(*after)
    except Exception:
        shot = shots / f"label-flow-{step}.png"
        browser.save_screenshot(str(shot))
        print(f"screenshot: {shot}")
        raise
    finally:
        _stop_server(process)
