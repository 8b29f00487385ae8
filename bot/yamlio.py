"""This module contains YAML loading for the config and watchlist files, with line-aware errors.

Every file wirewatch reads as YAML goes through `load_yaml`, which

- refuses a key written twice in one mapping (PyYAML keeps the last one silently), naming
  both lines; merge keys (``<<: *defaults``) may still be overridden, as YAML intends;
- bounds alias expansion: a file whose aliases stand for more than `MAX_VALUES` values (a
  "billion laughs") or that refers to itself is refused before anything walks it;
- turns syntax errors and absurd nesting into a `ConfigError` with line and column;
- remembers the line of every key and list item, so `YamlDoc.problem` can say
  ``file: rooms[0].chat (line 7): ...`` for any key path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from bot.errors import ConfigError

Path = Sequence[str | int]

# Config and watchlist files hold a few thousand values (the bundled watchlist: ~1,800). Aliases
# may share a block between rooms, but never legitimately multiply a file a hundredfold.
MAX_VALUES = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_KEY_RE = re.compile(r"^[A-Za-z_][\w\-]*$")


def format_path(path: Path) -> str:
    """`('rooms', 0, 'chat')` -> `rooms[0].chat`; keys that are not plain words are quoted."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif _PLAIN_KEY_RE.match(str(part)):
            out += ("." if out else "") + str(part)
        else:
            out += f"[{str(part)!r}]"
    return out or "(top level)"


def problems_error(problems: list[str]) -> ConfigError:
    """One ConfigError carrying every problem; its message is the first one and a count."""
    extra = len(problems) - 1
    more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra > 0 else ""
    return ConfigError(problems[0] + more, list(problems))


@dataclass
class YamlDoc:
    """Plain YAML data (dicts, lists, scalars) and the line of each of its keys and items."""

    data: Any
    source: str
    # id(container) -> (its own line, {key: line} or [line of each item])
    _positions: dict[int, tuple[int, Any]] = field(default_factory=dict, repr=False)

    def line(self, path: Path) -> int | None:
        """The line of the deepest part of `path` that the file has (None: not even its first key)."""
        node = self.data
        pos = self._positions.get(id(node))
        line = None  # a key the top level lacks has no line (line 1 would mislead)
        for part in path:
            if pos is None:
                break
            lines = pos[1]
            if isinstance(node, dict) and isinstance(lines, dict) and part in node:
                line = lines.get(part, line)
                node = node[part]
            elif (isinstance(node, list) and isinstance(lines, list) and isinstance(part, int)
                  and 0 <= part < len(node)):
                line = lines[part]
                node = node[part]
            else:
                break
            pos = self._positions.get(id(node))
        return line

    def where(self, path: Path) -> str:
        """`rooms[0].chat (line 7)`: the key path and its line, for messages."""
        line = self.line(path)
        return format_path(path) + (f" (line {line})" if line else "")

    def problem(self, path: Path, message: str) -> str:
        """`file: rooms[0].chat (line 7): message`."""
        return f"{self.source}: {self.where(path)}: {message}"


