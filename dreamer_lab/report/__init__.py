"""Notebook reports (self-contained HTML, Markdown, report.json) and script export.

Layer: rank 3. May import everything below it (core, errors, backends, steps,
trainers) and cards/contamination; never notebook, server or the CLI.
"""

from __future__ import annotations

from dreamer_lab.report.build import build_report, write_report
from dreamer_lab.report.script import export_script

__all__ = ["build_report", "write_report", "export_script"]
