"""The package's layers: who may import whom, no import cycles, no oversized files or functions.

Every `.py` file under `keras_prelu/` and `zoo/` is parsed with `ast` (nothing
is imported). Each module belongs to one group; a group may import only the
groups `ALLOWED` names. The checker is plain functions of (module name,
source text), so the tests at the end feed it synthetic modules.
"""

import ast
import pathlib
from typing import NamedTuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOP_PACKAGES = ("keras_prelu", "zoo")
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 100

CORE_MODULES = ("activations", "constraints", "initializers", "layers", "normalization", "ops",
                "optimizers")

# group -> the module names it holds: "a.b" means a.b and everything below it.
# The package `keras_prelu` itself (its __init__) is core too (see group_of).
GROUP_MODULES = {
    "kernels": ("keras_prelu._tf_kernels", "keras_prelu.native"),
    "utils": ("keras_prelu.utils",),
    "core": tuple(f"keras_prelu.{name}" for name in CORE_MODULES),
    "zoo": ("zoo",),
    "diagnostics": ("keras_prelu.diagnostics",),
    "training": ("keras_prelu.training",),
    "export": ("keras_prelu.export",),
    "study": ("keras_prelu.study",),
    "commands": ("keras_prelu.commands",),
    # Former module paths kept for users' code (each is the moved module itself).
    "aliases": ("keras_prelu.experiment",),
}
ALL_GROUPS = frozenset(GROUP_MODULES)

# Modules that run without TensorFlow inside the TensorFlow-only training package (data for
# every backend): at import time they may import only utils and each other.
TENSORFLOW_FREE = ("keras_prelu.training.sources", "keras_prelu.training.array_data")

# group -> the groups its modules may import (its own included).
ALLOWED = {
    "kernels": {"kernels", "utils"},
    "utils": {"utils"},
    "core": {"core", "utils", "kernels"},
    "zoo": {"zoo", "core", "utils"},
    "diagnostics": {"diagnostics", "core", "utils"},
    "training": {"training", "zoo", "core", "utils"},
    "export": {"export", "training", "zoo", "core", "utils"},
    "study": {"study", "training", "diagnostics", "zoo", "core", "utils"},
    "commands": set(ALL_GROUPS) - {"aliases"},
    "aliases": {"aliases", "training"},  # nothing imports an alias
}


class Import(NamedTuple):
    target: str  # the module imported, resolved to an absolute dotted name
    line: int
    text: str  # the statement as written
    module_level: bool  # runs on import (not inside a function)


# ---------------------------------------------------------------------------
# The checker: functions of (module name, source text)
# ---------------------------------------------------------------------------


def module_name(path, root=ROOT):
    """`keras_prelu/training/data.py` -> `keras_prelu.training.data`; `__init__.py` -> its package."""
    parts = list(pathlib.Path(path).relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root=ROOT):
    """{module name: path} of every `.py` file under the top-level packages."""
    files = {}
    for package in TOP_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            files[module_name(path, root)] = path
    return files


def group_of(module):
    """The group a module name belongs to, or None."""
    if module == "keras_prelu":
        return "core"
    for group, prefixes in GROUP_MODULES.items():
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return group
    return None


def _is_ours(module):
    return module.split(".")[0] in TOP_PACKAGES


def _resolve_relative(module, is_package, level, name):
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _statement_text(source_lines, node):
    lines = source_lines[node.lineno - 1 : node.end_lineno]
    return " ".join(line.strip() for line in lines)


def _walk_with_scope(tree):
    """Yield (node, inside_function) for every node of the tree."""
    stack = [(tree, False)]
    while stack:
        node, in_function = stack.pop()
        yield node, in_function
        nested = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        stack.extend((child, nested) for child in ast.iter_child_nodes(node))


