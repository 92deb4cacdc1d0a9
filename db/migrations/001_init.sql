-- 001_init: the chat store.
-- Times are milliseconds since the Unix epoch (bigint), as on the wire.
-- Every row carries `version`, the per-user change number that sync orders by;
-- user_versions holds each user's counter, and locking its row is what makes a
-- user's versions commit in order (DESIGN.md, hard part 1).

CREATE TABLE user_versions (
    user_id text PRIMARY KEY,
    version bigint NOT NULL DEFAULT 0
);

CREATE TABLE chats (
    id text PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 255),
    user_id text NOT NULL,
    title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 500),
    "timestamp" bigint NOT NULL,
    -- no foreign key: a branch outlives its parent's import order and deletion
    parent_chat_id text,
    branch_from_message_id text,
    branches jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(branches) = 'array'),
    is_deleted boolean NOT NULL DEFAULT false,
    version bigint NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);
-- GET /api/chats: a user's live chats, newest first, keyset-paged
CREATE INDEX chats_list ON chats (user_id, "timestamp" DESC, id DESC) WHERE NOT is_deleted;
-- GET /api/sync: a user's changes after a version
CREATE UNIQUE INDEX chats_sync ON chats (user_id, version);

CREATE TABLE messages (
    id text PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 255),
    chat_id text NOT NULL REFERENCES chats (id),
    user_id text NOT NULL,
    content text NOT NULL CHECK (octet_length(content) <= 1048576),
    role text NOT NULL CHECK (role IN ('user', 'assistant')),
    "timestamp" bigint NOT NULL,
    position integer CHECK (position >= 0),
    attachments jsonb,
    is_deleted boolean NOT NULL DEFAULT false,
    version bigint NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    CONSTRAINT messages_chat_position UNIQUE (chat_id, position)
);
-- a chat's messages in message order (position ascending, nulls first)
CREATE INDEX messages_order ON messages (chat_id, position ASC NULLS FIRST, "timestamp", id);
CREATE UNIQUE INDEX messages_sync ON messages (user_id, version);

CREATE TABLE sync_status (
    user_id text NOT NULL,
    device_id text NOT NULL CHECK (octet_length(device_id) BETWEEN 1 AND 255),
    last_sync_timestamp bigint,
    cursor text,
    updated_at bigint NOT NULL,
    PRIMARY KEY (user_id, device_id)
);
