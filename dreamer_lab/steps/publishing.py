"""``step.publish_to_hf_hub(...)``: a step's rows as a Hub dataset, with its data card.

The rows go up as Parquet files, one folder per split (``data/<split>-00000-of-00001.parquet``,
the layout ``datasets`` writes and reads), the data card of :mod:`dreamer_lab.cards` (lineage,
licenses, citations; its front matter lists the splits in ``configs``) as ``README.md``, and
the card's JSON form as ``datadreamer.json`` (DataDreamer's name for it). Everything goes in
one commit (:func:`dreamer_lab.core.hub.publish_folder`): unchanged files are not uploaded
again, and data files of splits no longer published are deleted.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamer_lab.core.hooks import render_data_card
from dreamer_lab.core.hub import (
    CARD_OPTIONS,
    check_commit_options,
    check_repo_id,
    publish_folder,
)
from dreamer_lab.errors import StepInputError

if TYPE_CHECKING:
    from dreamer_lab.steps.step import Step

# A shard per this many bytes of Arrow data when ``save_num_shards`` is not given
# (what ``datasets``' ``push_to_hub`` uses as its default ``max_shard_size``).
SHARD_BYTES = 500 * 1024 * 1024


def _num_shards(dataset: Any, save_num_shards: int | None, where: str) -> int:
    if save_num_shards is None:
        return max(1, math.ceil((dataset.data.nbytes or 0) / SHARD_BYTES))
    if not isinstance(save_num_shards, int) or isinstance(save_num_shards, bool):
        raise StepInputError(f"{where}: save_num_shards must be a whole number, got {save_num_shards!r}.")  # fmt: skip
    if save_num_shards < 1:
        raise StepInputError(f"{where}: save_num_shards must be at least 1, got {save_num_shards}.")
    return min(save_num_shards, max(1, dataset.num_rows))


def _workers(save_num_proc: int | None, where: str) -> int:
    if save_num_proc is None:
        return 1
    if not isinstance(save_num_proc, int) or isinstance(save_num_proc, bool) or save_num_proc < 1:
        raise StepInputError(f"{where}: save_num_proc must be a whole number >= 1, got {save_num_proc!r}.")  # fmt: skip
    return save_num_proc


def write_splits(
    parts: dict[str, Any],
    folder: Path,
    options: dict[str, Any],
    where: str,
) -> dict[str, dict[str, Any]]:
    """Write each split as Parquet shards under ``folder/data`` (``options``: DataDreamer's
    ``writer_batch_size``, ``save_num_proc`` files written at once, ``save_num_shards``);
    returns ``{split: {"rows": n, "files": [paths in the repository]}}``."""
    from concurrent.futures import ThreadPoolExecutor

    import datasets

    out: dict[str, dict[str, Any]] = {}
    jobs: list[tuple[Any, Path]] = []
    for split, ds in parts.items():
        n = _num_shards(ds, options.get("save_num_shards"), where)
        files = [f"data/{split}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
        for i, rel in enumerate(files):
            jobs.append((ds.shard(num_shards=n, index=i, contiguous=True) if n > 1 else ds, folder / rel))  # fmt: skip
        out[split] = {"rows": ds.num_rows, "files": files}
    (folder / "data").mkdir(parents=True, exist_ok=True)
    batch = options.get("writer_batch_size") or None
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a bar per file is noise in a cell
    try:  # Arrow writes Parquet without holding the GIL: threads write files in parallel
        with ThreadPoolExecutor(max_workers=_workers(options.get("save_num_proc"), where)) as pool:
            list(pool.map(lambda job: job[0].to_parquet(str(job[1]), batch_size=batch), jobs))
    finally:
        if bars:
            datasets.enable_progress_bars()
    return out


class Publishing:
    """Publishing a step's rows to the Hugging Face Hub (mixed into :class:`Step`)."""

    def _publish_parts(self: Step, split: tuple[Any, ...], batch: int | None) -> dict[str, Any]:
        """``{split: Dataset}`` by the exports' split rules (a lazy output is written out
        first); everything is ``train`` when no size is given, as in DataDreamer; empty
        splits are left out."""
        rows = self._export_source(batch)
        if all(size is None for size in split[:3]):
            return {"train": rows}
        parts = self._export_parts(*split, writer_batch_size=batch)
        if parts is None:  # one split holding every row
            return {"train": rows}
        kept = {k: v for k, v in parts.items() if v.num_rows > 0}
        return kept or {"train": rows.select([])}

    def publish_to_hf_hub(
        self: Step,
        repo_id: str,
        branch: str | None = None,
        private: bool = False,
        token: str | None = None,
        train_size: float | int | None = None,
        validation_size: float | int | None = None,
        test_size: float | int | None = None,
        stratify_by_column: str | None = None,
        writer_batch_size: int | None = 1000,
        save_num_proc: int | None = None,
        save_num_shards: int | None = None,
        is_synthetic: bool = True,
        **kwargs: Any,
    ) -> str:
        """Publish the rows (split like :meth:`export_to_hf_dataset`) to the Hub dataset
        ``repo_id`` with the data card as ``README.md``; returns the dataset's URL.

        ``repo_id`` without a namespace goes to the token's user. The repository is created
        if missing (``private`` then; an existing one keeps its visibility) and ``branch``
        too (from the default branch). ``token``: else the saved login or ``HF_TOKEN``.
        ``save_num_shards``: Parquet files per split (default: one per 500 MB);
        ``writer_batch_size``: rows per Parquet row group; ``save_num_proc``: files written at
        once (threads). ``is_synthetic`` marks the
        card synthetic (False: as the lineage says); ``intended_use``/``limitations`` fill
        the card's editable sections (a dreamer_lab addition). Other keyword arguments
        (``commit_message``, ``commit_description``, ``create_pr``, ``parent_commit``) go to
        ``HfApi.create_commit``. Unchanged files are not uploaded again.
        """
        where = f"publish_to_hf_hub on step {self.name!r}"
        check_repo_id(repo_id, where)
        card_options = {k: kwargs.pop(k) for k in CARD_OPTIONS if k in kwargs}
        options = check_commit_options(kwargs, where)
        import datasets

        if not isinstance(self.output.dataset, datasets.Dataset):
            # A lazy output has no stored entry (and so no card): store it, as DataDreamer
            # does, then publish the stored step.
            saved = self.save(writer_batch_size=writer_batch_size, save_num_shards=save_num_shards)
            return saved.publish_to_hf_hub(
                repo_id, branch, private, token, train_size, validation_size, test_size,
                stratify_by_column, writer_batch_size, save_num_proc, save_num_shards,
                is_synthetic, **card_options, **options,
            )  # fmt: skip
        split = (train_size, validation_size, test_size, stratify_by_column)
        parts = self._publish_parts(split, writer_batch_size)
        with tempfile.TemporaryDirectory(prefix="dreamer_lab-publish-") as tmp:
            folder = Path(tmp)
            writing = {
                "writer_batch_size": writer_batch_size,
                "save_num_proc": save_num_proc,
                "save_num_shards": save_num_shards,
            }
            splits = write_splits(parts, folder, writing, where)
            # The cards layer (rank 3) renders the card; steps reach it through core.hooks.
            readme, card = render_data_card(self, splits, is_synthetic, **card_options)
            (folder / "README.md").write_text(readme, encoding="utf-8")
            text = json.dumps(card, indent=2, sort_keys=True, default=str)
            (folder / "datadreamer.json").write_text(text + "\n", encoding="utf-8")
            return publish_folder(
                folder,
                repo_id,
                repo_type="dataset",
                branch=branch,
                private=private,
                token=token,
                managed=("data/",),
                **options,
            )
