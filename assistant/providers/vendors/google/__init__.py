"""Google's Gemini API (google-genai): ``client`` (the lazy SDK import, a client that never retries, usage and error
mapping), ``llm``: streamed answers; ``vision``: screen reading. Its key variables and adapter classes are listed in ``providers.catalog``."""
