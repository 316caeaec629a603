"""Library noise stays out of notebook cells: progress bars off, output and harmless warnings
captured into the view's details, dreamer_lab's own warnings still shown."""

from __future__ import annotations

import sys
import textwrap
import warnings

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from dreamer_lab.errors import DreamerWarning
from dreamer_lab.notebook import quiet


def test_captured_keeps_library_output_and_reemits_own_warnings():
    with warnings.catch_warnings(record=True) as outer:
        warnings.simplefilter("always")
        with quiet.captured() as details:
            print("Map: 100%|##########| 4/4")
            print("\r 50%|####\r100%|########", file=sys.stderr)
            warnings.warn("`x` is deprecated", FutureWarning, stacklevel=1)
            warnings.warn("entry quarantined", DreamerWarning, stacklevel=1)
    lines = details.lines()
    assert "Map: 100%|##########| 4/4" in lines and " 50%|####" in lines
    assert any(line.startswith("FutureWarning: `x` is deprecated") for line in lines)
    assert [str(w.message) for w in outer] == ["entry quarantined"]


@pytest.fixture
def ip(workspace):
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "dreamer_lab")
    before = set(shell.user_ns)
    yield shell
    for name in set(shell.user_ns) - before:
        shell.user_ns.pop(name, None)
    shell.run_line_magic("unload_ext", "dreamer_lab")


def test_a_dream_cell_prints_no_library_noise_and_bars_are_off(ip):
    import datasets
    from huggingface_hub.utils import are_progress_bars_disabled

    assert not datasets.is_progress_bar_enabled() and are_progress_bars_disabled()
    code = textwrap.dedent(
        """
        import sys, warnings
        from dreamer_lab.steps import Step

        class Noisy(Step):
            def setup(self):
                self.register_output("x")

            def run(self):
                print("Writing model shards: 100%|#####| 1/1", file=sys.stderr)
                warnings.warn("`gradient_checkpointing` is deprecated", FutureWarning)
                return {"x": ["a"]}
        """
    )
    with capture_output() as cap:
        ip.run_cell(code)
        result = ip.run_cell("%dream n = Noisy()")
    assert result.error_in_exec is None
    assert "Writing model shards" not in cap.stdout + cap.stderr
    assert "deprecated" not in cap.stdout + cap.stderr
    assert "n (Noisy): computed, 1 rows" in cap.outputs[-1].data["text/plain"]
