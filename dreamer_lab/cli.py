"""The ``dreamer-lab`` command: inspect and maintain workspaces, run the demo workflow."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dreamer_lab._version import __version__
from dreamer_lab.core.object_store import is_url
from dreamer_lab.core.workspace import DEFAULT_WORKSPACE
from dreamer_lab.errors import CorruptEntryError

DEFAULT_WS = os.environ.get("DREAMER_LAB_WORKSPACE", DEFAULT_WORKSPACE)


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, its arguments (``configure``) and what it runs.

    ``run(args)`` returns the exit status; a :class:`DreamerError` it raises is printed as
    one ``error:`` line and exits with ``error_status``. The first line of ``run``'s
    docstring is the command's help (as click does).
    """

    name: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    error_status: int = 2

    @property
    def help(self) -> str:
        first = (self.run.__doc__ or "").strip().splitlines()[0]
        return first[:1].lower() + first[1:].rstrip(".")


def _ws_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-w",
        "--workspace",
        default=DEFAULT_WS,
        help=f"workspace folder or object-store URL such as s3://bucket/prefix (default: "
        f"{DEFAULT_WS}, or $DREAMER_LAB_WORKSPACE)",
    )


def _open(path: str) -> Any:
    from dreamer_lab.core.workspace import open_workspace

    return open_workspace(path)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# -- ls -------------------------------------------------------------------------------------
def _ls_args(p: argparse.ArgumentParser) -> None:
    _ws_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON")


def _ls(args: argparse.Namespace) -> int:
    """List the steps in a workspace (name, fingerprint, rows, status)."""
    from dreamer_lab.core.graph import ReadOnlyWorkspace, build_graph

    if is_url(args.workspace):  # object storage: sync its records into the local cache first
        ws = ReadOnlyWorkspace(_open(args.workspace).path)
    else:
        ws = ReadOnlyWorkspace.open(args.workspace)  # a reader: creates and changes nothing
    try:
        graph = build_graph(ws)
    finally:
        ws.lineage.close()
    if ws.lineage.problem:
        print(f"warning: {ws.lineage.problem}", file=sys.stderr)
    if args.json:
        print(json.dumps(graph.to_dict(), indent=2))
        return 0
    if not graph.nodes:
        print(f"No steps in {args.workspace}.")
        return 0
    width = max(len(n["name"]) for n in graph.nodes)
    print(f"{'NAME':<{width}}  {'KIND':<16} {'FINGERPRINT':<12}  {'ROWS':>8}  STATUS")
    for n in graph.nodes:
        rows = "" if n.get("rows") is None else n["rows"]
        print(
            f"{n['name']:<{width}}  {n['kind'][:16]:<16} {n['fingerprint'][:12]}  {rows:>8}  {n['status']}"
        )
    return 0


# -- show -----------------------------------------------------------------------------------
def _show_args(p: argparse.ArgumentParser) -> None:
    _ws_arg(p)
    p.add_argument("ref", help="fingerprint, fingerprint prefix, or step name")
    p.add_argument("--rows", type=int, default=5, help="sample rows to print (default 5)")


def resolve_ref(ws: Any, ref: str) -> tuple[Any, str]:
    """Find an entry by fingerprint prefix or by name (latest run). Returns (store, fp)."""
    for store in (ws.steps, ws.models):
        matches = [fp for fp in store.fingerprints() if fp.startswith(ref)]
        if len(matches) == 1:
            return store, matches[0]
        if len(matches) > 1:
            raise SystemExit(f"error: {ref!r} matches {len(matches)} entries; give more digits.")
    runs = [r for r in ws.lineage.runs(ref, limit=50) if r["status"] in ("done", "hit")]
    for r in runs:
        for store in (ws.steps, ws.models):
            if store.exists(r["fingerprint"]):
                return store, r["fingerprint"]
    raise SystemExit(f"error: no entry {ref!r} in {ws.path}. Run `dreamer-lab ls` to list them.")


def _show(args: argparse.Namespace) -> int:
    """Show one entry's record (by fingerprint or unique prefix, or by step name)."""
    ws = _open(args.workspace)
    store, fp = resolve_ref(ws, args.ref)
    entry = store.load(fp)
    if entry is None:
        print(f"error: entry {fp} is corrupt and was quarantined.", file=sys.stderr)
        return 1
    rec = dict(entry.record)
    rec.pop("files", None)
    print(json.dumps(rec, indent=2, sort_keys=True, default=str))
    if entry.has_data and args.rows:
        ds = entry.dataset()
        print(f"\n{ds.num_rows} rows; first {min(args.rows, ds.num_rows)}:")
        for row in ds.select(range(min(args.rows, ds.num_rows))):
            print(json.dumps(row, ensure_ascii=False, default=str)[:300])
    return 0


# -- gc -------------------------------------------------------------------------------------
def _gc_args(p: argparse.ArgumentParser) -> None:
    _ws_arg(p)
    p.add_argument("--dry-run", action="store_true", help="only report what would be deleted")


