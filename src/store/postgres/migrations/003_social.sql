-- Read state counts, among the messages after a user's read mark, those
-- that mention the user (up to a cap). This index holds only the
-- messages that mention anyone, so that count reads past none of the
-- many that mention nobody.
CREATE INDEX messages_mentioning ON messages (room_id, id) WHERE cardinality(mentions) > 0;
