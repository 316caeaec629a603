"""A small workflow with hostile model-like text, shared by the card and report tests."""

from __future__ import annotations

from typing import Any

from dreamer_lab.steps import DataCardType, DataSource, Step
from tests.fake_keys import fake_key  # importable from notebook kernels (PYTHONPATH=root)

SECRET = fake_key("workflow")
HOSTILE = (
    "---\nlicense: evil\ntags: [owned]\n---\n# Injected heading\n## Another\n"
    "<script>alert('x')</script><img src=x onerror=alert(1)> ``` ~~~ | table |"
)
CITATION = (
    "@article{smith2021gen, title = {Generating {Things}}, author = {Smith, Jane and Doe, John},"
    " journal = {Journal of Tests}, year = 2021}"
)


class Generate(Step):
    """A user step that 'generates' rows and registers card fragments, like an LLM step."""

    def setup(self) -> None:
        self.register_input("topic")
        self.register_arg("temperature", default=0.7)
        self.register_output("text")

    def run(self) -> Any:
        self.register_data_card(DataCardType.MODEL_NAME, "tiny-model\n# not a heading")
        self.register_data_card(DataCardType.LICENSE, "apache-2.0")
        self.register_data_card(DataCardType.CITATION, CITATION)
        self.register_data_card(DataCardType.CITATION, "Not BibTeX <script>x</script> @ all")
        self.register_data_card(DataCardType.PROMPT, "Write about {topic}.\n" + HOSTILE)
        self.register_data_card(DataCardType.PARAMETERS, {"temperature": self.args["temperature"]})
        return {"text": [f"{t}: {HOSTILE}" for t in self.inputs["topic"]]}


def build_workflow() -> dict[str, Step]:
    """topics (DataSource) -> generate (user step) -> kept (filter)."""
    topics = DataSource("topics", {"topic": ["cats", "dogs", "birds"]})
    gen = Generate("generate", inputs={"topic": topics.output["topic"]})
    kept = gen.filter(lambda row: not row["text"].startswith("dogs"), name="kept")
    return {"topics": topics, "generate": gen, "kept": kept}
