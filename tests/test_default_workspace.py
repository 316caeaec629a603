"""Outside a ``with DataDreamer(...)`` block, steps use ./dreamer_workspace (README)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_steps_outside_a_block_use_dreamer_workspace_in_the_current_folder(tmp_path):
    code = (
        "from dreamer_lab.steps import DataSource\n"
        "src = DataSource('src', {'x': [1, 2]})\n"
        "print(src.fingerprint)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DREAMER_LAB_WORKSPACE"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    fp = out.stdout.split()[-1]
    assert (tmp_path / "dreamer_workspace" / "steps" / fp / "record.json").is_file()
