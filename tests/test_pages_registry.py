"""The pages registry: app.py's navigation is pages/common/registry.py's list; every page file is
in it and opens from app.py; every module of pages/lab/ is a Routing lab tab (or what the tabs
share); the lab's modules write no scorer name of their own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.pages import open_page

from assistant.views.lab import benchmark_baselines, scorer_names
from pages.common.registry import PAGES, Page
from pages.lab import TABS

ROOT = Path(__file__).resolve().parent.parent
PAGES_DIR = ROOT / "pages"


def test_every_page_file_is_registered_once() -> None:
    files = [p.file for p in PAGES]
    assert len(files) == len(set(files)), f"registered twice: {files}"
    on_disk = sorted(str(p.relative_to(ROOT)) for p in PAGES_DIR.glob("*.py"))
    assert sorted(files) == on_disk, "pages/*.py and pages/common/registry.py's PAGES differ"
    assert [p.title for p in PAGES if p.default] == ["Runs"]  # one page the app opens on


@pytest.mark.parametrize("page", PAGES, ids=[p.title for p in PAGES])
def test_every_registered_page_opens_from_app_py(
    page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("WORKBENCH_JOBS", str(tmp_path / "jobs"))
    app = open_page(tmp_path / "none.duckdb", page.file)
    assert not app.exception, app.exception
    assert app.title[0].value == page.title


def test_every_lab_module_is_a_tab_or_shared() -> None:
    shared = {"__init__", "common"}
    modules = {p.stem for p in (PAGES_DIR / "lab").glob("*.py")} - shared
    tabs = {t.render.__module__.rpartition(".")[2] for t in TABS}
    assert modules == tabs, "a module of pages/lab/ that is no tab, or a tab from elsewhere"
    assert len({t.title for t in TABS}) == len(TABS)


def test_no_scorer_name_is_written_in_the_lab() -> None:
    names = [*scorer_names(), *benchmark_baselines()]
    assert {"heuristic", "random", "oracle"} <= set(names)
    written = {
        (path.name, name)
        for path in sorted([PAGES_DIR / "routing_lab.py", *(PAGES_DIR / "lab").glob("*.py")])
        for name in names
        if re.search(rf"[\"']{re.escape(name)}[\"']", path.read_text(encoding="utf-8"))
    }
    assert not written, f"scorer names written in the lab (read views.lab.scorer_names()): {written}"
