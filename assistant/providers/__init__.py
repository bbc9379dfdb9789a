"""Providers: every call to a model (transcription, screen reading, answering), behind one base
that owns retries, timeouts, timing and usage; one registry from a ``provider:model`` spec to the
provider; one module per vendor SDK.

Layout: ``base`` (the abstract ``Provider``), ``registry`` (spec → provider, per stage), ``keys``
(finding API keys, resolving a cloud spec), ``errors`` (vendor failures in the workbench's error
vocabulary), ``cloud`` (what the cloud adapters share), ``vendors/`` (per SDK), and the stages'
bases and adapters in ``stt/``, ``vision/``, ``llm/``.

May import: assistant.core."""
