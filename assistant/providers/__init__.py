"""Providers: every call to a model (transcription, screen reading, answering), behind one base
that owns retries, timeouts, timing and usage; one registry from a ``provider:model`` spec to the
provider; one folder per vendor SDK.

Layout: ``base`` (the abstract ``Provider``), ``catalog`` (each cloud vendor once: key variables,
display name, adapter per stage, token rules), ``registry`` (spec → provider, per stage), ``keys``
(finding API keys, resolving a cloud spec), ``errors`` (vendor failures in the workbench's error
vocabulary), ``cloud`` (what the cloud adapters share: ``CloudOptions``, ``CloudClient``),
``vendors/<vendor>/`` (``client`` and one adapter per stage), and the stages' bases and local
adapters in ``stt/``, ``vision/``, ``llm/``.

May import: assistant.core."""
