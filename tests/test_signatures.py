"""No parameter is accepted and silently ignored.

Every public class and function of the user-facing packages (steps, llms, embedders,
retrievers, task_models, trainers) and of ``datadreamer.py`` is read with ``ast``: each
parameter of ``__init__``, ``__call__`` and the public methods must be used by the body
(passed on, tested, computed with), not merely stored on an attribute that nothing in
``dreamer_lab`` ever reads. A read through another object counts for every class with that
attribute, except when the object is named after a package class (``self.trainer.verbose``
reads a ``Trainer``'s ``verbose``, not a ``DataDreamer``'s). The arguments steps register
with ``register_arg`` must be read by the step (``args["x"]``, ``args.get("x")``, a list of
names it reads) or forwarded with ``**`` without being dropped. The ``%dream config``
settings are checked the same way: each must be read outside the code that sets and
displays it.

A DataDreamer-compatible parameter that is genuinely a no-op here goes in ``ALLOWED`` with
the reason; everything else is a bug (a user's setting that does nothing).
"""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
from trainer_fixtures import tiny_bert  # noqa: F401

from dreamer_lab.errors import StepInputError

PACKAGE = Path(__file__).resolve().parents[1] / "dreamer_lab"
SCANNED = ("steps", "llms", "embedders", "retrievers", "task_models", "trainers")
SCANNED_MODULES = ("datadreamer.py",)  # user-facing modules at the package's top level
STEP_PACKAGES = ("steps", "trainers")  # where register_arg declares step arguments

# "module:Class.function:parameter" -> why accepting and ignoring it is right.
ALLOWED: dict[str, str] = {
    # DataDreamer's wait() polls background steps; here each one is joined on its pipe, so
    # there is no polling to tune.
    "steps.step:wait:poll_interval": "nothing polls: background steps are joined",
    # DataDreamer's device for the similarity computation: numpy computes it on the CPU,
    # and the similarities do not depend on where they are computed.
    "steps.embedding_steps:CosineSimilarity:args['device']": "numpy computes on the CPU",
}


@dataclass(frozen=True)
class Finding:
    key: str
    detail: str


def _modules() -> list[Path]:
    out: list[Path] = []
    for sub in SCANNED:
        out += sorted((PACKAGE / sub).glob("*.py"))
    return out + [PACKAGE / m for m in SCANNED_MODULES]


def _module_name(path: Path) -> str:
    return path.stem if path.parent == PACKAGE else f"{path.parent.name}.{path.stem}"


def _all_package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "labextension" not in p.parts)


@dataclass
class _Reads:
    """Attribute reads of the package: ``self.x`` per class, ``obj.x`` per class when
    ``obj`` is named after a package class (``trainer.x``, ``self.trainer.x``), any other
    ``obj.x`` globally."""

    other: set[str]
    own: dict[str, set[str]]  # class name -> attributes it (or a namesake object) reads
    bases: dict[str, set[str]]  # class name -> base class names (as written)

    def family(self, cls: str) -> set[str]:
        """The class, its ancestors and its descendants (by name, within the package)."""
        up, todo = set(), [cls]
        while todo:
            c = todo.pop()
            if c not in up:
                up.add(c)
                todo += self.bases.get(c, ())
        down, todo = set(), [cls]
        while todo:
            c = todo.pop()
            if c not in down:
                down.add(c)
                todo += [k for k, b in self.bases.items() if c in b]
        return up | down

    def read(self, cls: str | None, attr: str) -> bool:
        if attr in self.other:
            return True
        return cls is not None and any(attr in self.own.get(c, ()) for c in self.family(cls))


