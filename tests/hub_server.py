"""A small fake of the Hugging Face Hub's API on 127.0.0.1, for publishing tests.

It speaks the routes ``huggingface_hub`` uses to publish (``whoami-v2``, ``repos/create``,
``branch``, ``validate-yaml``, ``preupload``, the LFS batch API and its uploads, the NDJSON
``commit``, ``tree`` and ``revision``) and keeps what a real Hub keeps: repositories with
visibility, branches of files, LFS objects by sha256, and every commit. Like the Hub it
refuses requests without an accepted token, validates card metadata, and tells clients which
files it already has, so they can skip them. Tests read what was uploaded from it.

Xet storage is a different upload protocol; tests turn it off
(``huggingface_hub.constants.HF_HUB_DISABLE_XET``) so uploads use the LFS API served here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.http_test_server import FakeHandler, FakeHTTPServer

LFS_SUFFIXES = (".parquet", ".arrow", ".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx")
LFS_MIN_SIZE = 10 * 1024 * 1024
# A part of the Hub's license list (enough for the cards tests publish).
LICENSES = {"apache-2.0", "mit", "other", "unknown", "cc-by-4.0", "cc-by-sa-4.0", "cc0-1.0",
            "bsd-3-clause", "openrail", "llama3", "gemma", "cc-by-nc-4.0"}  # fmt: skip
SIZE_CATEGORIES = {"unknown", "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M",
                   "10M<n<100M", "100M<n<1B", "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T"}  # fmt: skip
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
_API = re.compile(
    r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/(preupload|commit|tree|revision|branch)/([^/]+)(/.*)?$"
)
_LFS_BATCH = re.compile(r"^/(datasets/|spaces/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch$")


def git_oid(data: bytes) -> str:
    """Git's blob id (what the Hub reports for regular files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Blob:
    data: bytes
    lfs: bool

    @property
    def oid(self) -> str:
        return hashlib.sha256(self.data).hexdigest() if self.lfs else git_oid(self.data)


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    branches: dict[str, dict[str, Blob]] = field(default_factory=dict)
    heads: dict[str, str] = field(default_factory=dict)


def metadata_errors(content: str, repo_type: str) -> list[str]:
    """What the Hub would refuse in a README's YAML front matter."""
    m = re.match(r"\A---\n(.*?)\n---\n", content, re.DOTALL)
    if not m:
        return []
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        return [f"YAML: {e}"]
    if not isinstance(meta, dict):
        return ["metadata must be a mapping"]
    errors = []
    licenses = meta.get("license")
    for lic in licenses if isinstance(licenses, list) else [licenses] if licenses else []:
        if lic not in LICENSES:
            errors.append(f'"license" must be a known license id, got {lic!r}')
    for key in ("tags", "datasets", "source_datasets", "size_categories", "language_creators"):
        v = meta.get(key)
        if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            errors.append(f'"{key}" must be a list of strings')
    for d in meta.get("datasets") or []:
        if isinstance(d, str) and not REPO_ID.match(d):
            errors.append(f'"datasets" must hold dataset repository ids, got {d!r}')
    if meta.get("base_model") is not None and not REPO_ID.match(str(meta["base_model"])):
        errors.append(f'"base_model" must be a model repository id, got {meta["base_model"]!r}')
    if repo_type == "dataset":
        for s in meta.get("size_categories") or []:
            if s not in SIZE_CATEGORIES:
                errors.append(f'"size_categories" has an unknown value {s!r}')
        errors += _config_errors(meta.get("configs"))
    return errors


def _config_errors(configs: Any) -> list[str]:
    if configs is None:
        return []
    if not isinstance(configs, list):
        return ['"configs" must be a list']
    errors = []
    for c in configs:
        if not isinstance(c, dict) or not isinstance(c.get("config_name"), str):
            errors.append('every entry of "configs" needs a "config_name"')
            continue
        for f in c.get("data_files") or []:
            ok = isinstance(f, dict) and isinstance(f.get("split"), str)
            paths = f.get("path") if isinstance(f, dict) else None
            ok = ok and isinstance(paths, str | list)
            if not ok:
                errors.append('"data_files" entries need a "split" and a "path"')
    return errors


