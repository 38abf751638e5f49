-- The core of the store: accounts, rooms, memberships and messages.
--
-- Ids are Rust u64 kept in BIGINT by their bit pattern: a random user or
-- room id may read as negative here, so every order by user or room id is
-- made by the application, never by SQL. Message ids come from
-- message_counter, start at 0 and stay below 2^63, so SQL orders them.
-- Names are unique without regard to case through a folded copy, folded
-- by the application (as the embedded store folds them) and compared
-- byte by byte (COLLATE "C"), so that order and uniqueness never depend on
-- the server's locale.

CREATE TABLE users (
    id BIGINT PRIMARY KEY,
    username TEXT NOT NULL,
    username_folded TEXT COLLATE "C" NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    token_version BIGINT NOT NULL DEFAULT 0,
    -- Bumped by every update: an update replaces the revision it read.
    revision BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT users_username_key UNIQUE (username_folded)
);

CREATE TABLE rooms (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    name_folded TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL,
    -- True for direct rooms too, as in the model.
    private BOOLEAN NOT NULL,
    -- NULL for rooms whose kind follows from `private`, as in the model.
    kind TEXT CHECK (kind IN ('public', 'private', 'direct')),
    owner_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT rooms_name_key UNIQUE (name_folded)
);

CREATE INDEX rooms_owner ON rooms (owner_id);
CREATE INDEX rooms_public ON rooms (id) WHERE NOT private;

CREATE TABLE members (
    room_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE INDEX members_by_user ON members (user_id, room_id);

CREATE TABLE messages (
    room_id BIGINT NOT NULL,
    id BIGINT NOT NULL CHECK (id >= 0),
    user_id BIGINT NOT NULL,
    username TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    edited_at BIGINT,
    mentions BIGINT[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (room_id, id)
);

CREATE UNIQUE INDEX messages_id_key ON messages (id);

-- The next message id; one row. See the module doc of the store.
CREATE TABLE message_counter (
    single BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (single),
    next BIGINT NOT NULL CHECK (next >= 0)
);

INSERT INTO message_counter (single, next) VALUES (TRUE, 0);
