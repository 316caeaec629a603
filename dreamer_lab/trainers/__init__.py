"""trainers (DataDreamer names); see the open issues for the backends still to come."""

__all__: list[str] = []
