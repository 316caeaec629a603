"""Tornado handlers: ``GET /dreamer-lab/api/{workspaces,lineage,steps/<fp>,steps/<fp>/card}``.

What each route answers is described once, in ``dreamer_lab/server/schema/*.json``.

Every route requires Jupyter authentication and read permission on contents, takes paths
relative to the server root, and refuses anything that resolves outside it: the workspace,
and inside it the index files and the entry it reads (links included). An object-storage
workspace (``?workspace=s3://bucket/prefix``) is read through its local read cache
(server/remote.py). Routes only read:
the index is opened read-only (see :class:`dreamer_lab.core.lineage.ReadOnlyLineageIndex`).
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tornado
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from dreamer_lab.core.workspace import DEFAULT_WORKSPACE
from dreamer_lab.server import paths, remote, views

NAMESPACE = "dreamer-lab"


class _Base(APIHandler):
    auth_resource = "contents"

    @property
    def root(self) -> Path:
        root = self.settings.get("server_root_dir") or self.contents_manager.root_dir
        return Path(root).expanduser().resolve()

    @property
    def allow_hidden(self) -> bool:
        return bool(getattr(self.contents_manager, "allow_hidden", False))

    def workspace(self) -> tuple[Path, str]:
        rel = self.get_query_argument("workspace", "")
        if remote.is_remote(rel):  # s3://bucket/prefix: its local read cache (server/remote.py)
            return remote.cache_folder(rel), rel
        return paths.workspace_at(self.root, rel, allow_hidden=self.allow_hidden), rel

    def root_for(self, ws: Path, rel: str) -> Path:
        """What the files a route opens must stay inside: the server root, or an
        object-storage workspace's own read cache."""
        return ws if remote.is_remote(rel) else self.root

    async def respond(self, fn: Callable[[], Any]) -> None:
        try:
            result = await asyncio.to_thread(fn)
        except paths.PathRefused as e:
            raise tornado.web.HTTPError(e.status, str(e)) from None
        except views.CorruptEntry as e:
            raise tornado.web.HTTPError(e.status, f"{e} {views.CORRUPT_HINT}") from None
        if result is None:
            raise tornado.web.HTTPError(404, "no such step in this workspace")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(result, default=str))

    def limit_arg(self, name: str, default: int, maximum: int) -> int:
        raw = self.get_query_argument(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise tornado.web.HTTPError(400, f"{name} must be an integer") from None
        return max(0, min(value, maximum))


class WorkspacesHandler(_Base):
    """Workspaces under the server root (or under ``?near=<folder>``), and the default
    workspace name (the sidebar prefers ``<notebook folder>/<default_name>``)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        near = self.get_query_argument("near", "")

        def run() -> dict[str, Any]:
            root = self.root
            listed = paths.find_workspaces(root, "", allow_hidden=self.allow_hidden)
            local: list[str] = []
            if near:
                local = paths.find_workspaces(
                    root, near, max_depth=2, allow_hidden=self.allow_hidden
                )
            return {
                "workspaces": list(dict.fromkeys(local + listed + remote.known_urls())),
                "near": local,
                "default_name": DEFAULT_WORKSPACE,
            }

        await self.respond(run)


class LineageHandler(_Base):
    """The lineage graph of ``?workspace=<folder>``."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        def run() -> dict[str, Any]:
            ws, rel = self.workspace()
            paths.check_index(self.root_for(ws, rel), ws)
            entry_ok = functools.partial(paths.entry_inside, self.root_for(ws, rel))
            return views.lineage_payload(ws, rel, entry_ok=entry_ok)

        await self.respond(run)


class StepHandler(_Base):
    """A step's record and sample rows: ``steps/<fp>?workspace=&limit=``."""

    @tornado.web.authenticated
    @authorized
    async def get(self, fp: str) -> None:
        limit = self.limit_arg("limit", 10, 200)

        def run() -> dict[str, Any] | None:
            ws, rel = self.workspace()
            if remote.is_remote(rel):
                remote.fetch_entry(rel, paths.check_fingerprint(fp))
            paths.check_entry(self.root_for(ws, rel), ws, paths.check_fingerprint(fp))
            return views.step_payload(ws, fp, limit)

        await self.respond(run)


class CardHandler(_Base):
    """A step's card (fragments for now): ``steps/<fp>/card?workspace=``."""

    @tornado.web.authenticated
    @authorized
    async def get(self, fp: str) -> None:
        def run() -> dict[str, Any] | None:
            ws, rel = self.workspace()
            if remote.is_remote(rel):
                remote.fetch_entry(rel, paths.check_fingerprint(fp))
            paths.check_entry(self.root_for(ws, rel), ws, paths.check_fingerprint(fp))
            return views.card_payload(ws, fp)

        await self.respond(run)


def setup_handlers(web_app: Any) -> None:
    base = url_path_join(web_app.settings["base_url"], NAMESPACE, "api")
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "workspaces"), WorkspacesHandler),
            (url_path_join(base, "lineage"), LineageHandler),
            (url_path_join(base, r"steps/([^/]+)/card"), CardHandler),
            (url_path_join(base, r"steps/([^/]+)"), StepHandler),
        ],
    )
