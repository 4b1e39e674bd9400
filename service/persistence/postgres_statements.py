"""The SQL of the PostgreSQL log beyond the library's own: the chain table, the append
function that writes events and links together, and the batch reads."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.sql import SQL, Composed, Identifier, Literal

from service.chain import GENESIS_HASH
from service.persistence.links import ChainLayout

CHAIN_TABLE = "event_chain"

# The whole write of a batch as one statement, so one round trip in its own transaction:
# the table lock and the notification the library's recorder sends, then the events, then
# each one's link as `service.chain.link_hash` computes it over the bytes just stored (its
# position is only known inside the insert). Links chain through their hex form whichever
# way the layout keeps them.
_APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION {function}(
    ids uuid[], versions bigint[], topics text[], states bytea[], {link_parameters}
) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
DECLARE
    separator CONSTANT bytea := decode('00', 'hex');
    previous text;
    positions bigint[];
BEGIN
    SET LOCAL lock_timeout = {lock_timeout};
    -- Commit order is position order, and no other writer extends the chain meanwhile.
    LOCK TABLE {events} IN EXCLUSIVE MODE;
    NOTIFY {channel};
    SELECT {hash_hex} INTO previous FROM {chain} ORDER BY position DESC LIMIT 1;
    previous := coalesce(previous, {genesis});
    WITH inserted AS (
        INSERT INTO {events} (originator_id, originator_version, topic, state)
        SELECT * FROM unnest(ids, versions, topics, states)
        RETURNING notification_id
    )
    -- Positions are drawn in the order of the rows, as the library's own insert assumes.
    SELECT array_agg(notification_id ORDER BY notification_id) INTO positions FROM inserted;
    FOR i IN 1 .. coalesce(cardinality(positions), 0) LOOP
        previous := encode(sha256(
            convert_to(previous, 'UTF8') || separator
            || convert_to(positions[i]::text, 'UTF8') || separator
            || convert_to(ids[i]::text, 'UTF8') || separator
            || convert_to(versions[i]::text, 'UTF8') || separator
            || convert_to(topics[i], 'UTF8') || separator || states[i]
        ), 'hex');
        INSERT INTO {chain} VALUES ({link_values});
    END LOOP;
    RETURN QUERY SELECT unnest(positions);
END
$$
"""


@dataclass(frozen=True)
class _LayoutSQL:
    """What differs between the chain layouts (see `ChainLayout`)."""

    create: list[str]
    link_parameters: str
    link_values: str
    hash_hex: str
    link_types: str
    # The delivery ids (or keys) asked about, and how a chain row matches one of them.
    wanted_deliveries: str
    delivery_match: str


_LAYOUTS = {
    ChainLayout.COMPACT: _LayoutSQL(
        create=[
            "CREATE TABLE IF NOT EXISTS {chain} (position bigint PRIMARY KEY, "
            "delivery_key bigint, hash bytea NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {delivery_index} ON {chain} (delivery_key)",
        ],
        link_parameters="delivery_keys bigint[]",
        link_values="positions[i], delivery_keys[i], decode(previous, 'hex')",
        hash_hex="encode(hash, 'hex')",
        link_types="%b::bigint[]",
        wanted_deliveries="%b::bigint[]",
        delivery_match="link.delivery_key = wanted.key",
    ),
    # Only ever found, never made: the table and its indexes are there already.
    ChainLayout.HEX: _LayoutSQL(
        create=[],
        link_parameters="ticket_ids bigint[], delivery_ids text[]",
        link_values="positions[i], ticket_ids[i], versions[i], delivery_ids[i], previous",
        hash_hex="hash",
        link_types="%b::bigint[], %b::text[]",
        wanted_deliveries="%b::text[]",
        delivery_match="link.delivery_id = wanted.key",
    ),
}


@dataclass(frozen=True)
class Statements:
    """Rendered once: psycopg would compose them again on every execution."""

    create: list[Composed]
    append: bytes
    chain_head: bytes
    known_facts: bytes
    head_events: bytes
    links_after: bytes


