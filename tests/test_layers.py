"""The layers of the package, enforced: models -> sampler -> kernels, and the data code knows
nothing of sampling; the public modules (ArviZ bridge, diagnostics, command line) reach the
estimators only through their public and fitted attributes; no module reads or writes another
module's private attributes; no import cycles, not even through imports inside functions.

Every import of every module counts, at the top or inside a function (read with ``ast``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bayesfm"

#: modules of pure Numba kernels and the records they take: numpy, numba, math, each other and
#: ``bayesfm._numba_cache`` (its ``njit``: the package's cache directory)
KERNEL_MODULES = {"bayesfm.sampler.kernels", "bayesfm.sampler.relational",
                  "bayesfm.sampler.smallalg", "bayesfm.sampler.truncnorm",
                  "bayesfm.sampler.colouring", "bayesfm.sampler.records", "bayesfm.sampler._jit",
                  "bayesfm.sampler.foldin", "bayesfm.sampler.moves", "bayesfm.sampler._prefetch"}
#: what each layer may import from bayesfm (by module-name prefix)
ALLOWED = {
    "bayesfm.data": ("bayesfm.data", "bayesfm.exceptions", "bayesfm.atomic"),
    "bayesfm.sampler": ("bayesfm.sampler", "bayesfm.data", "bayesfm.priors",
                        "bayesfm.exceptions", "bayesfm._numba_cache"),
    "bayesfm._numba_cache": (),
    "bayesfm.priors": (),
    "bayesfm.exceptions": (),
    "bayesfm.atomic": (),
    "bayesfm.progress": (),
    "bayesfm._version": (),
    # the saved-model format is a container: it knows no estimator (they register with it)
    "bayesfm.models._persist": ("bayesfm.atomic", "bayesfm.priors", "bayesfm._version"),
}
#: (llvmlite is Numba's code generator, installed with it: the prefetch hint is written in it)
THIRD_PARTY_FOR_KERNELS = {"numpy", "numba", "llvmlite", "math", "typing", "types",
                           "__future__"}
NUMBA_CACHE = "bayesfm._numba_cache"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, top_level_only=False):
    """(imported module names, attribute names read from objects named like estimators)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    out = set()
    module = _module_name(path)
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level or None]
                out.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                out.add(node.module)
                out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_only_its_layers(module):
    imports = {m for m in _imports(MODULES[module]) if m.startswith("bayesfm")}
    for layer, allowed in ALLOWED.items():
        if module == layer or module.startswith(layer + "."):
            bad = sorted(m for m in imports if not m.startswith((layer,) + allowed))
            assert not bad, f"{module} (layer {layer}) imports {bad}"
    if module in KERNEL_MODULES:
        bad = sorted(m for m in _imports(MODULES[module])
                     if m.split(".")[0] not in THIRD_PARTY_FOR_KERNELS
                     and not (m in KERNEL_MODULES or m.rsplit(".", 1)[0] in KERNEL_MODULES)
                     and not m.startswith(NUMBA_CACHE))
        assert not bad, f"kernel module {module} imports {bad}"


@pytest.mark.parametrize("top_level_only", [True, False], ids=["module level", "any import"])
def test_no_import_cycles(top_level_only):
    """No cycle among the imports at module level, nor among all imports (a function-level
    import that closes a circle still ties the two modules into one)."""
    graph = {}
    for module, path in MODULES.items():
        deps = set()
        for m in _imports(path, top_level_only=top_level_only):
            while m and m not in MODULES:
                m = m.rpartition(".")[0]
            if m and m != module and m.startswith("bayesfm"):
                deps.add(m)
        graph[module] = deps
    # a package's __init__ importing its submodules is not a cycle of its submodules
    seen, stack = {}, []

    def visit(node):
        seen[node] = "open"
        stack.append(node)
        for dep in graph[node]:
            if node.startswith(dep + ".") or dep.startswith(node + "."):
                continue
            if seen.get(dep) == "open":
                cycle = stack[stack.index(dep):] + [dep]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if dep not in seen:
                visit(dep)
        stack.pop()
        seen[node] = "done"

    for module in sorted(graph):
        if module not in seen:
            visit(module)


def test_the_import_reader_sees_imports():
    """Guards the tests above against a reader that finds nothing."""
    assert "bayesfm.sampler.kernels" in _imports(MODULES["bayesfm.sampler.relational"])
    assert "bayesfm.models.observation" in _imports(MODULES["bayesfm.models.regressor"])
    assert any(m.startswith("arviz") for m in _imports(MODULES["bayesfm.inference_data"]))
    assert "arviz" not in _imports(MODULES["bayesfm.inference_data"], top_level_only=True)


@pytest.mark.parametrize("module", ["bayesfm.inference_data", "bayesfm.diagnostics",
                                    "bayesfm.cli"])
def test_public_modules_read_public_and_fitted_attributes_only(module):
    """No ``model._x`` access (private state) and no behaviour chosen by class name."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    private, by_name = [], []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "model" and node.attr.startswith("_")):
            private.append(f"line {node.lineno}: model.{node.attr}")
        if isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Attribute) and side.attr == "__name__"
                for side in [node.left, *node.comparators]):
            by_name.append(f"line {node.lineno}")
    assert not private, f"{module} reads private attributes: {private}"
    assert not by_name, f"{module} compares class names: {by_name}"


def _private_reads(source: str) -> list:
    """``obj._name`` uses of private attributes the module does not own: a name is owned when
    the module defines it (a function, class, or module or class variable) or assigns it on
    ``self`` or ``cls``; ``self._x`` and ``cls._x`` are always the module's own; dunders are
    public protocol."""
    tree = ast.parse(source)
    own = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            own.add(node.name)
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
              and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            own.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
    out = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not (node.attr.startswith("__") and node.attr.endswith("__"))
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                and node.attr not in own):
            out.append(f"line {node.lineno}: {ast.unparse(node)}")
    return out


#: the private attributes of a third-party library a module may touch, each a documented
#: workaround of that library's behaviour (the reason is in the module's docstring there)
THIRD_PARTY_WORKAROUNDS = {
    # Numba's threading start-up lock, shared with forked workers: a cancelled worker left it
    # held and the parent hung (parallel._own_numba_init_lock)
    "bayesfm.sampler.parallel": {"numba_parallel._backend_init_process_lock"},
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_attribute_of_another_module_is_used(module):
    allowed = THIRD_PARTY_WORKAROUNDS.get(module, set())
    bad = [b for b in _private_reads(MODULES[module].read_text(encoding="utf-8"))
           if b.split(": ", 1)[1] not in allowed]
    assert not bad, f"{module} uses private attributes it does not own: {bad}"


def test_the_private_reader_sees_private_reads():
    """Guards the test above: reads and writes of foreign private attributes are found, the
    module's own are not."""
    source = ("class A:\n    def __init__(self):\n        self._mine = 1\n"
              "    def f(self, other, model):\n        model._chains = other._mine\n"
              "        return other._draws, model._after_absorb(), self._x, other.__dict__\n")
    assert _private_reads(source) == ["line 5: model._chains", "line 6: other._draws",
                                      "line 6: model._after_absorb"]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("bayesfm.models")))
def test_the_models_run_kernels_only_through_execution(module):
    """How kernels run (lock, threads, build) is ``sampler.execution``'s alone: the models never
    reach below it."""
    below = ("bayesfm.sampler._jit", "bayesfm.sampler.threads")
    bad = sorted(m for m in _imports(MODULES[module]) if m.startswith(below))
    assert not bad, f"{module} imports {bad}"
