-- Everything around the messages: reactions, read marks, notification
-- levels, direct rooms, push subscriptions, files' records and usage,
-- the keys clients give their messages, the marks of edits the search
-- index has yet to see, and the hiding of messages a failed batch left.
-- Ids are u64 bit patterns in BIGINT, as in 001_core.sql. No foreign
-- keys (see the store's module doc): deleting a room or a message removes
-- what belongs to it explicitly.

-- One row per user per emoji per message. `seq` orders a message's
-- emojis by their first use and each emoji's users by when they chose it.
CREATE TABLE reactions (
    room_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    emoji TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    username TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (room_id, message_id, emoji, user_id)
);

CREATE INDEX reactions_in_order ON reactions (room_id, message_id, seq);

-- Where each user stopped reading each room: the last message read.
CREATE TABLE read_marks (
    room_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    last_read_id BIGINT NOT NULL CHECK (last_read_id >= 0),
    PRIMARY KEY (room_id, user_id)
);

-- The levels users chose; absent means the room kind's default.
CREATE TABLE notification_levels (
    room_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('all', 'mentions', 'none')),
    PRIMARY KEY (room_id, user_id)
);

-- Direct rooms by their people: the participants' ids, sorted as u64 and
-- written in fixed-width hex joined by commas, so one set has one key.
CREATE TABLE direct_rooms (
    people TEXT COLLATE "C" PRIMARY KEY,
    room_id BIGINT NOT NULL UNIQUE
);

CREATE TABLE push_subscriptions (
    endpoint TEXT COLLATE "C" PRIMARY KEY,
    user_id BIGINT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_id);

-- Uploaded files' records. Hashes are the 32 bytes of a SHA-256.
CREATE TABLE files (
    id BIGINT PRIMARY KEY,
    room_id BIGINT NOT NULL,
    uploader_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    size BIGINT NOT NULL CHECK (size >= 0),
    content_type TEXT NOT NULL,
    sha256 BYTEA NOT NULL,
    width INTEGER,
    height INTEGER,
    thumb_sha256 BYTEA,
    created_at BIGINT NOT NULL,
    -- The message it is attached to, once it is.
    message_id BIGINT
);

CREATE INDEX files_by_room ON files (room_id);
CREATE INDEX files_by_message ON files (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX files_unattached ON files (created_at) WHERE message_id IS NULL;
CREATE INDEX files_by_blob ON files (sha256);
CREATE INDEX files_by_thumb ON files (thumb_sha256) WHERE thumb_sha256 IS NOT NULL;

-- Bytes of the files each user uploaded that are still stored.
CREATE TABLE file_usage (
    user_id BIGINT PRIMARY KEY,
    bytes BIGINT NOT NULL CHECK (bytes >= 0)
);

-- The key a client gave a message (`clientId`), kept for a day.
CREATE TABLE client_ids (
    user_id BIGINT NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL,
    room_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    -- When it was stored, in ms since the epoch.
    stored_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE INDEX client_ids_by_age ON client_ids (stored_at);

-- Messages edited since the search index last took them in. `stamp`
-- grows with every edit, so a mark an edit renewed is told from the one
-- read before it.
CREATE SEQUENCE edit_stamps;

CREATE TABLE edit_marks (
    room_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    stamp BIGINT NOT NULL,
    PRIMARY KEY (room_id, message_id)
);

-- Message ids from `from_id` on that are hidden: a batch from there
-- could not be made durable (`quarantine_from`).
CREATE TABLE quarantine (
    from_id BIGINT PRIMARY KEY CHECK (from_id >= 0),
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);

-- Keys every node must share (the tokens' signing key, the push
-- service's key pair): made by whichever node starts first.
CREATE TABLE server_keys (
    name TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);
