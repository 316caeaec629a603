"""Google's Gemini models: ``GoogleAIStudio`` (the Gemini API) and ``VertexAI`` (Google Cloud),
through litellm (:mod:`dreamer_lab.llms.litellm_base`)."""

from __future__ import annotations

import importlib.util
from typing import Any, ClassVar

from dreamer_lab.llms.base import LLMError
from dreamer_lab.llms.litellm_base import LiteLLM, _env, _only_common, load_litellm

_GEMINI_CITATION = """@article{team2023gemini,
  title={Gemini: A Family of Highly Capable Multimodal Models},
  author={{Gemini Team, Google}},
  journal={arXiv preprint arXiv:2312.11805},
  year={2023}
}"""


_GEMINI_PRICES: dict[str, tuple[float, float]] = {
    "gemini-1.5-flash": (0.075, 0.30),
    "gemini-1.5-pro": (1.25, 5.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.0-flash-lite": (0.075, 0.30),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-pro": (1.25, 10.00),
}
_GEMINI_CONTEXT: dict[str, int] = {
    "gemini-pro": 32_760,
    "gemini-1.0-pro": 32_760,
    "gemini-1.5-flash": 1_048_576,
    "gemini-1.5-pro": 2_097_152,
    "gemini-2.0-flash": 1_048_576,
    "gemini-2.5-flash": 1_048_576,
    "gemini-2.5-pro": 1_048_576,
}


class GoogleAIStudio(LiteLLM):
    """Google's Gemini models through the Gemini API (Google AI Studio).
    Key: ``$GEMINI_API_KEY`` (or ``$GOOGLE_API_KEY``). ``base_url`` includes the version
    (default ``https://generativelanguage.googleapis.com/v1beta``)."""

    backend_name = "google_ai_studio"
    provider = "gemini"
    provider_name = "Google AI Studio"
    extra = "google"
    key_envs = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    base_url_envs = ("GEMINI_API_BASE",)
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"
    supports = frozenset({"n", "stop", "top_p", "seed", "response_format"})
    provider_model_card = "https://ai.google.dev/gemini-api/docs/models"
    provider_license = "https://ai.google.dev/gemini-api/terms"
    PRICES: ClassVar[dict[str, tuple[float, float]]] = dict(_GEMINI_PRICES)
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = dict(_GEMINI_CONTEXT)

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        **kwargs: Any,
    ):
        _only_common(type(self).__name__, kwargs)
        super().__init__(
            model_name,
            api_key=api_key,
            retry_on_fail=retry_on_fail,
            cache_folder_path=cache_folder_path,
            **kwargs,
        )

    @property
    def citation(self) -> list[str] | None:
        return [_GEMINI_CITATION]


class VertexAI(LiteLLM):
    """Gemini (and partner) models on Google Cloud Vertex AI.

    Credentials: Application Default Credentials (``gcloud auth application-default
    login``, or ``$GOOGLE_APPLICATION_CREDENTIALS`` naming a service-account key file), or
    ``vertex_credentials=`` (the path or JSON text of a key file; never stored).
    Project and location: ``vertex_project`` / ``$VERTEXAI_PROJECT`` and
    ``vertex_location`` / ``$VERTEXAI_LOCATION`` (default ``us-central1``).
    """

    backend_name = "vertex_ai"
    provider = "vertex_ai"
    provider_name = "Vertex AI"
    extra = "vertexai"
    base_url_envs = ("VERTEXAI_API_BASE",)
    supports = frozenset({"n", "stop", "top_p", "seed", "response_format"})
    provider_model_card = "https://cloud.google.com/vertex-ai/generative-ai/docs/models"
    provider_license = "https://cloud.google.com/terms"
    PRICES: ClassVar[dict[str, tuple[float, float]]] = dict(_GEMINI_PRICES)
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = dict(_GEMINI_CONTEXT)

    def __init__(
        self,
        model_name: str,
        vertex_project: str | None = None,
        vertex_location: str | None = None,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        **kwargs: Any,
    ):
        _only_common(type(self).__name__, kwargs, {"vertex_credentials"})
        super().__init__(
            model_name,
            vertex_project=vertex_project or _env(("VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT")),
            vertex_location=vertex_location or _env(("VERTEXAI_LOCATION",)) or "us-central1",
            retry_on_fail=retry_on_fail,
            cache_folder_path=cache_folder_path,
            **kwargs,
        )

    def _endpoint(self) -> str:
        root = self.base_url or f"https://{self.vertex_location}-aiplatform.googleapis.com"
        return f"{root} (project {self.vertex_project}, {self.vertex_location})"

    def _check_credentials(self) -> None:
        load_litellm(self.extra, repr(self))
        if importlib.util.find_spec("google.auth") is None:
            raise LLMError(
                f"{self!r} needs the 'google-auth' package. Install it with: "
                'pip install "dreamer-lab[vertexai]".'
            )
        if not self.vertex_project and not self._vertex_credentials:
            raise LLMError(
                f"{self!r}: no Google Cloud project. Pass vertex_project=... or set "
                "VERTEXAI_PROJECT (or GOOGLE_CLOUD_PROJECT)."
            )

    def _auth_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "vertex_project": self.vertex_project,
            "vertex_location": self.vertex_location,
        }
        if self._vertex_credentials:
            kw["vertex_credentials"] = self._vertex_credentials
        return kw

    def _key_hint(self) -> str:
        return (
            "Check the Google Cloud credentials: run `gcloud auth application-default login`, "
            "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or pass "
            "vertex_credentials=... (credentials are not shown here)."
        )

    def _rejected(self) -> str:
        return "the Google Cloud credentials were rejected"

    def _permission_hint(self) -> str:
        return (
            f"Check that the Vertex AI API is enabled in project {self.vertex_project!r} "
            "and that the account has the Vertex AI User role."
        )

    @property
    def citation(self) -> list[str] | None:
        return [_GEMINI_CITATION] if self.model_name.startswith("gemini") else None


__all__ = ["GoogleAIStudio", "VertexAI"]