def layout_query(schema: str) -> Composed:
    """The type of the chain table's hash column, if the table is there: which layout."""
    return SQL(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = {0} AND table_name = {1} AND column_name = 'hash'"
    ).format(Literal(schema), Literal(CHAIN_TABLE))


def layout_of(hash_type: str | None) -> ChainLayout:
    return ChainLayout.HEX if hash_type == "text" else ChainLayout.COMPACT


def statements(
    schema: str, events_table_name: str, lock_timeout: int, layout: ChainLayout
) -> Statements:
    chain = SQL("{0}.{1}").format(Identifier(schema), Identifier(CHAIN_TABLE))
    events = SQL("{0}.{1}").format(Identifier(schema), Identifier(events_table_name))
    # Named after the events table: two applications sharing a schema keep their own.
    function = SQL("{0}.{1}").format(Identifier(schema), Identifier(f"{events_table_name}_append"))
    parts = _LAYOUTS[layout]
    return Statements(
        create=[
            *(
                SQL(statement).format(
                    chain=chain, delivery_index=Identifier(f"{CHAIN_TABLE}_delivery_key")
                )
                for statement in parts.create
            ),
            SQL(_APPEND_FUNCTION).format(
                function=function,
                chain=chain,
                events=events,
                # The library's recorder notifies this channel on each commit.
                channel=Identifier(events_table_name.replace(".", "_")),
                lock_timeout=Literal(f"{lock_timeout}s"),
                genesis=Literal(GENESIS_HASH),
                link_parameters=SQL(parts.link_parameters),
                link_values=SQL(parts.link_values),
                hash_hex=SQL(parts.hash_hex),
            ),
        ],
        # One array per column, sent in binary: the library sends an array of composite
        # values as text, escaped byte by byte, which costs more than the rest of a write.
        append=SQL(
            "SELECT position FROM {0}(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[], "
            "{1}) AS appended(position)"
        )
        .format(function, SQL(parts.link_types))
        .as_bytes(None),
        chain_head=SQL("SELECT position, hash FROM {0} ORDER BY position DESC LIMIT 1")
        .format(chain)
        .as_bytes(None),
        # Rows as `links.known_facts_of` reads them; the heads come from the events table's
        # own key (stream, version). Every lookup is a subquery run once per wanted value
        # (ARRAY(...), and LIMIT to keep the planner from turning the lateral into a join):
        # a join would leave the plan to table statistics, and where they are missing or
        # old (a log just filled, autovacuum off) the planner guesses thousands of matches
        # per key and scans both tables in parallel, twenty times slower than the lookups.
        known_facts=SQL(
            "SELECT found.position, e.originator_id, e.originator_version, e.state "
            "FROM unnest({3}) AS wanted(key), "
            "unnest(ARRAY(SELECT link.position FROM {0} AS link WHERE {2})) AS found(position) "
            "CROSS JOIN LATERAL (SELECT originator_id, originator_version, state FROM {1} "
            "WHERE notification_id = found.position LIMIT 1) AS e "
            "UNION ALL "
            "SELECT head.notification_id, head.originator_id, head.originator_version, NULL "
            "FROM unnest(%b::uuid[]) AS wanted(id) CROSS JOIN LATERAL ("
            "SELECT notification_id, originator_id, originator_version FROM {1} "
            "WHERE originator_id = wanted.id ORDER BY originator_version DESC LIMIT 1) AS head"
        )
        .format(chain, events, SQL(parts.delivery_match), SQL(parts.wanted_deliveries))
        .as_bytes(None),
        head_events=SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {0} e "
            "JOIN unnest(%b::uuid[], %b::bigint[]) AS head(id, version) "
            "ON e.originator_id = head.id AND e.originator_version = head.version"
        )
        .format(events)
        .as_bytes(None),
        links_after=SQL(
            "SELECT position, hash FROM {0} WHERE position > %s ORDER BY position LIMIT %s"
        )
        .format(chain)
        .as_bytes(None),
    )
