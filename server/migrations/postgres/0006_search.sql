-- Full-text search over messages, in every script.
--
-- The server tokenizes (server/src/search/terms.rs): words, folded, and
-- the bigrams of CJK runs, and writes them as a `tsvector` literal, each
-- token at its position, so no text-search configuration or locale is
-- involved. An edit replaces a message's row and a delete removes it.
CREATE TABLE message_search (
    id    BIGINT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    terms TSVECTOR NOT NULL
);
CREATE INDEX message_search_terms ON message_search USING GIN (terms);

-- Messages stored before this migration are indexed by the server in the
-- background, newest first: every message with an id below `below` is
-- still to do (0: all done).
CREATE TABLE search_backfill (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    below BIGINT NOT NULL
);
INSERT INTO search_backfill (id, below)
SELECT 1, COALESCE(MAX(id), 0) + 1 FROM messages;

-- The search filter `from:` finds a sender's messages newest first.
CREATE INDEX messages_sender ON messages(sender_id, id) WHERE kind = 0;
