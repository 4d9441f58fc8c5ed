"""The languages the repo map parses with tree-sitter, and the tag queries it runs on each.

Each grammar wheel ships its authors' `tags.scm`; a few patterns are added where it only sees calls
(Python), so imports, attributes, bases and annotations link files too. Grammars are wheels on PyPI
that carry compiled parsers: nothing is downloaded at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath

from tree_sitter import Language, Query

_PYTHON_EXTRA = """
(import_from_statement name: (dotted_name (identifier) @name)) @reference.import
(import_from_statement name: (aliased_import name: (dotted_name (identifier) @name))) @reference.import
(attribute attribute: (identifier) @name) @reference.attribute
(type (identifier) @name) @reference.type
(class_definition superclasses: (argument_list (identifier) @name)) @reference.class
(decorator (identifier) @name) @reference.call
(class_definition body: (block (function_definition name: (identifier) @name))) @definition.method
"""


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    extensions: tuple[str, ...]
    grammar: Callable[[], object]
    queries: Callable[[], tuple[str, ...]]


def _python() -> LanguageSpec:
    import tree_sitter_python as grammar

    return LanguageSpec(
        "python", (".py", ".pyi"), grammar.language, lambda: (grammar.TAGS_QUERY, _PYTHON_EXTRA)
    )


def _javascript() -> LanguageSpec:
    import tree_sitter_javascript as grammar

    return LanguageSpec(
        "javascript",
        (".js", ".jsx", ".mjs", ".cjs"),
        grammar.language,
        lambda: (grammar.TAGS_QUERY,),
    )


def _typescript(tsx: bool) -> LanguageSpec:
    import tree_sitter_javascript as javascript
    import tree_sitter_typescript as grammar

    # TypeScript's tags.scm only adds to JavaScript's: the TS grammar extends the JS one.
    return LanguageSpec(
        "tsx" if tsx else "typescript",
        (".tsx",) if tsx else (".ts", ".mts", ".cts"),
        grammar.language_tsx if tsx else grammar.language_typescript,
        lambda: (javascript.TAGS_QUERY, grammar.TAGS_QUERY),
    )


def _go() -> LanguageSpec:
    import tree_sitter_go as grammar

    return LanguageSpec("go", (".go",), grammar.language, lambda: (grammar.TAGS_QUERY,))


@cache
def _by_extension() -> dict[str, LanguageSpec]:
    specs = [_python(), _javascript(), _typescript(False), _typescript(True), _go()]
    return {extension: spec for spec in specs for extension in spec.extensions}


def language_for(path: str) -> LanguageSpec | None:
    return _by_extension().get(PurePosixPath(path).suffix.lower())


@cache
def compiled(name: str) -> tuple[Language, tuple[Query, ...]]:
    """Queries compiled once per process; a pattern the grammar rejects is a bug, not user input."""
    spec = next(spec for spec in _by_extension().values() if spec.name == name)
    language = Language(spec.grammar())
    return language, tuple(Query(language, text) for text in spec.queries())