def imports_of(module, source, known_modules=(), is_package=None):
    """The imports of our own packages in `source`, as `Import`s sorted by line.

    `from P import X` means the module `P.X` where that is one of
    `known_modules`, else `P` itself. Relative imports are resolved against `module`;
    `importlib.import_module("literal")` counts as an import too.
    """
    known = set(known_modules)
    if is_package is None:
        is_package = any(k.startswith(module + ".") for k in known)
    tree = ast.parse(source)
    source_lines = source.splitlines()
    found = []
    for node, in_function in _walk_with_scope(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.append(submodule if submodule in known else base)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            targets = [node.args[0].value]
        text = _statement_text(source_lines, node) if targets else ""
        for target in dict.fromkeys(targets):
            if _is_ours(target):
                found.append(Import(target, node.lineno, text, not in_function))
    return sorted(found, key=lambda i: (i.line, i.target))


def _bound_names(source):
    """Names a module binds at its top level (defs, classes, assignments, imports), or None if it
    can bind names we cannot see (`from x import *`, a module `__getattr__`)."""
    names = set()
    for node, in_function in _walk_with_scope(ast.parse(source)):
        if in_function:
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
    return None if "__getattr__" in names else names


def missing_names(module, source, sources):
    """Messages for `from P import X` of our packages where X is neither a module nor a name P binds.

    `sources` is {module: source text} of every module (P's text tells what it binds).
    """
    problems = []
    is_package = any(k.startswith(module + ".") for k in sources)
    source_lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = _resolve_relative(module, is_package, node.level, node.module) if node.level else node.module
        if base not in sources:
            continue
        bound = _bound_names(sources[base])
        for alias in node.names:
            if alias.name == "*" or bound is None or f"{base}.{alias.name}" in sources:
                continue
            if alias.name not in bound:
                problems.append(
                    f"{module}:{node.lineno}: `{_statement_text(source_lines, node)}` -- "
                    f"{base} has no module or name {alias.name!r}"
                )
    return problems


def layer_violations(module, source, known_modules=()):
    """Messages for every import in `source` that its group may not make (and for an unplaced module)."""
    group = group_of(module)
    if group is None:
        return [f"{module}: belongs to no group; add it to GROUP_MODULES in tests/test_layering.py"]
    problems = []
    for imp in imports_of(module, source, known_modules):
        target_group = group_of(imp.target)
        if target_group is None:
            problems.append(
                f"{module}:{imp.line}: `{imp.text}` imports {imp.target}, which belongs to no group"
            )
        elif target_group not in ALLOWED[group]:
            problems.append(
                f"{module}:{imp.line}: `{imp.text}` -- {group} may not import {target_group} "
                f"({imp.target}); {group} may import {', '.join(sorted(ALLOWED[group]))}"
            )
    return problems


def size_violations(module, source, max_file_lines=MAX_FILE_LINES, max_function_lines=MAX_FUNCTION_LINES):
    """Messages for a file over `max_file_lines` and every function (methods, nested) over `max_function_lines`."""
    problems = []
    lines = len(source.splitlines())
    if lines > max_file_lines:
        problems.append(f"{module}: {lines} lines (at most {max_file_lines})")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > max_function_lines:
                problems.append(
                    f"{module}:{node.lineno}: function {node.name}() is {length} lines "
                    f"(at most {max_function_lines})"
                )
    return problems


def import_graph(sources, module_level_only=False):
    """{(importer, imported): [Import, ...]} between modules of `sources` ({module: source text})."""
    known = set(sources)
    edges = {}
    for module, source in sources.items():
        for imp in imports_of(module, source, known):
            if module_level_only and not imp.module_level:
                continue
            if imp.target != module:
                edges.setdefault((module, imp.target), []).append(imp)
    return edges


def group_graph(module_edges):
    """The module graph collapsed to groups: {(group, group): [(importer, Import), ...]}, self-loops dropped."""
    edges = {}
    for (importer, imported), imports in module_edges.items():
        a, b = group_of(importer), group_of(imported)
        if a and b and a != b:
            edges.setdefault((a, b), []).extend((importer, imp) for imp in imports)
    return edges


def find_cycles(edges):
    """One cycle (a list of nodes, first == last) per strongly connected component of more than one node."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def connect(node):  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph, component):
    """A shortest cycle through the smallest node of a strongly connected component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle in {component}")  # a component of > 1 node always has one


def describe_cycle(cycle, edges):
    """`a -> b -> a`, then where each step is imported: `module:line: statement`."""
    lines = [" -> ".join(cycle)]
    for a, b in zip(cycle, cycle[1:]):
        for entry in edges[(a, b)][:3]:
            importer, imp = (a, entry) if isinstance(entry, Import) else entry
            lines.append(f"    {a} -> {b}: {importer}:{imp.line}: `{imp.text}`")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# The package as it is
# ---------------------------------------------------------------------------

FILES = source_files()
SOURCES = {module: path.read_text(encoding="utf-8") for module, path in FILES.items()}


def _where(message):
    """Prefix a checker message `module:...` with the file's path relative to the project."""
    module, _, rest = message.partition(":")
    path = FILES.get(module)
    return f"{path.relative_to(ROOT)}:{rest.lstrip(':')}" if path else message


def _fail_with(problems, what):
    if problems:
        pytest.fail(f"{len(problems)} {what}:\n" + "\n".join(problems), pytrace=False)


def test_the_package_is_found():
    assert {"keras_prelu", "keras_prelu.layers", "zoo", "keras_prelu.commands.main"} <= set(FILES)


def test_every_module_belongs_to_a_group():
    _fail_with([f"{FILES[m].relative_to(ROOT)}: module {m} belongs to no group" for m in FILES
                if group_of(m) is None], "modules outside every group")


def test_imports_respect_the_layers():
    problems = []
    for module, source in SOURCES.items():
        if group_of(module) is not None:  # an unplaced module fails test_every_module_belongs_to_a_group
            problems += [_where(p) for p in layer_violations(module, source, FILES)]
    _fail_with(problems, "imports across the layers")


def test_from_imports_name_what_exists():
    problems = []
    for module, source in SOURCES.items():
        problems += [_where(p) for p in missing_names(module, source, SOURCES)]
    _fail_with(problems, "imports of names that do not exist")


def test_tensorflow_free_modules_import_only_utils_and_each_other():
    problems = []
    for module in TENSORFLOW_FREE:
        for imp in imports_of(module, SOURCES[module], FILES):
            if imp.module_level and group_of(imp.target) != "utils" and imp.target not in TENSORFLOW_FREE:
                problems.append(_where(f"{module}:{imp.line}: `{imp.text}` -- a TensorFlow-free module "
                                       f"may import only utils and {', '.join(TENSORFLOW_FREE)}"))
    _fail_with(problems, "imports that could bring TensorFlow in")


def test_no_import_cycle_between_groups():
    edges = group_graph(import_graph(SOURCES))
    _fail_with([describe_cycle(c, edges) for c in find_cycles(edges)], "import cycles between groups")


def test_no_import_cycle_between_modules():
    edges = import_graph(SOURCES, module_level_only=True)
    _fail_with([describe_cycle(c, edges) for c in find_cycles(edges)], "import cycles between modules")


def test_files_and_functions_are_not_too_long():
    problems = []
    for module, source in SOURCES.items():
        problems += [_where(p) for p in size_violations(module, source)]
    _fail_with(problems, "files or functions too long")


# ---------------------------------------------------------------------------
# The checker itself, on synthetic modules
# ---------------------------------------------------------------------------

KNOWN = set(FILES) | {"keras_prelu.training", "keras_prelu.training.data"}


def test_the_table_has_no_cycle_and_only_commands_import_commands():
    allowed = {(a, b): [] for a, targets in ALLOWED.items() for b in targets if a != b}
    assert find_cycles(allowed) == []
    assert [g for g, targets in ALLOWED.items() if "commands" in targets] == ["commands"]


def test_checker_reports_an_upward_import():
    source = "import keras\n\n\ndef f():\n    from keras_prelu.training import recipes\n    return recipes\n"
    (problem,) = layer_violations("keras_prelu.layers", source, KNOWN | {"keras_prelu.training.recipes"})
    assert problem.startswith("keras_prelu.layers:5: `from keras_prelu.training import recipes`")
    assert "core may not import training" in problem


@pytest.mark.parametrize(
    "module,source,target",
    [
        ("keras_prelu.layers", "from keras_prelu import training\n", "keras_prelu.training"),
        ("keras_prelu.layers", "from keras_prelu import PReLU\n", "keras_prelu"),
        ("keras_prelu.layers", "import keras_prelu.training.data as d\n", "keras_prelu.training.data"),
        ("keras_prelu.utils.files", "from .. import layers\n", "keras_prelu.layers"),
        ("keras_prelu.utils.files", "from ..training import data\n", "keras_prelu.training.data"),
        ("keras_prelu.utils", "from . import validation\n", "keras_prelu.utils.validation"),
        ("zoo.mlp", "import importlib\nimportlib.import_module('keras_prelu.study')\n", "keras_prelu.study"),
    ],
)
def test_checker_resolves_imports(module, source, target):
    known = KNOWN | {"keras_prelu.utils.validation"}
    assert [i.target for i in imports_of(module, source, known)] == [target]


def test_checker_allows_the_table_and_refuses_commands_and_unknown_modules():
    assert layer_violations("keras_prelu.study.x", "from keras_prelu import diagnostics, training\nimport zoo\n",
                            KNOWN) == []
    assert layer_violations("keras_prelu.commands.x", "import keras_prelu.export\n", KNOWN) == []
    (problem,) = layer_violations("keras_prelu.export.x", "from keras_prelu.commands import main\n", KNOWN)
    assert "export may not import commands" in problem
    (problem,) = layer_violations("zoo.x", "import keras_prelu.blocks\n", KNOWN)
    assert "keras_prelu.blocks, which belongs to no group" in problem
    assert layer_violations("keras_prelu.newthing", "", KNOWN) == [
        "keras_prelu.newthing: belongs to no group; add it to GROUP_MODULES in tests/test_layering.py"
    ]


def test_checker_reports_a_from_import_of_a_missing_name():
    sources = {
        "keras_prelu": "from keras_prelu import layers\nfrom keras_prelu.layers import PReLU\nVERSION = 1\n",
        "keras_prelu.layers": "class PReLU:\n    pass\n",
        "keras_prelu.training": "",
        "keras_prelu.training.experiment": "def train():\n    pass\n",
        "keras_prelu.commands.study": "def run():\n    from keras_prelu import experiment, layers, PReLU\n",
    }
    assert missing_names("keras_prelu.commands.study", sources["keras_prelu.commands.study"], sources) == [
        "keras_prelu.commands.study:2: `from keras_prelu import experiment, layers, PReLU` -- "
        "keras_prelu has no module or name 'experiment'"
    ]
    sources["keras_prelu"] += "def __getattr__(name):\n    pass\n"
    assert missing_names("keras_prelu.commands.study", sources["keras_prelu.commands.study"], sources) == []


def test_checker_finds_cycles_at_module_level_only():
    sources = {
        "zoo.a": "from zoo import b\n",
        "zoo.b": "import zoo.c\n",
        "zoo.c": "import zoo.a\n\ndef f():\n    import zoo.d\n",
        "zoo.d": "def g():\n    import zoo.c\n",
    }
    edges = import_graph(sources, module_level_only=True)
    assert find_cycles(edges) == [["zoo.a", "zoo.b", "zoo.c", "zoo.a"]]
    assert "zoo.c -> zoo.a: zoo.c:1: `import zoo.a`" in describe_cycle(find_cycles(edges)[0], edges)
    assert find_cycles(import_graph({"zoo.d": sources["zoo.d"], "zoo.c": "def f():\n    import zoo.d\n"},
                                    module_level_only=True)) == []
    groups = group_graph(import_graph({"keras_prelu.layers": "import zoo\n", "zoo": "import keras_prelu\n"}))
    assert find_cycles(groups) == [["core", "zoo", "core"]]


def test_checker_measures_files_and_functions():
    source = "class A:\n    def method(self):\n" + "".join(f"        x{i} = {i}\n" for i in range(100))
    problems = size_violations("zoo.x", source, max_file_lines=50)
    assert problems[0] == "zoo.x: 102 lines (at most 50)"
    assert problems[1:] == ["zoo.x:2: function method() is 101 lines (at most 100)"]
