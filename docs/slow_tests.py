"""MkDocs hook: the list of slow tests, read from the `slow` markers in tests/ at build time.

`<!-- slow-tests -->` in a page is replaced by one line per marked test or case. The test files are
parsed with `ast` (no TensorFlow import, no collection): a mark on a test function or class, a
module-level `pytestmark`, `pytest.param(..., marks=...)` in a `parametrize` list or a fixture's
`params` (every test of the module that takes the fixture), and marks chosen by a condition
(`[pytest.mark.slow] if name in SECOND_OF_FAMILY else []`), shown as the condition with the
module's literal constants it names. `python -m pytest -m slow --collect-only -q` lists the
resulting test ids.
"""

import ast
import pathlib

MARKER = "<!-- slow-tests -->"
TESTS = pathlib.Path(__file__).resolve().parent.parent / "tests"


def _is_slow(node):
    """Whether `node` is `pytest.mark.slow`, or a list / tuple holding it."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(_is_slow(e) for e in node.elts)
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Attribute) and node.attr == "slow" and ast.unparse(node).endswith(
        "mark.slow")


def _constants(tree):
    """The module's top-level names bound to literals, for conditions that name them."""
    names = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name):
            try:
                names[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return names


def _literal(value):
    """`value` as Python source, a set sorted so that the page does not change between builds."""
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(map(repr, value))) + "}"
    return repr(value)


def _slow_cases(values, constants):
    """Descriptions of the slow entries of a `parametrize` / fixture `params` list node."""
    cases = []
    elements = values.elt if isinstance(values, ast.ListComp) else None
    for element in [elements] if elements is not None else getattr(values, "elts", []):
        if not (isinstance(element, ast.Call) and ast.unparse(element.func).endswith("param")):
            continue
        marks = next((k.value for k in element.keywords if k.arg == "marks"), None)
        first = ast.unparse(element.args[0]) if element.args else "?"
        if marks is None:
            continue
        if isinstance(marks, ast.IfExp) and (_is_slow(marks.body) or _is_slow(marks.orelse)):
            condition = ast.unparse(marks.test)
            if not _is_slow(marks.body):
                condition = f"not ({condition})"
            named = [f"`{n.id} = {_literal(constants[n.id])}`" for n in ast.walk(marks.test)
                     if isinstance(n, ast.Name) and n.id in constants]
            loop = ast.unparse(values.generators[0]).strip() if elements is not None else ""
            text = f"the cases of `{loop}` where `{condition}`"
            cases.append(text + (" (" + ", ".join(named) + ")" if named else ""))
        elif _is_slow(marks):
            cases.append(f"the case `{first}`")
    return cases


def _decorator_cases(decorator, constants):
    """Slow cases of one decorator: the mark itself, or slow entries of `parametrize`."""
    if _is_slow(decorator):
        return ["all cases"]
    if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith("parametrize"):
        return _slow_cases(decorator.args[1], constants) if len(decorator.args) > 1 else []
    return []


def slow_tests(tests=TESTS):
    """`(file, test, what is slow)` for every slow mark under `tests`, in file order."""
    found = []
    for path in sorted(tests.rglob("test_*.py")):
        tree = ast.parse(path.read_text(), str(path))
        constants = _constants(tree)
        name = path.relative_to(tests.parent).as_posix()
        module_slow = any(isinstance(n, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets) and _is_slow(n.value)
            for n in tree.body)
        functions = [n for n in ast.walk(tree)
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        tests_of = [f for f in functions if f.name.startswith(("test", "Test"))]
        if module_slow:
            found.append((name, "every test of the module", "all cases"))
            continue
        for function in functions:
            for decorator in function.decorator_list:
                is_fixture = isinstance(decorator, ast.Call) and ast.unparse(
                    decorator.func).endswith("fixture")
                if is_fixture:
                    params = next((k.value for k in decorator.keywords if k.arg == "params"), None)
                    cases = _slow_cases(params, constants) if params is not None else []
                    users = [t.name for t in tests_of if isinstance(t, ast.FunctionDef) and any(
                        a.arg == function.name for a in t.args.args)]
                    found += [(name, test, f"{case} of the fixture `{function.name}`")
                              for case in cases for test in users]
                else:
                    found += [(name, function.name, case)
                              for case in _decorator_cases(decorator, constants)]
    return found


def markdown_list(tests=TESTS):
    """The slow tests as a Markdown list, with their count."""
    found = slow_tests(tests)
    lines = [f"- `{file}::{test}`: {what}" for file, test, what in found]
    return f"{len(found)} marked tests or cases, read from the markers when this page was built:\n\n" + \
        "\n".join(lines)


def on_page_markdown(markdown, **kwargs):
    """MkDocs hook: fills in the list where a page asks for it."""
    return markdown.replace(MARKER, markdown_list()) if MARKER in markdown else markdown


if __name__ == "__main__":
    print(markdown_list())
