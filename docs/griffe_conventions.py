"""Griffe extension: read the project's two docstring conventions the Google parser does not know.

- ``Example:`` (singular) heads a doctest block written flush left; griffe's Google parser knows
  only an indented ``Examples:`` section and would render the doctests as prose (``>>>`` as
  quotes, ``x["a"][1]`` as a link).
- ``a, b: description`` in ``Args:`` documents two parameters at once (numpydoc allows it, the
  Google parser reads one parameter named "a, b"). Each name gets its own entry with the shared
  description, so that griffe still checks every name against the signature.
"""

import re

import griffe

_ARGS_HEADERS = {"Args:", "Arguments:", "Parameters:", "Params:"}
_GROUPED = re.compile(r"^(\s+)(\w+(?:, \w+)+):(.*)$")
_HEADER = re.compile(r"^[A-Z][A-Za-z ]*:$")


def rewrite(text):
    """The docstring `text` with ``Example:`` headers and grouped parameters rewritten."""
    lines = text.split("\n")
    out, in_args, in_example, i = [], False, False, 0
    while i < len(lines):
        line = lines[i]
        if _HEADER.match(line):
            in_args, in_example = line in _ARGS_HEADERS, line == "Example:"
            if in_example:  # the section's items must follow its header without a blank line
                out.append("Examples:")
                i += 1
                while i < len(lines) and not lines[i].strip():
                    i += 1
                continue
        elif in_example and line.strip():
            line = "    " + line
        match = _GROUPED.match(line) if in_args else None
        if not match:
            out.append(line)
            i += 1
            continue
        indent, names, description = match.groups()
        block = [description]
        i += 1
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            block.append(lines[i])
            i += 1
        for name in names.split(", "):
            out.append(f"{indent}{name}:{block[0]}")
            out.extend(block[1:])
    return "\n".join(out)


class ProjectDocstrings(griffe.Extension):
    """Rewrites every docstring as it is loaded, before mkdocstrings parses it."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
