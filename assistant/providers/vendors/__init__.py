"""One folder per vendor (``<vendor>/client.py``: SDK, client, error mapping; one module per stage
it serves: ``llm.py``, ``vision.py``, ``stt.py``). Each vendor is listed once in
``providers.catalog``, which names these adapters."""
