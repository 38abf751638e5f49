-- The order of a message's attachments: the place of each attached file
-- in the list its sender gave (0 first). Files are read back by message,
-- and their ids are random, so without it a message's files would come
-- back in no order worth showing. NULL for a file not attached.
ALTER TABLE files ADD COLUMN attached_place SMALLINT;
