"""A tenant's knowledge base stored in the ledger: ingest (Markdown, text, PDF), replace, delete,
search, tenant isolation, and replays that search it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.configs import recorded_config

from assistant.cli.registry import main
from assistant.core.errors import LedgerError
from assistant.ledger import Ledger
from assistant.ledger.queries import run_requests
from assistant.rag import store
from assistant.rag.bm25 import KnowledgeBase
from assistant.rag.store import KnowledgeError
from assistant.sessions.datasets import load_dataset
from assistant.sessions.replay import replay


def write_pdf(path: Path, lines: list[str]) -> Path:
    """A minimal one-page PDF with a text layer (Helvetica), with a correct cross-reference table."""
    text = " ".join(
        f"({line.replace('(', '[').replace(')', ']')}) Tj 0 -16 Td" for line in lines
    )
    stream = f"BT /F1 12 Tf 72 720 Td {text} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))
    return path


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "security.md").write_text(
        "# Security\n\nSecurity reviews happen every Thursday with the platform team.\n"
    )
    (folder / "travel.txt").write_text("Travel over 500 dollars needs approval from finance.\n")
    write_pdf(folder / "warranty.pdf", ["Warranty claims are answered within 5 business days."])
    return folder


def test_ingest_stores_markdown_text_and_pdf_per_tenant(docs: Path, tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.duckdb") as ledger:
        results = store.ingest_files(ledger, "acme", [docs])
        assert [(r.doc_id, r.kind, r.status) for r in results] == [
            ("security.md", "markdown", "added"),
            ("travel.txt", "text", "added"),
            ("warranty.pdf", "pdf", "added"),
        ]
        chunks = store.stored_chunks(ledger, "acme")
        assert any("5 business days" in c.text for c in chunks)  # the PDF's text layer
        assert store.stored_chunks(ledger, "globex") == []
        again = store.ingest_files(ledger, "acme", [docs / "travel.txt"])
        assert again[0].status == "unchanged"
        (docs / "travel.txt").write_text("Travel over 800 dollars needs approval from finance.\n")
        assert store.ingest_files(ledger, "acme", [docs / "travel.txt"])[0].status == "replaced"
        texts = " ".join(c.text for c in store.stored_chunks(ledger, "acme"))
        assert "800 dollars" in texts and "500 dollars" not in texts
        store.delete_document(ledger, "acme", "security.md")
        assert [d["doc_id"] for d in store.list_documents(ledger, "acme")] == [
            "travel.txt",
            "warranty.pdf",
        ]
        with pytest.raises(LedgerError, match=r"has no document 'security\.md'"):
            store.delete_document(ledger, "acme", "security.md")


def test_tenants_never_see_each_others_chunks(tmp_path: Path) -> None:
    tenants = {"a": "alpha", "a-b": "bravo", "ab": "charlie"}  # prefixes of one another
    with Ledger(tmp_path / "l.duckdb") as ledger:
        for tenant, word in tenants.items():
            doc = tmp_path / tenant / "plan.md"
            doc.parent.mkdir()
            doc.write_text(f"# Plan\n\nThe codename of the plan is {word}.\n")
            store.ingest_files(ledger, tenant, [doc])
        for tenant, word in tenants.items():
            base = KnowledgeBase(tenant, [])
            base.add_chunks(store.stored_chunks(ledger, tenant))
            found = base.search("codename plan alpha bravo charlie", tenant=tenant, k=10)
            assert [p.text.split()[-1] for p in found] == [f"{word}."]
        for hostile in ("a' OR '1'='1", "a; DROP TABLE kb_chunks; --", "A", "a_b"):
            with pytest.raises(KnowledgeError, match="not valid"):
                store.stored_chunks(ledger, store.check_tenant(hostile))
        assert ledger.cursor().execute("SELECT count(*) FROM kb_chunks").fetchall() == [(3,)]


def test_bad_documents_are_refused_with_the_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    big = tmp_path / "big.md"
    big.write_text("word " * 1000)
    with Ledger(tmp_path / "l.duckdb") as ledger:
        cases = [
            (tmp_path / "notes.docx", "cannot ingest .docx"),
            (tmp_path / "latin1.txt", "not UTF-8 text"),
            (tmp_path / "broken.pdf", "not a readable PDF"),
            (tmp_path / "missing.md", "does not exist"),
        ]
        for path, message in cases:
            with pytest.raises(KnowledgeError, match=message) as caught:
                store.ingest_files(ledger, "acme", [path])
            assert path.name in str(caught.value)
        monkeypatch.setattr(store, "MAX_DOCUMENT_BYTES", 1024)
        with pytest.raises(KnowledgeError, match="split it into smaller files"):
            store.ingest_files(ledger, "acme", [big])
        # a batch with one bad file stores nothing
        good = tmp_path / "good.md"
        good.write_text("fine\n")
        with pytest.raises(KnowledgeError):
            store.ingest_files(ledger, "acme", [good, tmp_path / "notes.docx"])
        assert store.list_documents(ledger, "acme") == []


def test_the_kb_command(docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = str(tmp_path / "l.duckdb")
    assert main(["kb", "ingest", "--tenant", "acme", "--ledger", ledger, str(docs)]) == 0
    assert "added     warranty.pdf (pdf" in capsys.readouterr().out
    assert main(["kb", "list", "--tenant", "acme", "--ledger", ledger, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert main(["kb", "search", "--tenant", "acme", "--ledger", ledger, "security reviews"]) == 0
    assert "kb:security.md#1" in capsys.readouterr().out
    assert main(["kb", "search", "--tenant", "globex", "--ledger", ledger, "security"]) == 0
    assert "nothing matched" in capsys.readouterr().out
    assert main(["kb", "delete", "--tenant", "globex", "--ledger", ledger, "security.md"]) == 2
    assert "has no document" in capsys.readouterr().err


def test_a_replay_searches_the_tenants_stored_documents(tiny: Path, tmp_path: Path) -> None:
    doc = tmp_path / "launch.md"
    doc.write_text("# Launch\n\nThe launch date for the partner beta is April 2.\n")
    path = tmp_path / "l.duckdb"
    with Ledger(path) as ledger:
        store.ingest_files(ledger, "acme", [doc])  # tiny's tenant
    notices: list[str] = []
    replay(load_dataset(tiny), ledger=path, config=recorded_config(), run_id="kb",
           notice=notices.append)
    assert "searching 1 stored documents of tenant acme too" in notices
    with Ledger(path) as ledger:
        requests = run_requests(ledger, "kb")
    q1 = requests[requests["question_id"] == "q1"].iloc[0]
    assert "kb:launch.md#1" in q1["retrieval_json"]  # "What is the launch date?"


def test_a_live_session_searches_the_tenants_stored_documents(tmp_path: Path) -> None:
    from assistant.sessions.live import LiveSession, live_stages

    doc = tmp_path / "launch.md"
    doc.write_text("# Launch\n\nThe launch date for the partner beta is April 2.\n")
    path = tmp_path / "l.duckdb"
    with Ledger(path) as ledger:
        store.ingest_files(ledger, "acme", [doc])
    config = recorded_config()
    stages = live_stages(config, tenant="acme", transcript=())
    notices: list[str] = []
    session = LiveSession(ledger=path, config=config, stages=stages, tenant="acme",
                          room="standup", notice=notices.append)
    found = session.pipeline.stages.knowledge.search("launch date", tenant="acme")
    assert [p.source for p in found] == ["kb:launch.md#1"]
    assert "searching 1 stored documents of tenant acme too" in notices
