"""The SQL of the PostgreSQL log beyond the library's own: the chain table, the append
function that writes events and links together, and the batch reads."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.sql import SQL, Composed, Identifier, Literal

from service.chain import GENESIS_HASH

CHAIN_TABLE = "event_chain"

# The whole write of a batch as one statement, so one round trip in its own transaction:
# the table lock and the notification the library's recorder sends, then the events, then
# each one's link as `service.chain.link_hash` computes it over the bytes just stored (its
# position is only known inside the insert).
_APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION {function}(
    ids uuid[], versions bigint[], topics text[], states bytea[],
    ticket_ids bigint[], delivery_ids text[]
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
    SELECT hash INTO previous FROM {chain} ORDER BY position DESC LIMIT 1;
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
        INSERT INTO {chain} VALUES
            (positions[i], ticket_ids[i], versions[i], delivery_ids[i], previous);
    END LOOP;
    RETURN QUERY SELECT unnest(positions);
END
$$
"""


@dataclass(frozen=True)
class Statements:
    """Rendered once: psycopg would compose them again on every execution."""

    create: list[Composed]
    append: bytes
    chain_head: bytes
    known_facts: bytes
    head_events: bytes
    links_after: bytes


def statements(schema: str, events_table_name: str, lock_timeout: int) -> Statements:
    chain = SQL("{0}.{1}").format(Identifier(schema), Identifier(CHAIN_TABLE))
    events = SQL("{0}.{1}").format(Identifier(schema), Identifier(events_table_name))
    # Named after the events table: two applications sharing a schema keep their own.
    function = SQL("{0}.{1}").format(Identifier(schema), Identifier(f"{events_table_name}_append"))
    return Statements(
        create=[
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (position bigint PRIMARY KEY, "
                "ticket_id bigint, version bigint NOT NULL, delivery_id text UNIQUE, "
                "hash text NOT NULL)"
            ).format(chain),
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS {0} ON {1} (ticket_id, version) "
                "WHERE ticket_id IS NOT NULL"
            ).format(Identifier(f"{CHAIN_TABLE}_ticket_version"), chain),
            SQL(_APPEND_FUNCTION).format(
                function=function,
                chain=chain,
                events=events,
                # The library's recorder notifies this channel on each commit.
                channel=Identifier(events_table_name.replace(".", "_")),
                lock_timeout=Literal(f"{lock_timeout}s"),
                genesis=Literal(GENESIS_HASH),
            ),
        ],
        # One array per column, sent in binary: the library sends an array of composite
        # values as text, escaped byte by byte, which costs more than the rest of a write.
        append=SQL(
            "SELECT position FROM {0}(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[], "
            "%b::bigint[], %b::text[]) AS appended(position)"
        )
        .format(function)
        .as_bytes(None),
        chain_head=SQL("SELECT position, hash FROM {0} ORDER BY position DESC LIMIT 1")
        .format(chain)
        .as_bytes(None),
        known_facts=SQL(
            "SELECT delivery_id, ticket_id, version, position FROM {0} "
            "WHERE delivery_id = ANY(%b::text[]) "
            "UNION ALL "
            "SELECT NULL, head.ticket_id, head.version, head.position "
            "FROM unnest(%b::bigint[]) AS wanted(ticket_id) CROSS JOIN LATERAL ("
            "SELECT ticket_id, version, position FROM {0} WHERE ticket_id = wanted.ticket_id "
            "ORDER BY version DESC LIMIT 1) AS head"
        )
        .format(chain)
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