def _gc(args: argparse.Namespace) -> int:
    """Delete entries no current step depends on; report bytes freed."""
    from dreamer_lab.core.gc import collect

    ws = _open(args.workspace)
    if getattr(ws, "url", None):
        print(
            f"error: gc deletes from local workspaces only; {ws.url} is shared by everyone who "
            "opens it. Expire old objects with a bucket lifecycle rule, and delete the local "
            f"cache folder {ws.path} to free space on this machine.",
            file=sys.stderr,
        )
        return 2
    report = collect(ws, dry_run=args.dry_run)
    verb = "would free" if args.dry_run else "freed"
    print(
        f"{len(report.deleted)} unreferenced entries, {verb} {_human(report.bytes_freed)} ({report.bytes_freed} bytes); kept {report.kept}."
    )
    for fp, name in report.deleted:
        print(f"  {fp[:12]}  {name}")
    return 0


# -- verify ---------------------------------------------------------------------------------
def _verify_args(p: argparse.ArgumentParser) -> None:
    _ws_arg(p)
    p.add_argument("--quarantine", action="store_true", help="move corrupt entries to quarantine/")


def _verify(args: argparse.Namespace) -> int:
    """Recheck every entry: record.json's digest, each file's digest, row counts, signatures.

    Prints one line per corrupt entry (and per note); exits 1 if any entry is corrupt.
    """
    ws = _open(args.workspace)
    bad = untrusted = noted = total = 0
    for store in (ws.steps, ws.models):
        for fp in store.fingerprints():
            total += 1
            if hasattr(store, "fetch") and not store.exists(fp):  # object storage: download
                try:
                    store.fetch(fp)  # checks every digest before the entry reaches the cache
                except CorruptEntryError as e:
                    bad += 1
                    print(f"CORRUPT {fp[:12]}: {e}")
                    if args.quarantine:
                        store.quarantine_remote(fp, str(e))
                    continue
            problems, notes = store.inspect(fp)
            if problems:
                bad += 1
                print(f"CORRUPT {fp[:12]}: " + "; ".join(problems))
                if args.quarantine:
                    store.quarantine(fp, "; ".join(problems))
                continue
            foreign = store.untrusted_objects(fp)
            if foreign:
                untrusted += 1
                print(f"UNTRUSTED {fp[:12]}: " + "; ".join(foreign))
            if notes:
                noted += 1
                print(f"NOTE {fp[:12]}: " + "; ".join(notes))
    summary = f"{total} entries checked, {bad} corrupt"
    if untrusted:
        summary += f", {untrusted} with objects not signed for them under your key"
    if noted:
        summary += f", {noted} with notes"
    print(summary + ".")
    if bad and not args.quarantine:
        print(
            "Fix: `dreamer-lab verify --quarantine` moves corrupt entries aside; the next run "
            "recomputes them."
        )
    return 1 if bad or untrusted else 0


# -- demo -----------------------------------------------------------------------------------
def _demo_args(p: argparse.ArgumentParser) -> None:
    _ws_arg(p)


def _demo(args: argparse.Namespace) -> int:
    """Run the small end-to-end demo workflow into a workspace."""
    from dreamer_lab.demo import run_demo

    run_demo(Path(args.workspace))
    return 0


# -- card -----------------------------------------------------------------------------------
def _card_args(p: argparse.ArgumentParser) -> None:
    _ws_arg(p)
    p.add_argument("ref", help="fingerprint, fingerprint prefix, or step/trainer name")
    p.add_argument("-o", "--out", help="folder for README.md and card.json (default: print)")
    p.add_argument("--json", action="store_true", help="print the JSON form instead of Markdown")
    p.add_argument("--intended-use", help="text of the 'Intended use' section")
    p.add_argument("--limitations", help="text of the 'Limitations' section")


def _card(args: argparse.Namespace) -> int:
    """Write the data card (step) or model card (trained model) of an entry."""
    from dreamer_lab.cards import card_for

    ws = _open(args.workspace)
    _store, fp = resolve_ref(ws, args.ref)
    card = card_for(fp, ws, intended_use=args.intended_use, limitations=args.limitations)
    if args.out:
        paths = card.save(args.out)
        print(f"Wrote {paths['markdown']} and {paths['json']}.")
    else:
        print(card.to_json() if args.json else card.markdown)
    return 0


# -- report ---------------------------------------------------------------------------------
def _notebook_args(p: argparse.ArgumentParser, out: str, workspace: str) -> None:
    """The notebook, ``-o/--out`` and ``-w/--workspace`` (default: None) of notebook commands."""
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument("-o", "--out", help=out)
    p.add_argument("-w", "--workspace", default=None, help=workspace)


def _report_args(p: argparse.ArgumentParser) -> None:
    _notebook_args(
        p,
        out="output folder (default: <notebook>_report next to it)",
        workspace=f"workspace folder (default: $DREAMER_LAB_WORKSPACE or {DEFAULT_WORKSPACE} "
        "next to the notebook)",
    )
    p.add_argument("--hide-inputs", action="store_true", help="leave code cells' sources out")


