"""Reading scenario files: TOML in, a validated :class:`Scenario` out, or a :class:`ScenarioError`
naming the file and each bad field (``scenarios/peak.toml: load.stages[1].users: must be > 0``).

Values are validated strictly: a string is not a number, a number not a string, a float not an
integer, true not 1. Scenarios live in ``scenarios/`` at the repository root, one per file,
named by the file's stem.
"""

from __future__ import annotations

import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.gates.model import FieldIssue
from harness.scenario.model import Scenario

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"
_TOML_TYPES = {
    str: "a string",
    int: "an integer",
    float: "a float",
    bool: "a boolean",
    tuple: "an array",
    list: "an array",
    dict: "a table",
}


@dataclass(frozen=True)
class Problem:
    """One bad field: its dotted path (``load.stages[1].users``, empty for the file) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ScenarioError(ValueError):
    """A scenario that cannot be used; one line per problem, each naming the file."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate the scenario file at ``path``."""
    path = Path(path)
    source = _shown_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(source, [Problem("", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(source, [Problem("", f"cannot read it: {exc}")]) from None
    return parse_scenario(text, source=source)


def parse_scenario(text: str, *, source: str = "<scenario>") -> Scenario:
    """Validate scenario TOML ``text``; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, [Problem("", f"not valid TOML: {exc}")]) from None
    return validate_scenario(data, source=source)


def validate_scenario(data: Mapping[str, Any], *, source: str = "<scenario>") -> Scenario:
    """Validate already-parsed TOML data (tables as dicts, arrays as lists or tuples)."""
    try:
        return Scenario.model_validate(_tuples(data), strict=True)
    except ValidationError as exc:
        errors = _without_echoes(exc.errors())
        raise ScenarioError(source, [_problem(error) for error in errors]) from None


def list_scenarios(directory: Path | None = None) -> dict[str, Path]:
    """The scenario files in ``directory`` (default: the repository's ``scenarios/``) by name."""
    folder = directory or SCENARIOS_DIR
    return {path.stem: path for path in sorted(folder.glob("*.toml"))}


def find_scenario(name: str, directory: Path | None = None) -> Path:
    """The file of scenario ``name`` (``"smoke"``); a path to a ``.toml`` file is returned as is."""
    if name.endswith(".toml") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise ScenarioError(_shown_path(path), [Problem("", "no such file")])
        return path
    known = list_scenarios(directory)
    if name not in known:
        folder = _shown_path(directory or SCENARIOS_DIR)
        listed = ", ".join(known) or "none"
        raise ScenarioError(
            name, [Problem("", f"no scenario of that name in {folder}/ (known: {listed})")]
        )
    return known[name]


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _tuples(value: Any) -> Any:
    """TOML arrays as tuples: strict validation takes tuples for the models' tuple fields."""
    if isinstance(value, Mapping):
        return {key: _tuples(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return tuple(_tuples(item) for item in value)
    return value


# -- error messages -------------------------------------------------------------------------


def _without_echoes(errors: list[Any]) -> list[Any]:
    """Drop the "too short after validation" pydantic adds to an array whose items failed."""
    failed = {
        tuple(error["loc"][:index])
        for error in errors
        for index, part in enumerate(error["loc"])
        if isinstance(part, int)
    }
    return [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in failed)]


def _problem(error: Any) -> Problem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, FieldIssue):
        loc += cause.path
    path, parent = _walk(loc)
    return Problem(path, _message(error, parent, cause))


def _message(error: Any, parent: Any, cause: Any) -> str:
    kind, ctx, got = error["type"], error.get("ctx") or {}, error.get("input")
    if isinstance(cause, FieldIssue):
        return cause.message
    if isinstance(cause, Exception):
        return str(cause)
    if kind == "extra_forbidden":
        allowed = ", ".join(parent.model_fields) if _is_model(parent) else "none"
        return f"unknown key (allowed here: {allowed})"
    if kind == "missing":
        return "required"
    bounds = {
        "greater_than": ("> ", "gt"),
        "greater_than_equal": (">= ", "ge"),
        "less_than": ("< ", "lt"),
        "less_than_equal": ("<= ", "le"),
    }
    if kind in bounds:
        word, key = bounds[kind]
        return f"must be {word}{_number(ctx[key])}, got {got!r}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}, got {got!r}"
    if kind == "union_tag_invalid":
        return f"kind {ctx['tag']!r} is not one of {ctx['expected_tags']}"
    if kind == "union_tag_not_found":
        return f"needs a {ctx['discriminator']} key"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']} entr{'y' if ctx['min_length'] == 1 else 'ies'}"
    if kind == "too_long":
        return f"takes at most {ctx['max_length']} entries"
    if kind == "int_from_float":
        return f"must be a whole number, got {got!r}"
    expected = _EXPECTED.get(kind)
    if expected is not None:
        return f"must be {expected}, got {_TOML_TYPES.get(type(got), type(got).__name__)} {got!r}"
    return str(error["msg"])


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "tuple_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dataclass_type": "a table",
}


def _walk(loc: tuple[str | int, ...]) -> tuple[str, Any]:
    """The dotted path of ``loc`` for a reader (union tags dropped), and the type holding the
    last key (the model whose keys an unknown-key error lists)."""
    path = ""
    current: Any = Scenario
    parent: Any = None
    for part in loc:
        parent = current
        current = _unwrap(current)
        if isinstance(part, int):
            path += f"[{part}]"
            args = typing.get_args(current)
            current = args[0] if args and args[-1] is Ellipsis else _arg(args, part)
            continue
        members = _union_members(current)
        if members:
            chosen = _union_member(members, part)
            if chosen is not None:  # a tag pydantic puts in the location, not a key
                current = chosen
                continue
        path += f".{part}" if path else part
        if _is_model(current):
            field = current.model_fields.get(part)
            current = field.annotation if field else None
        elif typing.get_origin(current) in (dict, Mapping):
            current = typing.get_args(current)[1]
        else:
            current = None
    return path, _unwrap(parent)


def _arg(args: tuple[Any, ...], index: int) -> Any:
    return args[index] if index < len(args) else None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    members = _union_members(annotation)
    real = [m for m in members if m is not type(None)]
    if members and len(real) == 1:
        return _unwrap(real[0])
    return annotation


def _union_members(annotation: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return tuple(_unwrap(arg) for arg in typing.get_args(annotation))
    return ()


def _union_member(members: tuple[Any, ...], tag: str) -> Any:
    for member in members:
        if _is_model(member):
            kind = member.model_fields.get("kind")
            if kind is not None and kind.default == tag:
                return member
        elif getattr(member, "__name__", None) == tag:
            return member
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
