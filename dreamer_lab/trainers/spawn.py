"""``device=[...]`` in one process (a notebook): one training process per device.

DataDreamer starts its own processes for a device list; so does this module, through
``accelerate launch`` (the launcher the distributed path already relies on). The trainer
and its ``train...()`` call are cloudpickled (notebook functions such as reward functions
pickle by value) into a signed file under the workspace's ``tmp/``, with every step and
column replaced by a reference to its stored output, so neither data nor loaded models
cross over. Each worker opens the same workspace, rebuilds the columns from the stored
steps and calls the same method again: the ordinary distributed path, where the main rank
commits the model. The calling process then loads the committed model.
"""

from __future__ import annotations

import copy
import io
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from dreamer_lab.core.secrets import scrub_text
from dreamer_lab.core.signing import dump_signed, load_signed
from dreamer_lab.core.workspace import Workspace, current_workspace
from dreamer_lab.errors import StepFailedError, StepInputError
from dreamer_lab.steps.output import OutputColumn, OutputDataset

_TAIL_LINES = 40


def parse_devices(device: Any, where: str) -> list[str] | None:
    """A device list as ``"cuda:N"`` / ``"cpu"`` strings (``None`` if ``device`` is not a
    list). Raises before any loading on an empty list or an unknown entry."""
    if not isinstance(device, list | tuple):
        return None
    out = []
    for d in device:
        s = str(d)
        if isinstance(d, int) and d >= 0:
            out.append(f"cuda:{d}")
        elif s == "cpu" or (s.startswith("cuda:") and s[5:].isdigit()):
            out.append(s)
        else:
            raise StepInputError(
                f"{where}: device list entry {d!r} is not a GPU index (0, 1, ...), "
                "'cuda:N' or 'cpu'. Example: device=[0, 1]."
            )
    if not out:
        raise StepInputError(f"{where}: device=[] names no device; use device=[0, 1] or None.")
    if len({d == "cpu" for d in out}) > 1:
        raise StepInputError(f"{where}: device list {device!r} mixes CPU and GPUs; use one kind.")
    return out


class StoredStep:
    """A finished step read back from the workspace by fingerprint (in a worker)."""

    def __init__(self, fingerprint: str, name: str):
        ws = current_workspace()
        entry = ws.steps.load(fingerprint)
        if entry is None or not entry.has_data:
            raise StepInputError(
                f"Step {name!r} ({fingerprint[:12]}) has no stored output in {ws.path}, so "
                "the training processes cannot read it. Train from steps that are not lazy."
            )
        self.fingerprint = fingerprint
        self.name = name
        self.record = entry.record
        self.output = OutputDataset(self, entry.dataset())

    def __repr__(self) -> str:
        return f"StoredStep({self.name!r}, {self.fingerprint[:12]})"


def _column(fingerprint: str, name: str, column: str) -> OutputColumn:
    return OutputColumn(StoredStep(fingerprint, name), column)  # type: ignore[arg-type]


def _dumps(obj: Any) -> bytes:
    import cloudpickle

    from dreamer_lab.steps.step import Step

    class Pickler(cloudpickle.Pickler):
        def reducer_override(self, o: Any) -> Any:
            if isinstance(o, OutputColumn):
                return _column, (o.step.fingerprint, o.step.name, o.column_name)
            if isinstance(o, Step | StoredStep):
                return StoredStep, (o.fingerprint, o.name)
            if isinstance(o, Workspace):
                return current_workspace, ()
            return super().reducer_override(o)

    buf = io.BytesIO()
    Pickler(buf).dump(obj)
    return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_on_devices(
    trainer: Any,
    call: tuple[str, tuple, dict],
    ws: Workspace,
    fingerprint: str,
    devices: list[str],
    env: dict[str, str] | None = None,
) -> None:
    """Run ``trainer.<method>(*args, **kwargs)`` in one process per device and wait; the
    main worker commits the model to ``ws``. Worker output is relayed to stderr."""
    method, args, kwargs = call
    clone = copy.copy(trainer)
    clone.__dict__.update(_train_call=None, _reporter=None, _entry=None, cache_hit=None)
    name = f"{fingerprint}.{socket.gethostname()}.{os.getpid()}.spawn{uuid.uuid4().hex[:8]}"
    folder = ws.path / "tmp" / name  # removed on open once this process is gone
    folder.mkdir(parents=True)
    spec = folder / "call.joblib"
    try:
        dump_signed(_dumps((clone, method, args, kwargs)), spec)
        env = {**os.environ, **(env or {})}
        if devices[0] == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""  # the processes talk over gloo
        else:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(d.split(":")[1] for d in devices)
        cmd = [
            sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
            "--num_processes", str(len(devices)), "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_ip", "127.0.0.1", "--main_process_port", str(_free_port()),
            "-m", "dreamer_lab.trainers.spawn", str(spec), str(ws.path),
        ]  # fmt: skip
        tail: deque[str] = deque(maxlen=_TAIL_LINES)
        with subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        ) as proc:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    tail.append(line)
                    sys.stderr.write(line)
            except BaseException:  # a kernel interrupt stops the workers too
                proc.terminate()  # the launcher passes SIGTERM on to every worker
                raise
            code = proc.wait()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if code != 0:
        raise StepFailedError(
            f"{trainer._where()}: training on devices {devices} failed (exit code {code}). "
            "Last lines of the training processes:\n" + scrub_text("".join(tail))
        )


def main(argv: list[str] | None = None) -> None:
    """Worker entry point (``accelerate launch -m dreamer_lab.trainers.spawn SPEC WS``)."""
    import cloudpickle

    from dreamer_lab import DataDreamer

    spec, ws = argv if argv is not None else sys.argv[1:]
    with DataDreamer(ws):
        trainer, method, args, kwargs = cloudpickle.loads(load_signed(Path(spec)))
        getattr(trainer, method)(*args, **kwargs)


if __name__ == "__main__":
    main()
