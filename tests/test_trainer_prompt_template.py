"""DataDreamer-style ``chat_prompt_template`` strings in trainers: ``{{prompt}}`` and
``{{system_prompt}}`` are filled as text (as ``HFTransformers`` fills them), never installed
as the tokenizer's Jinja chat template (where ``{{prompt}}`` would render as nothing)."""

from __future__ import annotations

from trainer_fixtures import tiny_llama  # noqa: F401

from dreamer_lab.steps import DataSource

TEMPLATE = "### System: {{system_prompt}}\n### Instruction:\n{{prompt}}\n\n### Response:\n"


def test_instruction_template_is_filled_as_text(workspace, tiny_llama):  # noqa: F811
    from dreamer_lab.trainers import TrainHFDPO, TrainHFFineTune

    trainer = TrainHFFineTune(
        "t", model_name=str(tiny_llama), chat_prompt_template=TEMPLATE, system_prompt="Be brief."
    )
    tok = trainer.load_tokenizer()
    assert not trainer.uses_chat(tok)
    assert tok.chat_template != TEMPLATE
    src = DataSource("pairs", {"q": ["Name a river."], "a": ["The Nile."]})
    rows = trainer._pairs(tok, {"input": src.output["q"], "output": src.output["a"]})
    assert rows[0] == {
        "prompt": "### System: Be brief.\n### Instruction:\nName a river.\n\n### Response:\n",
        "completion": "The Nile.",
    }
    # Without a system prompt the placeholder is left empty; DPO prompts are filled alike.
    dpo = TrainHFDPO("d", model_name=str(tiny_llama), chat_prompt_template=TEMPLATE)
    assert dpo.prompt_text("x") == "### System: \n### Instruction:\nx\n\n### Response:\n"
    # The template is part of what the trainer is: another template, another fingerprint.
    other = TrainHFFineTune("t", model_name=str(tiny_llama), chat_prompt_template="Q: {{prompt}}")
    assert other._identity() != trainer._identity()


def test_jinja_template_is_installed_on_the_tokenizer(workspace, tiny_llama):  # noqa: F811
    from dreamer_lab.trainers import TrainHFFineTune

    jinja = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
    trainer = TrainHFFineTune("t", model_name=str(tiny_llama), chat_prompt_template=jinja)
    tok = trainer.load_tokenizer()
    assert tok.chat_template == jinja and trainer.uses_chat(tok)
    assert trainer.prompt_text("x") == "x"
