-- Streamed assistant replies (docs/API.md, "Streamed assistant replies"):
-- a message's stream state and the last chunk whose text is in content.
-- Every existing message is complete; the defaults need no table rewrite.
ALTER TABLE messages
    ADD COLUMN stream_state text NOT NULL DEFAULT 'complete'
        CHECK (stream_state IN ('streaming', 'complete', 'error')),
    ADD COLUMN stream_seq bigint NOT NULL DEFAULT 0 CHECK (stream_seq >= 0);
-- the few streaming messages: the per-user cap at create, the idle sweeper
CREATE INDEX messages_streaming ON messages (user_id, updated_at)
    WHERE stream_state = 'streaming';
