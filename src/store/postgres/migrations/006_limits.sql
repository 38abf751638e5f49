-- Limits that must hold for the whole cluster, not per process: the
-- authentication throttle's counted attempts, and the open WebSockets
-- each node holds per user. Both are short-lived state: hits older than
-- their window and the rows of nodes long dead are swept.

-- One row per counted attempt per key. `kind` names the window
-- ('login', 'registration'); `key` is a lowercased username or a client
-- address as text; `at_ms` is the database's clock, so nodes whose clocks
-- differ still agree on what is within the window.
CREATE TABLE throttle_hits (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);

-- A key's hits within the window, newest first.
CREATE INDEX throttle_hits_by_key ON throttle_hits (kind, key, at_ms);
-- The oldest hits of a kind, for the sweep.
CREATE INDEX throttle_hits_by_age ON throttle_hits (kind, at_ms);

-- The nodes counting connections, and when each last said it was alive
-- (the database's clock, in milliseconds).
CREATE TABLE cluster_nodes (
    node BIGINT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);

-- WebSockets open per node per user. A row at 0 is deleted.
CREATE TABLE user_connections (
    node BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    n INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (node, user_id)
);

CREATE INDEX user_connections_by_user ON user_connections (user_id);
