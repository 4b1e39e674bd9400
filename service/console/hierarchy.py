"""An event's tickets as a tree: groups over the children `/v1/tickets/{id}/children` names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Node:
    ticket: dict[str, Any]
    children: list[Node] = field(default_factory=list)


def tree(
    tickets: Sequence[dict[str, Any]], children_of: Mapping[int, Sequence[dict[str, Any]]]
) -> list[Node]:
    """Roots are the tickets no listed group names as a child. A ticket under two groups is
    shown under each; a group reached again below itself is shown without its children, and
    groups that only name each other start from the first of them."""
    named = {child["ticketId"] for children in children_of.values() for child in children}
    reached: set[int] = set()

    def grow(ticket: dict[str, Any], above: frozenset[int]) -> Node:
        ticket_id = ticket["ticketId"]
        reached.add(ticket_id)
        node = Node(ticket)
        if ticket_id in above:
            return node
        for child in children_of.get(ticket_id, ()):
            node.children.append(grow(child, above | {ticket_id}))
        return node

    roots = [grow(t, frozenset()) for t in tickets if t["ticketId"] not in named]
    for ticket in tickets:
        if ticket["ticketId"] not in reached:
            roots.append(grow(ticket, frozenset()))
    return roots
