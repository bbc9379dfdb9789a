"""The manual builds strictly: ``mkdocs build --strict`` over docs/, with links to missing pages
and anchors as errors (mkdocs.yml's ``validation``), so renaming a page or a heading that a link
still points at fails here. And the README stays a tour: short, its links and picture real."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_MAX_BYTES = 15_000


def _build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        pytest.fail("mkdocs is missing: pip install -r requirements-dev.txt")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_docs_build_strictly(tmp_path: Path) -> None:
    done = _build(ROOT, tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "extending" / "index.html").exists()


def _copy_of_the_docs(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "docs", project / "docs")
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    return project


@pytest.mark.parametrize(
    ("link", "complaint"),
    [
        ("ledger.md#no-such-heading", "does not contain an anchor '#no-such-heading'"),
        ("no-such-page.md", "not found among documentation files"),
        ("#nowhere-on-this-page", "no such anchor on this page"),
    ],
)
def test_a_broken_link_or_anchor_fails_the_build(tmp_path: Path, link: str, complaint: str) -> None:
    project = _copy_of_the_docs(tmp_path)
    page = project / "docs" / "extending.md"
    page.write_text(page.read_text(encoding="utf-8") + f"\nSee [this]({link}).\n", encoding="utf-8")
    done = _build(project, tmp_path / "site")
    assert done.returncode != 0
    assert complaint in done.stdout + done.stderr


def test_every_page_is_in_the_nav(tmp_path: Path) -> None:
    project = _copy_of_the_docs(tmp_path)
    (project / "docs" / "orphan.md").write_text("# Orphan\n", encoding="utf-8")
    done = _build(project, tmp_path / "site")
    assert done.returncode != 0 and "orphan.md" in done.stdout + done.stderr


def test_the_readme_is_a_short_tour_whose_links_and_picture_exist() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.encode()) < README_MAX_BYTES, f"README.md is {len(text.encode()):,} bytes"
    # the two set-up commands, exactly as a newcomer types them
    assert "scripts/workbench" in text and "scripts/test" in text
    for script in ("scripts/workbench", "scripts/test"):
        assert (ROOT / script).is_file() and (ROOT / script).stat().st_mode & 0o111, script
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert any(t.startswith("docs/") for t in local)
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
    pictures = re.findall(r"!\[[^\]]+\]\(([^)]+\.png)\)", text)
    assert pictures, "the tour shows the app"
    for picture in pictures:
        assert (ROOT / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture
