"""OpenAI and every server that speaks its API (Ollama, vLLM, llama.cpp, LM Studio): ``client`` (the lazy SDK import, a client that never retries, usage and error
mapping), ``llm``: streamed answers; ``vision``: screen reading. Its key variables and adapter classes are listed in ``providers.catalog``."""
