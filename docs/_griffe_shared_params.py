"""Griffe extension for the API pages: fill in the estimators' shared parameter documentation.

``FMRegressor``, ``FMClassifier`` and ``FMOrdinalRegressor`` write ``{params}`` in their class
docstring and replace it at import time with ``bayesfm.models._docs._COMMON_DOC`` (the parameters
the three share). mkdocstrings reads the source without importing it, so this extension does the
same replacement on the loaded docstrings. Used by mkdocs.yml; not part of the site.
"""

from __future__ import annotations

import ast
import textwrap

import griffe

PLACEHOLDER = "{params}"


class FillSharedParameters(griffe.Extension):
    def on_package(self, *, pkg, **kwargs) -> None:
        if pkg.name != "bayesfm":
            return
        try:
            source = pkg["models._docs"].members["_COMMON_DOC"].value
            common = ast.literal_eval(str(source))
        except (KeyError, ValueError, SyntaxError) as exc:      # loud: the build must fail
            raise RuntimeError(f"cannot read bayesfm.models._docs._COMMON_DOC: {exc!r}") from exc
        text = textwrap.dedent(common).rstrip()
        for obj in _classes(pkg):
            doc = obj.docstring
            if doc is not None and PLACEHOLDER in doc.value:
                doc.value = doc.value.replace(PLACEHOLDER, text)


def _classes(module):
    for member in module.members.values():
        if member.is_alias:
            continue
        if member.is_module:
            yield from _classes(member)
        elif member.is_class:
            yield member
