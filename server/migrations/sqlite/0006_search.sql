-- Full-text search over messages, in every script.
--
-- The server tokenizes (server/src/search/terms.rs): words, folded, and
-- the bigrams of CJK runs. The index holds those tokens, space-separated,
-- under the message's id as rowid; FTS5's `ascii` tokenizer only splits
-- them on the spaces again. It is contentless (the text is in `messages`)
-- and deletable, so an edit replaces a message's row and a delete removes it.
CREATE VIRTUAL TABLE message_search USING fts5(
    terms,
    content = '',
    contentless_delete = 1,
    tokenize = 'ascii'
);
-- Every commit of messages writes a small segment, which FTS5 merges as
-- it goes: by default as soon as a level holds 4 segments (`automerge`),
-- and a whole level at once at 16 (`crisismerge`). Merging 8 at a time
-- rewrites each entry fewer times: about a tenth of the indexing's CPU
-- (docs/benchmarks.md, "Search"), for a few more segments a search looks
-- through. (`columnsize=0` would save a row per message, but FTS5 refuses
-- it with `contentless_delete=1`, which edits and deletes need.)
INSERT INTO message_search (message_search, rank) VALUES ('automerge', 8);
INSERT INTO message_search (message_search, rank) VALUES ('crisismerge', 32);

-- Messages stored before this migration are indexed by the server in the
-- background, newest first: every message with an id below `below` is
-- still to do (0: all done).
CREATE TABLE search_backfill (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    below INTEGER NOT NULL
);
INSERT INTO search_backfill (id, below)
SELECT 1, COALESCE(MAX(id), 0) + 1 FROM messages;

-- The search filter `from:` finds a sender's messages newest first.
CREATE INDEX messages_sender ON messages(sender_id, id) WHERE kind = 0;
