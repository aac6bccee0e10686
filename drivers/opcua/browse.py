"""``werkvloer opcua browse URL``: list a server's address space so a person can write the config.

``werkvloer opcua certificate`` (same entry point) shows the box's client
certificate and its thumbprints (``drivers.opcua.pki``).

Prints the tree under the Objects folder (node id, data type, access) and a
TOML snippet with one ``[[sources.opcua.signals]]`` per variable found.
The standard ``Server`` object (ns=0) is skipped unless ``--all`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from dataclasses import dataclass, field

from asyncua import Client, ua

from drivers.errors import WerkvloerError

from .connection import Endpoint, close_quietly, connect


@dataclass
class BrowsedNode:
    name: str
    node_id: str
    node_class: str
    data_type: str | None = None
    access: str | None = None  # "read", "write", "read/write" or "none"
    children: list[BrowsedNode] = field(default_factory=list)


async def browse(client: Client, *, root: str | None = None, depth: int = 6,
                 include_standard: bool = False) -> BrowsedNode:
    """The tree under ``root`` (default: Objects folder), ``depth`` levels deep."""
    node = client.get_node(root) if root else client.nodes.objects
    name = (await node.read_browse_name()).Name
    top = BrowsedNode(name, node.nodeid.to_string(), (await node.read_node_class()).name)
    seen: set[ua.NodeId] = {node.nodeid}
    await _children(client, top, node.nodeid, depth, seen, include_standard)
    return top


async def _children(client: Client, parent: BrowsedNode, nodeid: ua.NodeId, depth: int, seen: set[ua.NodeId],
                    include_standard: bool) -> None:
    if depth <= 0:
        return
    refs = await client.get_node(nodeid).get_children_descriptions()
    for ref in refs:
        child_id = ref.NodeId
        if child_id in seen:
            continue
        if not include_standard and child_id.NamespaceIndex == 0:
            continue  # the standard Server object etc.: thousands of nodes nobody configures
        seen.add(child_id)
        child = BrowsedNode(ref.BrowseName.Name or "?", child_id.to_string(), ref.NodeClass.name)
        if ref.NodeClass == ua.NodeClass.Variable:
            child.data_type, child.access = await _variable_info(client, child_id)
        parent.children.append(child)
        await _children(client, child, child_id, depth - 1, seen, include_standard)


async def _variable_info(client: Client, nodeid: ua.NodeId) -> tuple[str, str]:
    dvs = await client.get_node(nodeid).read_attributes(
        [ua.AttributeIds.DataType, ua.AttributeIds.AccessLevel, ua.AttributeIds.ValueRank])
    dtype_id = dvs[0].Value.Value if dvs[0].Value is not None else None
    access_bits = dvs[1].Value.Value if dvs[1].Value is not None and dvs[1].Value.Value is not None else 0
    rank = dvs[2].Value.Value if dvs[2].Value is not None else None
    dtype = "?"
    if isinstance(dtype_id, ua.NodeId):
        ident = dtype_id.Identifier
        if dtype_id.NamespaceIndex == 0 and isinstance(ident, int) and ident in ua.ObjectIdNames:
            dtype = ua.ObjectIdNames[ident]
        else:
            try:
                dtype = (await client.get_node(dtype_id).read_browse_name()).Name
            except Exception:  # a custom type we cannot read: show its id
                dtype = dtype_id.to_string()
    if isinstance(rank, int) and rank >= 1:
        dtype += "[]"
    can_read = bool(access_bits & (1 << ua.AccessLevel.CurrentRead))
    can_write = bool(access_bits & (1 << ua.AccessLevel.CurrentWrite))
    access = "read/write" if can_read and can_write else "read" if can_read else "write" if can_write else "none"
    return dtype, access


def render_tree(node: BrowsedNode, indent: str = "") -> list[str]:
    parts = [f"{indent}{node.name}", node.node_id]
    if node.node_class == "Variable":
        parts += [node.data_type or "?", node.access or "?"]
    elif node.node_class not in ("Object",):
        parts.append(node.node_class)
    lines = ["  ".join(parts)]
    for child in node.children:
        lines += render_tree(child, indent + "  ")
    return lines


def signal_name(browse_name: str) -> str:
    """``SpindleSpeed`` -> ``spindle_speed`` (fits the config's signal name pattern)."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", browse_name)
    s = re.sub(r"[^a-z0-9_]+", "_", s.lower()).strip("_")
    if not s or not s[0].isalpha():
        s = f"s_{s}"
    return s[:63]


def toml_snippet(tree: BrowsedNode, *, url: str, server_name: str = "plc") -> str:
    variables: list[tuple[str, BrowsedNode]] = []

    def walk(n: BrowsedNode, path: list[str]) -> None:
        for c in n.children:
            here = [*path, c.name]
            if c.node_class == "Variable" and c.access in ("read", "read/write"):
                # Name from the path below the top object: Cell.Vibration.Block -> vibration_block
                variables.append(("_".join(signal_name(p) for p in (here[1:] or here)), c))
            walk(c, here)

    walk(tree, [])
    lines = ["# Paste into the box config and keep the signals you need (names must be unique):",
             "[[sources.opcua]]", f'name = "{server_name}"', f'url = "{url}"', ""]
    used: set[str] = set()
    for base, v in variables:
        name = base = signal_name(base)
        n = 2
        while name in used:
            name = f"{base}_{n}"[:63]
            n += 1
        used.add(name)
        lines += ["[[sources.opcua.signals]]", f'name = "{name}"', f'node_id = "{v.node_id}"']
        if v.data_type and v.data_type.endswith("[]"):
            lines.append('# an array: arrives as a block (value = RMS); use sampling_interval_ms = 0, queue_size = 10')
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``werkvloer opcua [browse] URL ...`` and ``werkvloer opcua certificate ...``."""
    if argv[:1] == ["certificate"]:
        from .pki import main as certificate_main

        return certificate_main(argv[1:])
    if argv[:1] == ["browse"]:
        argv = argv[1:]
    p = argparse.ArgumentParser(prog="werkvloer opcua browse",
                                description="List an OPC UA server's address space and print a config snippet.")
    p.add_argument("url", help="endpoint URL, e.g. opc.tcp://192.168.0.10:4840")
    p.add_argument("--depth", type=int, default=6, help="levels below the start node (default 6)")
    p.add_argument("--root", default=None, help="start node id (default: the Objects folder)")
    p.add_argument("--all", action="store_true", help="include the standard Server object (namespace 0)")
    p.add_argument("--security", choices=["None", "Sign", "SignAndEncrypt"], default="None",
                   help="message security mode (Basic256Sha256); Sign* use the box's certificate in DATA_DIR/pki")
    p.add_argument("--data-dir", default=os.environ.get("WERKVLOER_DATA_DIR", "/var/lib/werkvloer"),
                   help="the box's data directory (for the client certificate)")
    p.add_argument("--user", default=None, help="user name; the password is read from $OPCUA_PASSWORD")
    p.add_argument("--timeout", type=float, default=5.0, help="request timeout in seconds")
    p.add_argument("--no-snippet", action="store_true", help="print only the tree")
    args = p.parse_args(argv)
    if not args.url.startswith("opc.tcp://"):
        print(f"{args.url!r} is not an OPC UA URL; it starts with opc.tcp://", file=sys.stderr)
        return 2
    if args.depth < 1:
        print("--depth must be at least 1", file=sys.stderr)
        return 2
    endpoint = Endpoint(url=args.url, security_mode=args.security,
                        data_dir=args.data_dir if args.security != "None" else None,
                        username=args.user, password=os.environ.get("OPCUA_PASSWORD") if args.user else None,
                        timeout_s=args.timeout)
    try:
        tree = asyncio.run(_browse(endpoint, root=args.root, depth=args.depth, include_standard=args.all))
    except WerkvloerError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (ua.UaError, ValueError) as exc:
        print(f"browsing {args.url} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(render_tree(tree)))
    if not args.no_snippet:
        print()
        print(toml_snippet(tree, url=args.url))
    return 0


async def _browse(endpoint: Endpoint, *, root: str | None, depth: int, include_standard: bool) -> BrowsedNode:
    client = await connect(endpoint)
    try:
        return await browse(client, root=root, depth=depth, include_standard=include_standard)
    finally:
        await close_quietly(client, timeout_s=endpoint.timeout_s)