def _report(args: argparse.Namespace) -> int:
    """Export a notebook's report: self-contained HTML, Markdown, report.json, cards."""
    from dreamer_lab.report import write_report

    nb = Path(args.notebook)
    out = Path(args.out) if args.out else nb.with_name(f"{nb.stem}_report")
    paths = write_report(nb, out, hide_inputs=args.hide_inputs, workspace=args.workspace)
    print(f"Report: {paths['html']}")
    print(f"Markdown: {paths['markdown']}")
    print(f"JSON: {paths['json']}")
    for key, path in paths.items():
        if key.startswith("card:"):
            print(f"Card: {path}")
    return 0


# -- export-script --------------------------------------------------------------------------
def _export_script_args(p: argparse.ArgumentParser) -> None:
    _notebook_args(
        p,
        out="script path (default: <notebook>.py next to it)",
        workspace="workspace with the notebook's runs (default: $DREAMER_LAB_WORKSPACE or "
        f"{DEFAULT_WORKSPACE} next to the notebook)",
    )


def _export_script(args: argparse.Namespace) -> int:
    """Write a Python script that re-runs a notebook and checks fingerprints."""
    from dreamer_lab.report import export_script

    nb = Path(args.notebook)
    out = Path(args.out) if args.out else nb.with_suffix(".py")
    text = export_script(nb, args.workspace)
    out.write_text(text, encoding="utf-8")
    print(f"Wrote {out}; run it with `python {out}` (exit status 1 if a fingerprint differs).")
    return 0


# -- run ------------------------------------------------------------------------------------
def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument(
        "-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
        help="set a parameter (injected after the cell tagged 'parameters'); repeatable",
    )  # fmt: skip
    p.add_argument("-o", "--out", help="output folder (default: <notebook>_report next to it)")
    p.add_argument("-w", "--workspace", default=None, help="workspace folder for the run")
    p.add_argument("--hide-inputs", action="store_true", help="leave code out of the report")
    p.add_argument("--timeout", type=int, default=3600, help="seconds per cell (default 3600)")


def _run(args: argparse.Namespace) -> int:
    """Execute a notebook headless (fresh kernel), then write its report."""
    from dreamer_lab.runner import parse_parameters, run_notebook

    run_notebook(
        args.notebook,
        args.out,
        parameters=parse_parameters(args.parameter),
        workspace=args.workspace,
        hide_inputs=args.hide_inputs,
        timeout=args.timeout,
    )
    return 0


# -- compact --------------------------------------------------------------------------------
def _compact_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="the object-storage workspace, e.g. s3://bucket/prefix")


def _compact(args: argparse.Namespace) -> int:
    """Merge an object-storage workspace's request-cache batches into one object per backend.

    Safe while other machines use the workspace; corrupt batches are left in place.
    """
    import warnings

    from dreamer_lab.core.remote_compact import compact_requests

    if not is_url(args.url):
        print(
            f"error: {args.url} is a local path; compact works on object-storage workspaces "
            "(s3://bucket/prefix). A local workspace keeps each request cache in one SQLite "
            "file and needs no compaction.",
            file=sys.stderr,
        )
        return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = compact_requests(args.url)
    for w in caught:
        print("warning: " + " ".join(str(w.message).split()), file=sys.stderr)
    if not results:
        print(f"No request-cache batches in {args.url}.")
    for r in results:
        line = f"{r.backend}: {r.listed} batches"
        if r.written:
            line += (
                f" -> 1 ({r.requests} requests, {_human(r.bytes_before)} -> "
                f"{_human(r.bytes_after)}); deleted {r.merged} in {r.seconds:.1f} s"
            )
        else:
            line += ", nothing to merge"
        if r.refused:
            line += f"; {len(r.refused)} corrupt, left in place"
        if r.vanished:
            line += f"; {r.vanished} gone before the download (another compaction?), left alone"
        print(line + ".")
    return 1 if any(r.refused for r in results) else 0


COMMANDS: tuple[Command, ...] = (
    Command("ls", _ls_args, _ls),
    Command("show", _show_args, _show),
    Command("gc", _gc_args, _gc),
    Command("verify", _verify_args, _verify),
    Command("compact", _compact_args, _compact),
    Command("demo", _demo_args, _demo),
    Command("card", _card_args, _card),
    Command("report", _report_args, _report),
    Command("export-script", _export_script_args, _export_script),
    Command("run", _run_args, _run, error_status=1),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dreamer-lab",
        description="Reproducible synthetic-data and LLM workflows: inspect and maintain workspaces.",
    )
    parser.add_argument("--version", action="version", version=f"dreamer-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(command_spec=cmd)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    from dreamer_lab.errors import DreamerError, WorkspaceError

    cmd: Command = args.command_spec
    try:
        return cmd.run(args)
    except DreamerError as e:  # every dreamer_lab error: one line and a non-zero exit
        print("error: " + " ".join(str(e).split("\n")), file=sys.stderr)
        return 2 if isinstance(e, WorkspaceError) else cmd.error_status


if __name__ == "__main__":
    sys.exit(main())
