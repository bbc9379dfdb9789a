"""The README's picture: the workbench's Runs page on a demo ledger, in headless Chromium.

    python scripts/docs_screenshot.py LEDGER [--out docs/images/workbench-runs.png]

Serves ``app.py`` on LEDGER (``streamlit run`` on a free port), opens it in Debian's ``chromium``
through ``chromium-driver`` and selenium (as tests/test_browser.py does), waits for the Runs page's
first figures and saves a PNG of the first screen. Make the ledger with a few demo replays, e.g.

    for a in "--threshold 0.3 --run-id demo-t0.3" "--threshold 1.0 --run-id all-cheap" \\
             "--threshold 0.0 --run-id all-premium" "--both-tiers --run-id bt"; do
      python -m assistant replay datasets/demo --ledger demo.duckdb --stt recorded --quiet $a; done
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(ledger: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "STREAMLIT_"))}
    env.update(WORKBENCH_LEDGER=str(ledger), HF_HUB_OFFLINE="1")
    command = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none", "--theme.base", "light",
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.read().strip() == b"ok":
                    return process, url
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit(f"streamlit did not start; its log: {log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ledger", type=Path, help="a ledger with a few demo runs")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/images/workbench-runs.png")
    parser.add_argument("--size", default="1280,860", help="window width,height in pixels")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        print("needs Debian's chromium and chromium-driver (apt-get install -y chromium "
              "chromium-driver)", file=sys.stderr)  # fmt: skip
        return 2
    if not args.ledger.exists():
        print(f"ledger {args.ledger} does not exist; replay the demo into it first", file=sys.stderr)
        return 2

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory() as tmp:
        process, url = _serve(args.ledger.resolve(), Path(tmp) / "streamlit.log")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (*FLAGS, f"--window-size={args.size}", f"--user-data-dir={tmp}/profile"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
        try:
            width, height = (int(v) for v in args.size.split(","))
            driver.set_window_size(width, height)
            driver.get(f"{url}/")
            wait = WebDriverWait(driver, 90, poll_frequency=0.25)
            heading = (By.CSS_SELECTOR, '[data-testid="stMain"] h1')
            wait.until(ec.text_to_be_present_in_element(heading, "Runs"))
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="stMetric"]')))
            time.sleep(3.0)  # let the tables and charts paint
            args.out.parent.mkdir(parents=True, exist_ok=True)
            if not driver.save_screenshot(str(args.out)):
                print(f"could not write {args.out}", file=sys.stderr)
                return 1
        finally:
            driver.quit()
            process.terminate()
            process.wait(timeout=15)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