class HubHandler(FakeHandler):
    """Routes of the fake Hub (see the module docstring)."""

    def do_GET(self) -> None:
        self._dispatch("GET", b"")

    def do_POST(self) -> None:
        self._dispatch("POST", self.read_any_body())

    def do_PUT(self) -> None:
        self._dispatch("PUT", self.read_any_body())

    def read_any_body(self) -> bytes:
        """The body, sent with a length or chunked (streamed uploads are chunked)."""
        if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.read_body()
        out = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return out
            out += self.rfile.read(size)
            self.rfile.readline()

    def _dispatch(self, method: str, body: bytes) -> None:
        hub: FakeHub = self.fake
        url = urlsplit(self.path)
        hub.touch()
        with hub.lock:
            hub.log.append((method, unquote(url.path)))
            hub.bodies_seen.append(body)
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        # Upload URLs are presigned (no token), like the Hub's storage URLs.
        open_path = url.path == "/api/validate-yaml" or url.path.startswith("/lfs-upload/")
        if not open_path and token not in hub.tokens:
            self.send(401, {"error": "Invalid credentials in Authorization header"})
            return
        try:
            status, reply = hub.route(method, url.path, parse_qs(url.query), body)
        except KeyError as e:
            status, reply = 404, {"error": f"Not found: {e}"}
        self.send(status, reply)


