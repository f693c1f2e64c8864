-- Group messages (crates/store/src/group_messages.rs). A group message is one `messages` row
-- (its `recipient` is the group id) with an entry in the stream of every member who got it.
ALTER TABLE messages ADD COLUMN group_id UUID;      -- the group, for a group message
ALTER TABLE inbox ADD COLUMN group_id UUID;         -- the group, for a group event

-- A member's group history, and who received a group message (its removal goes to them).
CREATE INDEX inbox_group ON inbox(user_id, group_id, seq)
    WHERE group_id IS NOT NULL AND kind = 'message';
CREATE INDEX inbox_group_message ON inbox(message, user_id)
    WHERE group_id IS NOT NULL AND kind = 'message';
-- A group message by its id, for deletion by an admin (who names only the msg_id): unique in
-- its group, so that no member can reuse another's id to have an admin delete the wrong one.
CREATE UNIQUE INDEX messages_group ON messages(group_id, msg_id) WHERE group_id IS NOT NULL;
