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
# position is only known inside the insert). Links chain through their hex form.
_APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION {function}(
    ids uuid[], versions bigint[], topics text[], states bytea[], delivery_keys bigint[],
    content_keys bigint[]
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
    SELECT encode(hash, 'hex') INTO previous FROM {chain} ORDER BY position DESC LIMIT 1;
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
        INSERT INTO {chain}
        VALUES (positions[i], delivery_keys[i], decode(previous, 'hex'), content_keys[i]);
    END LOOP;
    RETURN QUERY SELECT unnest(positions);
END
$$
"""


# The hash in its 32 bytes; the delivery indexed by the keys (see `links.delivery_key`) of
# its delivery id and its content id.
_CREATE_CHAIN = [
    "CREATE TABLE IF NOT EXISTS {chain} (position bigint PRIMARY KEY, "
    "delivery_key bigint, hash bytea NOT NULL, content_key bigint)",
    "CREATE INDEX IF NOT EXISTS {delivery_index} ON {chain} (delivery_key)",
    "CREATE INDEX IF NOT EXISTS {content_index} ON {chain} (content_key)",
]
# Candidate events of the index entries whose key is in an array, as `links` reads them.
# Every lookup is a subquery run once per wanted value (ARRAY(...), and LIMIT to keep the
# planner from turning the lateral into a join): a join would leave the plan to table
# statistics, and where they are missing or old (a log just filled, autovacuum off) the
# planner guesses thousands of matches per key and scans both tables in parallel, twenty
# times slower than the lookups.
_INDEXED = (
    "SELECT found.position, e.originator_id, e.originator_version, e.state "
    "FROM unnest(%b::bigint[]) AS wanted(key), "
    "unnest(ARRAY(SELECT link.position FROM {chain} AS link "
    "WHERE link.{column} = wanted.key)) AS found(position) "
    "CROSS JOIN LATERAL (SELECT originator_id, originator_version, state FROM {events} "
    "WHERE notification_id = found.position LIMIT 1) AS e"
)


@dataclass(frozen=True)
class Statements:
    """Rendered once: psycopg would compose them again on every execution."""

    create: list[Composed]
    append: bytes
    chain_head: bytes
    known_facts: bytes
    find_deliveries: bytes
    head_events: bytes
    links_after: bytes


def statements(schema: str, events_table_name: str, lock_timeout: int) -> Statements:
    chain = SQL("{0}.{1}").format(Identifier(schema), Identifier(CHAIN_TABLE))
    events = SQL("{0}.{1}").format(Identifier(schema), Identifier(events_table_name))
    # Named after the events table: two applications sharing a schema keep their own.
    function = SQL("{0}.{1}").format(Identifier(schema), Identifier(f"{events_table_name}_append"))
    return Statements(
        create=[
            *(
                SQL(statement).format(
                    chain=chain,
                    delivery_index=Identifier(f"{CHAIN_TABLE}_delivery_key"),
                    content_index=Identifier(f"{CHAIN_TABLE}_content_key"),
                )
                for statement in _CREATE_CHAIN
            ),
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
            "%b::bigint[], %b::bigint[]) AS appended(position)"
        )
        .format(function)
        .as_bytes(None),
        chain_head=SQL("SELECT position, hash FROM {0} ORDER BY position DESC LIMIT 1")
        .format(chain)
        .as_bytes(None),
        # Rows as `links.known_facts_of` reads them; the heads come from the events table's
        # own key (stream, version), looked up once per wanted ticket like the index above.
        known_facts=SQL(
            _INDEXED.format(chain="{0}", events="{1}", column="content_key") + " UNION ALL "
            "SELECT head.notification_id, head.originator_id, head.originator_version, NULL "
            "FROM unnest(%b::uuid[]) AS wanted(id) CROSS JOIN LATERAL ("
            "SELECT notification_id, originator_id, originator_version FROM {1} "
            "WHERE originator_id = wanted.id ORDER BY originator_version DESC LIMIT 1) AS head"
        )
        .format(chain, events)
        .as_bytes(None),
        find_deliveries=SQL(_INDEXED.format(chain="{0}", events="{1}", column="delivery_key"))
        .format(chain, events)
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