class FakeHub(FakeHTTPServer):
    """The fake Hub's state and routes. ``tokens``: the accepted tokens."""

    handler_class = HubHandler

    def __init__(self, user: str = "tester", tokens: tuple[str, ...] = ("hf_test",)) -> None:
        super().__init__()
        self.user = user
        self.tokens = set(tokens)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.lfs_uploads: list[str] = []  # sha256 of every object PUT
        self.commits: list[dict[str, Any]] = []
        self.log: list[tuple[str, str]] = []
        self.bodies_seen: list[bytes] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what tests read -------------------------------------------------------------------
    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def files(self, repo_id: str, repo_type: str = "dataset", branch: str = "main") -> dict[str, bytes]:  # fmt: skip
        return {p: b.data for p, b in self.repo(repo_id, repo_type).branches[branch].items()}

    # -- routes ----------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:  # fmt: skip
        if method == "GET" and path == "/api/whoami-v2":
            return 200, {"type": "user", "name": self.user, "orgs": [], "auth": {}}
        if method == "POST" and path == "/api/repos/create":
            return self._create(json.loads(body))
        if method == "POST" and path == "/api/validate-yaml":
            req = json.loads(body)
            errors = metadata_errors(req.get("content", ""), req.get("repoType", "model"))
            return (400 if errors else 200), {"errors": [{"message": e} for e in errors], "warnings": []}  # fmt: skip
        if method == "PUT" and path.startswith("/lfs-upload/"):
            return self._store(path.rsplit("/", 1)[-1], body)
        m = _LFS_BATCH.match(path)
        if method == "POST" and m:
            return self._batch(json.loads(body))
        m = _API.match(path)
        if not m:
            return 404, {"error": f"no route {method} {path}"}
        kind, repo_id, action, rev, rest = m.groups()
        repo = self.repos[(kind[:-1], repo_id)]
        rev = unquote(rev)
        if action == "branch" and method == "POST":
            return self._branch(repo, rev, json.loads(body or b"{}"))
        if action == "preupload":
            return 200, self._preupload(repo, rev, json.loads(body))
        if action == "commit":
            return self._commit(repo, rev, body)
        if action == "tree":
            return 200, self._tree(repo, rev, unquote((rest or "/")[1:]), query)
        if action == "revision":
            return 200, self._info(repo, rev)
        return 404, {"error": f"no route {method} {path}"}

    def _create(self, req: dict[str, Any]) -> tuple[int, Any]:
        repo_type = req.get("type") or "model"
        repo_id = f"{req.get('organization') or self.user}/{req['name']}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.endpoint}/{prefix}{repo_id}"
        if (repo_type, repo_id) in self.repos:
            return 409, {"error": "You already created this repo", "url": url}
        repo = Repo(repo_type, repo_id, private=req.get("visibility") == "private")
        # A new repository starts with a .gitattributes file, as on the Hub.
        attrs = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES)
        repo.branches["main"] = {".gitattributes": Blob(attrs.encode(), False)}
        repo.heads["main"] = hashlib.sha1(url.encode()).hexdigest()
        self.repos[(repo_type, repo_id)] = repo
        return 200, {"url": url, "name": repo_id, "id": repo_id}

    def _branch(self, repo: Repo, branch: str, req: dict[str, Any]) -> tuple[int, Any]:
        if branch in repo.branches:
            return 409, {"error": f"Reference refs/heads/{branch} already exists"}
        start = req.get("startingPoint") or "main"
        repo.branches[branch] = dict(repo.branches[start])
        repo.heads[branch] = repo.heads[start]
        return 200, {}

    def _preupload(self, repo: Repo, rev: str, req: dict[str, Any]) -> dict[str, Any]:
        files = repo.branches[rev]
        out = []
        for f in req["files"]:
            sample = base64.b64decode(f["sample"])
            lfs = f["path"].endswith(LFS_SUFFIXES) or f["size"] >= LFS_MIN_SIZE or b"\0" in sample
            have = files.get(f["path"])
            out.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular",
                        "shouldIgnore": False, "oid": have.oid if have else None})  # fmt: skip
        return {"files": out, "commitOid": repo.heads[rev]}

    def _batch(self, req: dict[str, Any]) -> tuple[int, Any]:
        if req.get("operation") != "upload":
            return 422, {"message": "only uploads are served"}
        objects = []
        for o in req["objects"]:
            obj: dict[str, Any] = {"oid": o["oid"], "size": o["size"]}
            if o["oid"] not in self.lfs:  # the Hub asks only for objects it lacks
                href = f"{self.endpoint}/lfs-upload/{o['oid']}"
                obj["actions"] = {"upload": {"href": href}}
            objects.append(obj)
        return 200, {"transfer": "basic", "objects": objects}

    def _store(self, oid: str, body: bytes) -> tuple[int, Any]:
        if hashlib.sha256(body).hexdigest() != oid:
            return 400, {"error": "content does not match the oid"}
        with self.lock:
            self.lfs[oid] = body
            self.lfs_uploads.append(oid)
        return 200, {}

    def _commit(self, repo: Repo, rev: str, body: bytes) -> tuple[int, Any]:
        if rev not in repo.branches:
            return 404, {"error": f"Revision {rev} not found"}
        lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
        files = dict(repo.branches[rev])
        ops = []
        for item in lines[1:]:
            key, v = item["key"], item["value"]
            if key == "file":
                files[v["path"]] = Blob(base64.b64decode(v["content"]), False)
            elif key == "lfsFile":
                if v["oid"] not in self.lfs:
                    return 422, {"error": f"LFS object {v['oid']} was never uploaded"}
                files[v["path"]] = Blob(self.lfs[v["oid"]], True)
            elif key == "deletedFile":
                if files.pop(v["path"], None) is None:
                    return 404, {"error": "A file with this name doesn't exist"}
            else:
                return 422, {"error": f"unsupported operation {key}"}
            ops.append((key, v["path"]))
        parent = repo.heads[rev]
        oid = hashlib.sha1((parent + json.dumps(ops)).encode()).hexdigest()
        repo.branches[rev], repo.heads[rev] = files, oid
        self.commits.append({"repo": repo.repo_id, "revision": rev, "ops": ops, "header": lines[0]["value"]})  # fmt: skip
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        url = f"{self.endpoint}/{prefix}{repo.repo_id}/commit/{oid}"
        return 200, {"success": True, "commitOid": oid, "commitUrl": url, "pullRequestUrl": None}

    def _tree(self, repo: Repo, rev: str, folder: str, query: dict[str, list[str]]) -> list[Any]:
        recursive = (query.get("recursive") or ["False"])[0].lower() == "true"
        base = f"{folder.rstrip('/')}/" if folder else ""
        entries: dict[str, dict[str, Any]] = {}
        for path, blob in sorted(repo.branches[rev].items()):
            if not path.startswith(base):
                continue
            rest = path[len(base) :]
            if not recursive and "/" in rest:
                sub = base + rest.split("/")[0]
                entries[sub] = {"type": "directory", "path": sub, "oid": git_oid(sub.encode()), "size": 0}  # fmt: skip
                continue
            entry = {"type": "file", "path": path, "size": len(blob.data), "oid": git_oid(blob.data)}  # fmt: skip
            if blob.lfs:
                entry["lfs"] = {"oid": blob.oid, "size": len(blob.data), "pointerSize": 134}
            entries[path] = entry
        return list(entries.values())

    def _info(self, repo: Repo, rev: str) -> dict[str, Any]:
        return {
            "id": repo.repo_id,
            "sha": repo.heads[rev],
            "private": repo.private,
            "siblings": [{"rfilename": p} for p in sorted(repo.branches[rev])],
        }
