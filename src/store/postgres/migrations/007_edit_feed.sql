-- The search index of every node reads the edits it has yet to take in
-- by the messages' own `edited_at`, from its own place onwards, so that
-- no node's reading hides an edit from another's. `id` after `edited_at`
-- gives the feed's order straight from the index. Messages never edited
-- (nearly all) are left out of it.
CREATE INDEX messages_by_edit ON messages (edited_at, id) WHERE edited_at IS NOT NULL;

-- The marks the feed was read from before: nothing writes them any more.
DROP TABLE edit_marks;
DROP SEQUENCE edit_stamps;