def _getattr_name(node: ast.AST) -> tuple[ast.AST, str] | None:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "hasattr")
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    ):
        return node.args[0], node.args[1].value
    return None


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def _receiver_name(node: ast.AST) -> str | None:
    """The name an attribute is read on: ``trainer`` for ``trainer.x`` and ``self.trainer.x``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _attribute_reads(trees: list[ast.Module] | None = None) -> _Reads:
    """The reads of ``trees`` (default: every file of the package)."""
    reads = _Reads(set(), {}, {})
    if trees is None:
        trees = [ast.parse(path.read_text()) for path in _all_package_files()]
    classes = {
        n.name.lower(): n.name for t in trees for n in ast.walk(t) if isinstance(n, ast.ClassDef)
    }

    def visit(node: ast.AST, cls: str | None) -> None:
        if isinstance(node, ast.ClassDef):
            reads.bases[node.name] = {
                b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
            }
            cls = node.name
        got = _getattr_name(node)
        if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Store | ast.Del):
            got = (node.value, node.attr)
        if got is not None:
            target, attr = got
            namesake = classes.get((_receiver_name(target) or "").lower())
            if _is_self(target) and cls is not None:
                reads.own.setdefault(cls, set()).add(attr)
            elif namesake is not None:
                reads.own.setdefault(namesake, set()).add(attr)
            else:
                reads.other.add(attr)
        for child in ast.iter_child_nodes(node):
            visit(child, cls)

    for tree in trees:
        visit(tree, None)
    return reads


def _is_stub(fn: ast.FunctionDef) -> bool:
    """An interface to override: only a docstring, ``...``, ``pass``, ``raise`` or
    ``return <constant>`` (a base class's default that subclasses replace)."""
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return all(
        isinstance(s, ast.Pass | ast.Raise)
        or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        or (isinstance(s, ast.Return) and (s.value is None or isinstance(s.value, ast.Constant)))
        for s in body
    )


def _params(fn: ast.FunctionDef) -> list[str]:
    a = fn.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
    names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
    return [n for n in names if n not in ("self", "cls")]


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _stored_on(load: ast.Name, parents: dict[ast.AST, ast.AST]) -> list[str] | None:
    """The ``self`` attributes a load of a parameter only gets stored on, or None for a use.

    ``self.x = p``, ``self.x = p or default`` and ``self.x = a if p else b`` store ``p``;
    anything else (a call, a test, a subscript, passing it on) uses it.
    """
    node: ast.AST = load
    while True:
        parent = parents.get(node)
        if isinstance(parent, ast.BoolOp | ast.IfExp):
            node = parent
            continue
        break
    if not isinstance(parent, ast.Assign | ast.AnnAssign) or parent.value is not node:
        return None
    targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
    attrs = []
    for t in targets:
        if not (
            isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
        ):
            return None
        attrs.append(t.attr)
    return attrs


def _check_function(
    where: str, fn: ast.FunctionDef, reads: _Reads, cls: str | None
) -> list[Finding]:
    if _is_stub(fn):
        return []
    parents = _parents(fn)
    found = []
    for name in _params(fn):
        loads = [
            n
            for stmt in fn.body
            for n in ast.walk(stmt)
            if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
        ]
        if not loads:
            found.append(Finding(f"{where}:{name}", "never used"))
            continue
        stored: list[str] = []
        used = False
        for load in loads:
            attrs = _stored_on(load, parents)
            if attrs is None:
                used = True
                break
            stored += attrs
        if used:
            continue
        unread = [a for a in stored if not reads.read(cls, a)]
        if len(unread) == len(stored):
            found.append(
                Finding(f"{where}:{name}", f"stored on self.{', self.'.join(unread)}, never read")
            )
    return found


def _public(name: str) -> bool:
    return not name.startswith("_") or name in ("__init__", "__call__")


def scan() -> list[Finding]:
    """Every parameter of the scanned packages that is accepted and never used."""
    reads = _attribute_reads()
    findings: list[Finding] = []
    for path in _modules():
        module = _module_name(path)
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and _public(node.name):
                findings += _check_function(f"{module}:{node.name}", node, reads, None)
            elif isinstance(node, ast.ClassDef):
                for fn in node.body:
                    if isinstance(fn, ast.FunctionDef) and _public(fn.name):
                        where = f"{module}:{node.name}.{fn.name}"
                        findings += _check_function(where, fn, reads, node.name)
    return findings


def _is_self_args(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "args" and _is_self(node.value)


@dataclass
class _StepArgs:
    module: str
    registered: list[str]  # register_arg names (not "**kwargs")
    read: set[str]  # str constants of the class, outside register_arg and dropping calls
    forwarded: list[set[str]]  # per ``**`` of self.args: the names that call drops


def _step_args(module: str, cls: ast.ClassDef) -> _StepArgs:
    """What a step class registers, reads and forwards of ``self.args``."""
    out = _StepArgs(module, [], set(), [])
    skip: set[int] = set()  # constants that name an argument without reading it
    for node in ast.walk(cls):
        if isinstance(node, ast.Call):
            args = node.args
            if (
                isinstance(node.func, ast.Attribute)
                and node.func.attr == "register_arg"
                and args
                and isinstance(args[0], ast.Constant)
            ):
                if args[0].value != "**kwargs":
                    out.registered.append(args[0].value)
                skip.add(id(args[0]))
            elif any(_is_self_args(a) for a in args):  # e.g. _extra(self.args, "lazy")
                skip.update(id(a) for a in args if isinstance(a, ast.Constant))
        if isinstance(node, ast.keyword) and node.arg is None:  # **...
            value = node.value
            if _is_self_args(value):
                out.forwarded.append(set())
            elif isinstance(value, ast.Call) and any(_is_self_args(a) for a in value.args):
                out.forwarded.append({a.value for a in value.args if isinstance(a, ast.Constant)})
    out.read = {
        n.value
        for n in ast.walk(cls)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip
    }
    return out


def step_arg_findings(modules: dict[str, ast.Module] | None = None) -> list[Finding]:
    """Step arguments (``register_arg``) that the step never reads nor forwards, in
    ``modules`` (module name -> tree; default: the step packages)."""
    if modules is None:
        modules = {
            _module_name(path): ast.parse(path.read_text())
            for sub in STEP_PACKAGES
            for path in sorted((PACKAGE / sub).glob("*.py"))
        }
    classes: dict[str, _StepArgs] = {}
    bases: dict[str, set[str]] = {}
    for module, tree in modules.items():
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                classes[node.name] = _step_args(module, node)
                bases[node.name] = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
    family = _Reads(set(), {}, bases).family
    found = []
    for name, info in classes.items():
        related = [classes[c] for c in family(name) if c in classes]
        for arg in info.registered:
            if any(arg in c.read for c in related):
                continue
            if any(arg not in dropped for c in related for dropped in c.forwarded):
                continue
            found.append(Finding(f"{info.module}:{name}:args[{arg!r}]", "registered, never read"))
    return found


def _magics_config_findings() -> list[Finding]:
    """``%dream config`` settings (``config=True`` traits) must be read by something that
    acts on them, not only by ``%dream config`` / ``%dream status`` that set and show them."""
    path = PACKAGE / "notebook" / "magics.py"
    tree = ast.parse(path.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DreamMagics")
    traits = [
        t.id
        for s in cls.body
        if isinstance(s, ast.Assign)
        and isinstance(s.value, ast.Call)
        and any(k.arg == "config" for k in s.value.keywords)
        for t in s.targets
        if isinstance(t, ast.Name)
    ]
    display_only = {"_cmd_config", "_cmd_status"}
    found = []
    for trait in traits:
        readers = {
            fn.name
            for fn in cls.body
            if isinstance(fn, ast.FunctionDef) and fn.name not in display_only
            for n in ast.walk(fn)
            if isinstance(n, ast.Attribute)
            and n.attr == trait
            and isinstance(n.ctx, ast.Load)
            and isinstance(n.value, ast.Name)
            and n.value.id == "self"
        }
        if not readers:
            found.append(Finding(f"notebook.magics:DreamMagics.{trait}", "config never read"))
    return found


def test_no_parameter_is_accepted_and_ignored():
    findings = scan() + step_arg_findings() + _magics_config_findings()
    keys = {f.key for f in findings}
    bad = [f for f in findings if f.key not in ALLOWED]
    assert not bad, "Parameters accepted and ignored (use them, raise a clear error, or " + (
        "allow-list a DataDreamer no-op with its reason):\n"
        + "\n".join(f"  {f.key}: {f.detail}" for f in bad)
    )
    stale = sorted(set(ALLOWED) - keys)
    assert not stale, f"Listed but no longer ignored (remove from ALLOWED): {stale}"


def test_the_checker_catches_a_stored_and_unread_parameter():
    src = """
class T:
    def __init__(self, a, b, c, d, **kwargs):
        self.a = a                      # read below: used
        self.never_read_anywhere_xyz = b  # stored, never read: ignored
        self.c = c or 3                 # read below
        print(d)

    def go(self):
        return self.a, self.c
"""
    fn = ast.parse(src).body[0].body[0]
    reads = _Reads(other=set(), own={"T": {"a", "c"}}, bases={"T": set()})
    found = {f.key for f in _check_function("t:T.__init__", fn, reads, "T")}
    assert found == {"t:T.__init__:b", "t:T.__init__:kwargs"}


@pytest.mark.parametrize("param", ["fsdp", "fsdp_config"])
def test_the_checker_would_catch_fsdp_stored_and_never_read(param):
    # The shape of the bug of issue 10: TrainHFBase stored fsdp/fsdp_config and nothing
    # read them.
    src = f"""
class TrainHFBase:
    def __init__(self, {param}=None):
        self.{param}_zz_unread = {param}
"""
    fn = ast.parse(src).body[0].body[0]
    reads = _Reads(other=set(), own={}, bases={})
    found = _check_function("trainers.hf_base:TrainHFBase.__init__", fn, reads, "TrainHFBase")
    assert [f.key for f in found] == [f"trainers.hf_base:TrainHFBase.__init__:{param}"]


def test_the_checker_catches_a_session_setting_read_only_on_a_namesake():
    # The shape of DataDreamer(verbose=, log_level=, **kwargs) before it was fixed: verbose
    # stored and never read (only a Trainer's verbose is), log_level and kwargs unused.
    session = """
class DataDreamer:
    def __init__(self, path, verbose=None, log_level=None, **kwargs):
        self.path = path
        self.verbose = verbose

    def start(self):
        return self.path
"""
    trainer = """
class Trainer:
    def __init__(self, verbose=None):
        self.verbose = verbose

class Callback:
    def on_log(self):
        return self.trainer.verbose
"""
    trees = [ast.parse(session), ast.parse(trainer)]
    reads = _attribute_reads(trees)
    session_init, trainer_init = trees[0].body[0].body[0], trees[1].body[0].body[0]
    found = _check_function("datadreamer:DataDreamer.__init__", session_init, reads, "DataDreamer")
    found += _check_function("trainers.base:Trainer.__init__", trainer_init, reads, "Trainer")
    assert {f.key for f in found} == {
        "datadreamer:DataDreamer.__init__:verbose",
        "datadreamer:DataDreamer.__init__:log_level",
        "datadreamer:DataDreamer.__init__:kwargs",
    }
    assert "datadreamer.py" in SCANNED_MODULES


def test_the_checker_catches_a_registered_step_argument_never_read():
    # The shape of the prompt and embedding steps' lazy before it was fixed: registered,
    # then dropped from what is forwarded to the model (or never looked at).
    src = """
class Embed(Step):
    def setup(self):
        self.register_arg("embedder")
        self.register_arg("truncate", required=False, default=False)
        self.register_arg("lazy", required=False, default=False, help="Accepted; ignored.")

    def run(self):
        model = self.args["embedder"]
        return model.run([], **_extra(self.args, "embedder", "lazy"))

class PromptBase(Step):
    def _register_optional_args(self):
        self.register_arg("post_process", required=False)
        self.register_arg("lazy", required=False, default=False)

    def _generate(self):
        return self.args.get("post_process")

class Prompt(PromptBase):
    def setup(self):
        self._register_optional_args()
"""
    found = {f.key for f in step_arg_findings({"steps.x": ast.parse(src)})}
    assert found == {"steps.x:Embed:args['lazy']", "steps.x:PromptBase:args['lazy']"}


# -- the parameters that were accepted and ignored: each has its effect or a clear error ----
def test_lazy_is_refused_with_the_reason(workspace):
    from dreamer_lab.steps import DataSource

    src = DataSource("src", {"x": [1, 2, 3]})
    for op in (src.select, lambda _, **kw: src.reverse(**kw)):
        with pytest.raises(StepInputError, match="needs random access to the rows\\); omit lazy="):
            op([0], lazy=True)


def test_total_num_rows_is_checked(workspace):
    from dreamer_lab.steps import DataSource

    with pytest.raises(StepInputError, match="total_num_rows=5, but the data has 3 rows"):
        DataSource("src", {"x": [1, 2, 3]}, total_num_rows=5)
    with pytest.raises(StepInputError, match="an int >= 0"):
        DataSource("src", {"x": [1, 2, 3]}, total_num_rows="3")
    src = DataSource("src", {"x": [1, 2, 3]}, total_num_rows=3)
    # (A generator function streams, as in DataDreamer: its total_num_rows is the declared
    # row count and progress total; tests/test_dd_data_sources.py.)
    assert len(src.map(lambda r: {"y": r["x"]}, total_num_rows=3).output) == 3
    with pytest.raises(StepInputError, match="total_num_rows=3, but the step produced 2 rows"):
        src.filter(lambda r: r["x"] > 1, total_num_rows=3)
    assert len(src.filter(lambda r: r["x"] > 1, total_num_rows=2).output) == 2


def test_auto_progress_controls_the_datasets_progress_bar(workspace, capfd):
    import datasets

    from dreamer_lab.steps import DataSource

    datasets.enable_progress_bars()
    src = DataSource("src", {"x": list(range(5))})
    capfd.readouterr()
    src.map(lambda r: {"y": 1}, auto_progress=False, name="quiet")
    assert "map src" not in capfd.readouterr().err
    src.map(lambda r: {"y": 2}, name="shown")
    assert "map src" in capfd.readouterr().err
    assert datasets.is_progress_bar_enabled()


def test_save_num_proc_and_shards_write_the_output(workspace):
    from dreamer_lab.steps import DataSource

    step = DataSource("src", {"x": list(range(10))}, save_num_proc=2)
    assert len(list((step.path / "data").glob("*.arrow"))) == 2
    assert step.output["x"].to_list() == list(range(10))


def test_log_level_sets_the_logger_level_while_a_step_runs(workspace, caplog):
    from dreamer_lab.steps import DataSource

    caplog.set_level(logging.INFO, logger="dreamer_lab")
    DataSource("quiet", {"x": [1]}, log_level=logging.WARNING)
    assert not [r for r in caplog.records if "quiet" in r.getMessage()]
    DataSource("loud", {"x": [2]}, log_level="info")
    assert [r for r in caplog.records if "'loud' computed" in r.getMessage()]
    assert logging.getLogger("dreamer_lab").level == logging.INFO  # restored
    with pytest.raises(StepInputError, match="not a logging level"):
        DataSource("bad", {"x": [3]}, log_level="loudest")


def test_default_help_joins_the_argument_help(workspace):
    from dreamer_lab.steps import Step

    class WithDefault(Step):
        def setup(self):
            self.register_arg("n", required=False, default=3, help="How many.", default_help="3")
            self.register_output("out")

        def run(self):
            return {"out": [self.args["n"]]}

    assert WithDefault("d")._arg_specs["n"]["help"] == "How many. (default: 3)"


def test_export_options_are_used_or_refused(workspace, tmp_path):
    from dreamer_lab.steps import DataSource

    src = DataSource("src", {"x": list(range(10))})
    with pytest.raises(TypeError, match="bogus"):
        src.export_to_dict(bogus=1)
    assert src.export_to_list(writer_batch_size=5)[0] == {"x": 0}
    src.export_to_hf_dataset(tmp_path / "hf", save_num_shards=2)
    assert len(list((tmp_path / "hf").glob("*.arrow"))) == 2
    src.export_to_hf_dataset(tmp_path / "split", train_size=0.5, test_size=0.5, save_num_shards=2)
    assert len(list((tmp_path / "split" / "train").glob("*.arrow"))) == 2


def test_hub_source_refuses_trust_remote_code(workspace):
    from dreamer_lab.steps import HFHubDataSource

    with pytest.raises(StepInputError, match="no longer runs dataset loading scripts"):
        HFHubDataSource("hub", "some/dataset", trust_remote_code=True)


def test_trainer_verbose_and_log_level(workspace, tiny_bert, caplog):  # noqa: F811
    from dreamer_lab.steps import DataSource
    from dreamer_lab.trainers import TrainHFClassifier, TrainSetFitClassifier

    data = DataSource("d", {"text": ["good", "bad", "great", "awful"], "label": [1, 0, 1, 0]})
    args = dict(train_input=data.output["text"], train_output=data.output["label"], epochs=1)
    caplog.set_level(logging.INFO, logger="dreamer_lab")  # caplog's handler takes INFO
    logging.getLogger("dreamer_lab").setLevel(logging.WARNING)  # the logger does not
    TrainHFClassifier("v", model_name=str(tiny_bert), verbose=True).train(**args, batch_size=2)
    shown = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Trainer 'v':")]
    assert len(shown) >= 2 and "loss=" in shown[0]  # one line per logged step
    caplog.clear()
    TrainHFClassifier(
        "q", model_name=str(tiny_bert), verbose=True, log_level=logging.WARNING
    ).train(**args, batch_size=4)
    assert not [r for r in caplog.records if r.getMessage().startswith("Trainer 'q'")]
    with pytest.raises(StepInputError, match="a SetFit model has no adapter"):
        TrainSetFitClassifier("s", model_name=str(tiny_bert)).export_to_disk(
            workspace / "x", adapter_only=True
        )


def test_dream_config_budget_caps_the_api_llms_of_cells(workspace, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    from openai_server import API_KEY, FakeOpenAIServer

    from dreamer_lab.llms import PRICES, CostBudgetExceededError, OpenAI, register_price
    from dreamer_lab.steps import DataSource

    monkeypatch.setattr("dreamer_lab.llms.openai.PRICES", dict(PRICES))
    register_price("local-model", 100.0, 100.0)  # $0.0001 per token
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "dreamer_lab")
    magics = ip.magics_manager.registry["DreamMagics"]
    cell = "%%dream answers = Prompt(qs, llm=gpt)\nAnswer: {q}"
    with FakeOpenAIServer(idle_timeout=60) as server:
        llm = OpenAI(
            "local-model", base_url=server.base_url, api_key=API_KEY, max_concurrency=1,
            backoff_base=0.01,
        )  # fmt: skip
        first = DataSource("qs", {"q": [f"budget {i}" for i in range(20)]})
        ip.user_ns.update(gpt=llm, qs=first)
        try:
            ip.run_line_magic("dream", "config budget=0.03")
            result = ip.run_cell(cell)
            err = result.error_in_exec
            assert isinstance(err, CostBudgetExceededError), err
            assert "%dream config budget=0.03" in str(err)
            assert 0 < server.served < 20 and llm.max_cost is None  # the LLM's own is restored
            assert 0 < magics.budget_spent <= 0.03
            # What the cells spent adds up, and never passes the budget.
            ip.run_cell(cell)  # the LLM now estimates from real usage: it may finish
            assert magics.budget_spent == pytest.approx(llm.spent) and llm.spent <= 0.03
            # A budget that is spent sends nothing more, in any cell.
            ip.run_line_magic("dream", "config budget=0")
            served = server.served
            ip.user_ns["qs"] = DataSource("qs2", {"q": ["new question"]})
            assert isinstance(ip.run_cell(cell).error_in_exec, CostBudgetExceededError)
            assert server.served == served
            # budget=none lifts it; paid requests were cached.
            ip.run_line_magic("dream", "config budget=none")
            assert magics.budget_spent == 0.0
            assert ip.run_cell(cell).error_in_exec is None
            ip.user_ns["qs"] = first
            assert ip.run_cell(cell).error_in_exec is None
            assert server.served == 21
        finally:
            ip.run_line_magic("dream", "config budget=none")
            for name in ("gpt", "qs", "answers"):
                ip.user_ns.pop(name, None)
