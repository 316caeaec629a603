"""Models on Amazon Bedrock (Converse API), through litellm
(:mod:`dreamer_lab.llms.litellm_base`)."""

from __future__ import annotations

import importlib.util
import os
from typing import Any, ClassVar

from dreamer_lab.core.secrets import register_secret
from dreamer_lab.llms.base import LLMError
from dreamer_lab.llms.litellm_base import LiteLLM, _env, _only_common, load_litellm


class Bedrock(LiteLLM):
    """Models on Amazon Bedrock, through the Converse API.

    Credentials: ``aws_access_key_id`` / ``aws_secret_access_key`` (and
    ``aws_session_token``), else ``$AWS_ACCESS_KEY_ID`` / ``$AWS_SECRET_ACCESS_KEY``, else
    the AWS credential chain (profiles, SSO, instance roles). Region: ``aws_region_name``,
    ``$AWS_REGION``, ``$AWS_DEFAULT_REGION`` (default ``us-east-1``). ``base_url`` is the
    Bedrock runtime endpoint (``$AWS_BEDROCK_RUNTIME_ENDPOINT``), e.g. a VPC endpoint.
    """

    backend_name = "bedrock"
    provider = "bedrock/converse"
    provider_name = "Amazon Bedrock"
    extra = "bedrock"
    base_url_envs = ("AWS_BEDROCK_RUNTIME_ENDPOINT",)
    supports = frozenset({"stop", "top_p", "response_format"})
    provider_model_card = "https://aws.amazon.com/bedrock/"
    provider_license = "https://aws.amazon.com/service-terms/"
    PRICES: ClassVar[dict[str, tuple[float, float]]] = {
        "anthropic.claude-3-haiku": (0.25, 1.25),
        "anthropic.claude-3-5-haiku": (0.80, 4.00),
        "anthropic.claude-3-sonnet": (3.00, 15.00),
        "anthropic.claude-3-5-sonnet": (3.00, 15.00),
        "anthropic.claude-3-7-sonnet": (3.00, 15.00),
        "anthropic.claude-sonnet-4": (3.00, 15.00),
        "anthropic.claude-3-opus": (15.00, 75.00),
        "meta.llama3-8b-instruct": (0.30, 0.60),
        "meta.llama3-70b-instruct": (2.65, 3.50),
        "amazon.nova-micro": (0.035, 0.14),
        "amazon.nova-lite": (0.06, 0.24),
        "amazon.nova-pro": (0.80, 3.20),
        "mistral.mistral-large": (4.00, 12.00),
    }
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = {
        "anthropic.claude-v2": 100_000,
        "anthropic.claude-instant": 100_000,
        "anthropic.claude-3": 200_000,
        "anthropic.claude-sonnet-4": 200_000,
        "anthropic.claude-opus-4": 200_000,
        "meta.llama3": 8_192,
        "meta.llama3-1": 128_000,
        "meta.llama3-2": 128_000,
        "meta.llama3-3": 128_000,
        "amazon.nova-micro": 128_000,
        "amazon.nova-lite": 300_000,
        "amazon.nova-pro": 300_000,
        "mistral.mistral-large": 128_000,
    }

    def __init__(
        self,
        model_name: str,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_region_name: str | None = None,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        **kwargs: Any,
    ):
        _only_common(type(self).__name__, kwargs, {"aws_session_token"})
        super().__init__(
            model_name,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_region_name=aws_region_name
            or _env(("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_REGION_NAME"))
            or "us-east-1",
            retry_on_fail=retry_on_fail,
            cache_folder_path=cache_folder_path,
            **kwargs,
        )

    def _endpoint(self) -> str:
        return self.base_url or f"https://bedrock-runtime.{self.aws_region_name}.amazonaws.com"

    def _route(self) -> str:
        if self.model_name.startswith("bedrock/"):
            return self.model_name
        return f"{self.provider}/{self.model_name}"

    def _table_name(self) -> str:
        # Cross-region inference profiles (``us.anthropic.claude-...``) price like the model.
        head, _, rest = self.model_name.partition(".")
        return (
            rest if head in ("us", "eu", "apac", "global", "us-gov") and rest else self.model_name
        )

    def _context_length(self) -> int | None:
        if self.max_context_length is not None:
            return self.max_context_length
        from dreamer_lab.llms.api_llm import lookup_model

        return lookup_model(self.CONTEXT_LENGTHS, self._table_name())

    def _price_entry(self) -> tuple[float, float] | None:
        from dreamer_lab.llms.api_llm import lookup_model
        from dreamer_lab.llms.openai import price_of

        return lookup_model(self.PRICES, self._table_name()) or price_of(self.model_name)

    def _aws(self) -> dict[str, Any]:
        key_id = self._aws_access_key_id or os.environ.get("AWS_ACCESS_KEY_ID")
        secret = self._aws_secret_access_key or os.environ.get("AWS_SECRET_ACCESS_KEY")
        token = self._aws_session_token or (
            os.environ.get("AWS_SESSION_TOKEN") if not self._aws_access_key_id else None
        )
        for value in (key_id, secret, token):
            register_secret(value)
        return {"key_id": key_id, "secret": secret, "token": token}

    def _check_credentials(self) -> None:
        load_litellm(self.extra, repr(self))
        if importlib.util.find_spec("boto3") is None:
            raise LLMError(
                f"{self!r} needs the 'boto3' package. Install it with: "
                'pip install "dreamer-lab[bedrock]".'
            )
        aws = self._aws()
        if self._keys_not_restored and not (aws["key_id"] and aws["secret"]):
            raise LLMError(
                f"{self!r} was restored from a saved copy (a %%dream cache hit or a pickle), "
                "and credentials are never saved. Set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or an AWS profile), or create the object again."
            )
        if bool(aws["key_id"]) != bool(aws["secret"]):
            raise LLMError(
                f"{self!r}: only half of an AWS key pair was given. Pass both "
                "aws_access_key_id and aws_secret_access_key (or set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY)."
            )

    def _auth_kwargs(self) -> dict[str, Any]:
        aws = self._aws()
        kw: dict[str, Any] = {"aws_region_name": self.aws_region_name}
        if aws["key_id"] and aws["secret"]:
            kw["aws_access_key_id"] = aws["key_id"]
            kw["aws_secret_access_key"] = aws["secret"]
            if aws["token"]:
                kw["aws_session_token"] = aws["token"]
        return kw

    def _base_kwargs(self) -> dict[str, Any]:
        return {"aws_bedrock_runtime_endpoint": self.base_url} if self.base_url else {}

    def _key_hint(self) -> str:
        return (
            "Check the AWS credentials (aws_access_key_id / aws_secret_access_key, "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or your AWS profile) and "
            f"aws_region_name={self.aws_region_name!r} (credentials are not shown here)."
        )

    def _rejected(self) -> str:
        return "the AWS credentials were rejected"

    def _permission_hint(self) -> str:
        return (
            f"Enable access to this model in the Bedrock console ({self.aws_region_name}) "
            "and check that the IAM policy allows bedrock:InvokeModel."
        )


__all__ = ["Bedrock"]
