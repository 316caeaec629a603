"""LLM backends (DataDreamer's names). Backends are added by the models issue."""

__all__: list[str] = []
