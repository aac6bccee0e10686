"""The config reference, generated from the schema (the README embeds it and a
test checks the two are equal, so the docs cannot drift)."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from drivers.schema import OutputBase

from .config import BoxConfig

BEGIN = "<!-- config-reference:begin -->"
END = "<!-- config-reference:end -->"


def _unwrap(tp: Any) -> tuple[Any, bool, bool]:
    """(inner type, is_list, is_optional)"""
    optional = False
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        optional = len(args) < len(get_args(tp))
        tp = args[0] if len(args) == 1 else tp
        origin = get_origin(tp)
    if origin is list:
        return get_args(tp)[0], True, optional
    return tp, False, optional


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " \\| ".join(repr(a).replace("'", '"') for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp) if a is not type(None))
    if origin is list:
        return f"list of {_type_name(get_args(tp)[0])}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "table"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, getattr(tp, "__name__", str(tp)))


def _bounds(info: FieldInfo) -> str:
    parts = []
    for m in info.metadata:
        if isinstance(m, Ge):
            parts.append(f">= {m.ge}")
        elif isinstance(m, Gt):
            parts.append(f"> {m.gt}")
        elif isinstance(m, Le):
            parts.append(f"<= {m.le}")
        elif isinstance(m, Lt):
            parts.append(f"< {m.lt}")
        elif isinstance(m, MinLen):
            parts.append(f"at least {m.min_length} items/chars")
        elif isinstance(m, MaxLen):
            parts.append(f"at most {m.max_length} chars")
        elif hasattr(m, "pattern") and m.pattern:
            parts.append(f"pattern `{m.pattern}`")
    return ", ".join(parts)


def _default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined:
        return "(empty)" if info.default_factory is not None else "**required**"
    d = info.default
    if d is None:
        return "(none)"
    if isinstance(d, bool):
        return str(d).lower()
    if isinstance(d, str):
        return f'"{d}"'
    return str(d)


def _union_models(tp: Any) -> list[type[BaseModel]]:
    """The members of a union of tables chosen by ``kind`` (e.g. guard.outputs), in order; [] otherwise.
    A member that is not a ``drivers.schema.OutputBase`` only words an error and has no keys of its own."""
    if get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) not in (typing.Union, types.UnionType):
        return []
    members = [get_args(a)[0] if get_origin(a) is typing.Annotated else a for a in get_args(tp)]
    return [m for m in members if isinstance(m, type) and issubclass(m, OutputBase)]


def _merged(members: list[type[BaseModel]], prefix: str) -> list[tuple[str, str, str, str, str]]:
    """One row per key over all members; a key they share with other values (``kind``) lists them all."""
    merged: dict[str, tuple[str, str, str, str, str]] = {}
    for m in members:
        for row in rows(m, prefix):
            have = merged.get(row[0])
            if have is not None and have[1] != row[1]:
                row = (row[0], f"{have[1]} \\| {row[1]}", *row[2:])
            merged[row[0]] = row if have is None or have[1] != row[1] else have
    return list(merged.values())


def rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str, str]]:
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        inner, is_list, _ = _unwrap(info.annotation)
        is_model = isinstance(inner, type) and issubclass(inner, BaseModel)
        members = _union_models(inner)
        if is_model or members:
            out.append((path + ("[]" if is_list else ""), "list of tables" if is_list else "table",
                        "", "", info.title or ""))
            sub = path + ("[]" if is_list else "")
            out += _merged(members, sub) if members else rows(inner, sub)
            continue
        desc = info.title or ""
        if info.description:
            desc += f" — {info.description}" if desc else info.description
        out.append((path, _type_name(info.annotation), _default(info), _bounds(info), desc))
    return out


def reference_markdown() -> str:
    lines = [BEGIN, "", "| key | type | default | bounds | meaning |", "|---|---|---|---|---|"]
    for path, tp, default, bounds, desc in rows(BoxConfig):
        lines.append(f"| `{path}` | {tp} | {default} | {bounds} | {desc.replace('|', '/')} |")
    lines += ["", END]
    return "\n".join(lines)


def update_readme(path: str) -> bool:
    """Rewrite the generated block in README.md; True when it changed."""
    from pathlib import Path

    p = Path(path)
    text = p.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + reference_markdown() + text[end:]
    if new != text:
        p.write_text(new, encoding="utf-8")
    return new != text
