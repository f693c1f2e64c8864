-- Each message keeps its place in both users' streams, so the duplicate path reads a message's
-- own row instead of an index over the streams, and a conversation's history is read from one
-- index on `messages` (one entry per message, at the tail of its sender→recipient run) instead
-- of two per-user indexes on `inbox` (two entries per message). Every index a message adds is
-- a page its commit writes: this halves the pages a batch of messages dirties.
ALTER TABLE messages ADD COLUMN sender_seq INTEGER;
ALTER TABLE messages ADD COLUMN recipient_seq INTEGER;

-- The sender's entry is always pushed before the recipient's, so MIN/MAX also tell them apart
-- for a message a user sent to themself.
UPDATE messages SET
    sender_seq = (SELECT MIN(seq) FROM inbox
                  WHERE user_id = messages.sender AND kind = 'message' AND message = messages.id),
    recipient_seq = (SELECT MAX(seq) FROM inbox
                     WHERE user_id = messages.recipient AND kind = 'message' AND message = messages.id);

CREATE INDEX messages_pair ON messages(sender, recipient, id);
DROP INDEX inbox_conversation;
DROP INDEX inbox_message;