class _Loader(yaml.SafeLoader):
    """A safe loader that records aliases as they are composed and positions as it builds."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.alias_uses: list[tuple[str, int, yaml.Node]] = []  # anchor, line, node
        self.positions: dict[int, tuple[int, Any]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            self.alias_uses.append((event.anchor, event.start_mark.line + 1, node))
            return node
        return super().compose_node(parent, index)


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Any:
    data: dict[Any, Any] = {}
    yield data
    data.update(loader.construct_mapping(node))
    lines: dict[Any, int] = {}
    for key_node, _ in node.value:  # flattened: merged keys first, so the file's own keys win
        lines[loader.construct_object(key_node)] = key_node.start_mark.line + 1
    loader.positions[id(data)] = (node.start_mark.line + 1, lines)


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Any:
    data: list[Any] = []
    yield data
    data.extend(loader.construct_sequence(node))
    loader.positions[id(data)] = (node.start_mark.line + 1,
                                  [item.start_mark.line + 1 for item in node.value])


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _key_name(node: yaml.Node) -> Any:
    return node.value if isinstance(node, yaml.ScalarNode) else "?"


def _inspect(root: yaml.Node, loader: _Loader, source: str) -> list[str]:
    """Duplicate keys, self-references and alias bombs in the composed tree, without
    expanding it: every distinct node is visited once (iteratively: depth costs no stack)."""
    problems: list[str] = []
    size: dict[int, int] = {}  # id(node) -> values it stands for, aliases expanded
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[Any, ...], bool]] = [(root, (), False)]
    while stack:
        node, path, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            size[key] = min(1 + sum(size[id(c)] for c in _children(node)), MAX_VALUES + 1)
            continue
        if key in size:
            continue
        if key in on_path:
            anchor = next((a for a, _, n in loader.alias_uses if n is node), "?")
            line = next((ln for a, ln, n in loader.alias_uses if n is node), 0)
            return [f"{source}: line {line}: the alias *{anchor} refers to a value that "
                    "contains it; aliases must not refer to themselves"]
        on_path.add(key)
        stack.append((node, path, True))
        if isinstance(node, yaml.MappingNode):
            problems.extend(_duplicates(node, path, source))
            for key_node, value in reversed(node.value):
                stack.append((value, (*path, _key_name(key_node)), False))
                stack.append((key_node, path, False))
        elif isinstance(node, yaml.SequenceNode):
            for i in reversed(range(len(node.value))):
                stack.append((node.value[i], (*path, i), False))
        # a key visited while its mapping is still open is a cycle only through aliases
    if size.get(id(root), 0) > MAX_VALUES:
        return [_bomb(loader, size, source)]
    return problems


def _duplicates(node: yaml.MappingNode, path: tuple[Any, ...], source: str) -> list[str]:
    first: dict[tuple[str, str], yaml.Mark] = {}
    out = []
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        ident = (key_node.tag, key_node.value)
        mark = key_node.start_mark
        if ident in first:
            old = first[ident]
            at = f"line {old.line + 1}" + (f", column {old.column + 1}" if old.line == mark.line
                                           else "")
            out.append(f"{source}: {format_path((*path, key_node.value))} (line {mark.line + 1}): "
                       f"duplicate key {key_node.value!r} (first at {at}); write each key once")
        else:
            first[ident] = mark
    return out


def _bomb(loader: _Loader, size: dict[int, int], source: str) -> str:
    uses: dict[str, list[Any]] = {}
    for anchor, line, node in loader.alias_uses:
        entry = uses.setdefault(anchor, [line, 0, size.get(id(node), 0)])
        entry[1] += 1
    anchor, (line, count, each) = max(uses.items(), key=lambda kv: kv[1][1] * kv[1][2])
    stands = f"more than {MAX_VALUES:,}" if each > MAX_VALUES else f"{each:,}"
    return (f"{source}: line {line}: aliases expand this file to more than {MAX_VALUES:,} values "
            f"(*{anchor}, used {count} times from line {line} on, stands for {stands} values); "
            "refusing to load it: write the values out instead")


def load_yaml(text: str, source: str) -> YamlDoc:
    """Parse YAML text into a YamlDoc; ConfigError (every problem, each positioned) if the text
    is not YAML, writes a key twice, or expands aliases beyond `MAX_VALUES` values."""
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            raise ConfigError(_syntax_message(exc, source)) from None
        except RecursionError:
            raise ConfigError(f"{source}: not valid YAML: nested too deeply") from None
        if root is None:
            return YamlDoc(None, source)
        problems = _inspect(root, loader, source)
        if problems:
            raise problems_error(problems)
        try:
            data = loader.construct_document(root)
        except yaml.YAMLError as exc:
            raise ConfigError(_syntax_message(exc, source)) from None
        except RecursionError:
            raise ConfigError(f"{source}: not valid YAML: nested too deeply") from None
        return YamlDoc(data, source, loader.positions)
    finally:
        loader.dispose()


def _syntax_message(exc: yaml.YAMLError, source: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{source}: not valid YAML{where}: {problem}"
