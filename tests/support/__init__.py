"""What the tests share (never imported from a test module): recorded sessions built on the fly
(synth), configurations (configs), ledger helpers across processes (ledger), the page harness
(pages) and local fakes of vendor APIs (fakes). On sys.path through tests/conftest.py."""
