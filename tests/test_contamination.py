"""The contamination check: evaluation rows found (exactly or nearly) in synthetic outputs."""

from __future__ import annotations

from typing import Any

import pytest

import dreamer_lab
from dreamer_lab.errors import StepInputError
from dreamer_lab.steps import DataCardType, DataSource, Step

EVAL = [
    "What is the capital of France? Paris.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "A completely unrelated evaluation sentence about tax law.",
]


class Gen(Step):
    """Stands for an LLM step: registers a model and emits rows built from its input."""

    def setup(self) -> None:
        self.register_input("seed")
        self.register_output("generation")

    def run(self) -> Any:
        self.register_data_card(DataCardType.MODEL_NAME, "tiny-llm")
        return {"generation": [f"{s}" for s in self.inputs["seed"]]}


@pytest.fixture
def synthetic(workspace):
    seeds = DataSource(
        "seeds",
        {
            "seed": [
                "what is the CAPITAL of france?? paris",  # exact after normalization
                "The quick brown fox jumps over the lazy dog near the river banks.",  # near
                "Photosynthesis turns sunlight into sugar.",  # related, not near
                "Nothing to see here.",
            ]
        },
    )
    gen = Gen("generate", inputs={"seed": seeds.output["seed"]})
    kept = gen.filter(lambda r: "Nothing" not in r["generation"], name="kept")
    # The evaluation set itself stored as a data source: user data, not synthetic.
    DataSource("eval copy", {"text": EVAL})
    return {"seeds": seeds, "gen": gen, "kept": kept}


def test_reports_exact_and_near_matches_with_step_and_row(synthetic, workspace):
    report = dreamer_lab.contamination(EVAL, workspace)
    assert report.contaminated_rows == [0, 1]
    assert report.eval_rows == 4 and report.rate == 0.5
    by_step = {(m["eval_index"], m["step"]): m for m in report.matches}
    exact = by_step[(0, "generate")]
    assert exact["match"] == "exact" and exact["similarity"] == 1.0
    assert exact["row"] == 0 and exact["column"] == "generation"
    assert exact["fingerprint"] == synthetic["gen"].fingerprint
    near = by_step[(1, "generate")]
    assert near["match"] == "near" and 0.8 <= near["similarity"] < 1.0 and near["row"] == 1
    # Downstream copies are reported too, with their own row numbers.
    assert by_step[(1, "kept")]["row"] == 1
    # Data sources (the user's own data, including the eval set) are not synthetic.
    scanned = {s["name"] for s in report.scanned_steps}
    assert scanned == {"generate", "kept"}
    assert "eval copy" not in {m["step"] for m in report.matches}


def test_threshold_and_scope_options(synthetic, workspace):
    strict = dreamer_lab.contamination(EVAL, workspace, threshold=1.0)
    assert strict.contaminated_rows == [0]
    everything = dreamer_lab.contamination(EVAL, workspace, include_all=True)
    assert everything.contaminated_rows == [0, 1, 2, 3]  # the stored eval copy matches all
    only = dreamer_lab.contamination(EVAL, workspace, steps=["kept"])
    assert {m["step"] for m in only.matches} == {"kept"}


def test_accepts_columns_datasets_and_step_columns(synthetic, workspace):
    import datasets

    rows = dreamer_lab.contamination(
        {"question": ["What is the capital of France?", "x"], "answer": ["Paris.", "y"]}, workspace
    )
    assert rows.contaminated_rows == [0]
    ds = datasets.Dataset.from_dict({"text": EVAL, "label": [0, 1, 0, 1]})
    assert dreamer_lab.contamination(ds, workspace).contaminated_rows == [0, 1]
    # A step column as the eval set: the step itself is not compared with itself.
    col = dreamer_lab.contamination(synthetic["gen"].output["generation"], workspace)
    assert "generate" not in {m["step"] for m in col.matches}
    assert col.contaminated_rows == [0, 1, 2]  # found again in 'kept'


def test_markdown_view_escapes_model_text(workspace):
    src = DataSource("s", {"seed": ["<script>alert(1)</script> | evil"]})
    Gen("generate", inputs={"seed": src.output["seed"]})
    report = dreamer_lab.contamination(["<script>alert(1)</script> | evil"], workspace)
    md = report._repr_markdown_()
    assert "<script>" not in md and "&lt;script&gt;" in md and "&#124; evil" in md
    assert report.to_dict()["matches"][0]["text"].startswith("<script>")


def test_bad_input_is_explained(synthetic, workspace):
    with pytest.raises(StepInputError, match="single string"):
        dreamer_lab.contamination("just one string", workspace)
    with pytest.raises(StepInputError, match="no step named"):
        dreamer_lab.contamination(EVAL, workspace, steps=["missing"])
    with pytest.raises(StepInputError, match="columns"):
        dreamer_lab.contamination({"a": ["x"]}, workspace, columns=["b"])
    with pytest.raises(StepInputError, match="threshold"):
        dreamer_lab.contamination(EVAL, workspace, threshold=0)
