"""DataDreamer's checks on how a step is written and constructed, with its exception types
(documented in its ``Step`` reference: steps register inputs, arguments and at least one
output in ``setup()``, take their arguments through ``args=``, and implement ``run()``),
and its ``help`` / ``str(step)`` texts."""

from __future__ import annotations

from typing import Any

import pytest

from dreamer_lab.errors import StepFailedError
from dreamer_lab.steps import DataCardType, DataSource, Step


class Echo(Step):
    def setup(self) -> None:
        self.register_input("text", help="The texts.")
        self.register_arg("suffix", required=False, default="!", help="Appended.")
        self.register_output("echo", help="The texts, suffixed.")

    def run(self) -> Any:
        return {"echo": [t + self.args["suffix"] for t in self.inputs["text"]]}


def test_a_step_class_may_not_define_init():
    with pytest.raises(AttributeError, match="overrides __init__.*setup\\(\\)"):

        class Configured(Step):
            def __init__(self, name: str, size: int):
                self.size = size

    class Fine(Echo):  # subclasses that keep Step's constructor are fine
        pass


def test_an_empty_name_is_a_value_error(workspace):
    src = DataSource("src", {"t": ["a"]})
    with pytest.raises(ValueError, match="name is empty"):
        Echo("", inputs={"text": src.output["t"]})
    with pytest.raises(ValueError, match="name is empty"):
        Echo("   ", inputs={"text": src.output["t"]})
    with pytest.raises(TypeError, match="name must be a string"):
        Echo(5, inputs={"text": src.output["t"]})
    assert Echo(inputs={"text": src.output["t"]}).name == "Echo"  # omitted: the class name


def test_setup_must_be_implemented_and_register_an_output(workspace):
    with pytest.raises(NotImplementedError, match="does not implement setup"):
        Step("bare")

    class NoOutputs(Step):
        def setup(self) -> None:
            self.register_arg("n", required=False)

        def run(self) -> Any:
            return {"x": [1]}

    with pytest.raises(ValueError, match="registered no outputs"):
        NoOutputs("none")
    assert not list(workspace.glob("steps/*/record.json"))  # refused before running


def test_run_not_implemented_is_a_not_implemented_error(workspace):
    class NoRun(Step):
        def setup(self) -> None:
            self.register_output("x")

    with pytest.raises(NotImplementedError, match="does not implement run"):
        NoRun("no-run")

    class Unfinished(Step):
        def setup(self) -> None:
            self.register_output("x")

        def run(self) -> Any:
            raise NotImplementedError("the second half")

    with pytest.raises(NotImplementedError, match="the second half"):
        Unfinished("unfinished")

    class Broken(Step):
        def setup(self) -> None:
            self.register_output("x")

        def run(self) -> Any:
            return {"x": [1 / 0]}

    # Other errors from run() keep naming the step that failed.
    with pytest.raises(StepFailedError, match="'broken'.*ZeroDivisionError"):
        Broken("broken")


def test_a_failed_run_is_recorded_in_the_lineage(workspace):
    from dreamer_lab.core.workspace import current_workspace

    class NoRun(Step):
        def setup(self) -> None:
            self.register_output("x")

    with pytest.raises(NotImplementedError):
        NoRun("no-run")
    last = current_workspace().lineage.runs(name="no-run")[0]  # newest first
    assert last["status"] == "failed" and "NotImplementedError" in last["error"]


def test_register_functions_take_names_and_only_in_setup(workspace):
    seen: list[str] = []

    class Checks(Step):
        def setup(self) -> None:
            for register in (self.register_input, self.register_arg, self.register_output):
                with pytest.raises(TypeError, match="takes the name as a string"):
                    register(5)
                seen.append(register.__name__)
            with pytest.raises(TypeError, match="DataCardType"):
                self.register_data_card(5, "http://example.com")
            self.register_output("out")

        def run(self) -> Any:
            self.register_data_card(DataCardType.URL, "http://example.com")  # any time
            return {"out": [1]}

    step = Checks("checks")
    assert seen == ["register_input", "register_arg", "register_output"]
    for register in (step.register_input, step.register_arg, step.register_output):
        with pytest.raises(RuntimeError, match="registered in setup\\(\\) only"):
            register("late")
    step.register_data_card(DataCardType.CITATION, "@misc{x}")  # after construction too


def test_wrong_inputs_and_arguments(workspace):
    src = DataSource("src", {"t": ["a", "b"]})
    with pytest.raises(ValueError, match="missing required input"):
        Echo("e")
    with pytest.raises(TypeError, match="must be a step column"):
        Echo("e", inputs={"text": 5})
    with pytest.raises(ValueError, match="unknown input"):
        Echo("e", inputs={"text": src.output["t"], "other": 6})
    with pytest.raises(ValueError, match="unknown argument"):
        Echo("e", inputs={"text": src.output["t"]}, args={"prefix": "?"})
    with pytest.raises(ValueError):
        Echo("e", inputs={"text": src.output["t"]}, outputs={"nope": "x"})
    assert Echo("e", inputs={"text": src.output["t"]}).output["echo"].to_list() == ["a!", "b!"]


def test_help_on_the_class(workspace):
    class Empty(Step):
        def setup(self) -> None:
            pass

    assert Empty.help == "Empty(\n\tname = 'The name of the step.',\n\toutputs = {},\n)"
    assert Echo.help == (
        "Echo(\n\tname = 'The name of the step.',\n"
        "\tinputs = {\n\t\t'text': 'The texts.'\n\t},\n"
        "\targs = {\n\t\t'suffix': \"Appended. (optional, defaults to '!')\"\n\t},\n"
        "\toutputs = {\n\t\t'echo': 'The texts, suffixed.'\n\t},\n)"
    )


def test_str_describes_the_step(workspace):
    src = DataSource("src", {"t": ["a", "b"]})
    step = Echo("e", inputs={"text": src.output["t"]}, outputs={"echo": "loud"})
    text = str(step)
    assert text.startswith("Echo(\n\tname='e',\n\tinputs={\n\t\t'text': OutputDatasetColumn(")
    assert "\targs={\n\t\t'suffix': '!'\n\t},\n" in text
    assert "\toutputs={\n\t\t'echo' => 'loud'\n\t},\n\tprogress='100%',\n" in text
    assert "\toutput=OutputDataset(column_names=['loud'], num_rows=2, dataset=<Dataset @ " in text
    assert text.endswith(">),\n)")
    assert repr(step).startswith("<Echo 'e' fingerprint=")  # repr stays one line


def test_only_a_super_step_runs_other_steps(workspace):
    from dreamer_lab.steps import SuperStep

    class Inner(Step):
        def setup(self) -> None:
            self.register_output("n")

        def run(self) -> Any:
            return {"n": [1, 2]}

    class Plain(Step):
        def setup(self) -> None:
            self.register_output("n")

        def run(self) -> Any:
            return Inner("inner").output.dataset

    class Composed(SuperStep):
        def setup(self) -> None:
            self.register_output("n")

        def run(self) -> Any:
            return Inner("inner").output.dataset

    with pytest.raises(RuntimeError, match="inside the run\\(\\) of .*not a SuperStep"):
        Plain("plain")
    composed = Composed("composed")
    assert composed.output["n"].to_list() == [1, 2]
    assert [s.name for s in composed.inner_steps] == ["inner"]


def test_output_names_are_the_registered_outputs(workspace):
    src = DataSource("src", {"t": ["a"]})
    step = Echo("e", inputs={"text": src.output["t"]}, outputs={"echo": "loud"})
    assert step.output_names == ("echo",)
    assert step.output.column_names == ["loud"]
