// Streamed replies' chunks held in memory between their arrival and their
// write into the replica: views lay them over the stored message at once (the
// text grows per chunk), while the replica is written once per FLUSH_MS with
// every chunk held (a full rewrite of a long message per chunk would cost
// more than the chunk). Followers hold the chunks the leader forwards, until
// it says they are stored.

export const FLUSH_MS = 50;

// The text rule of docs/API.md: a message's text is its last document's
// content plus the chunks after its streamSeq, in order. Chunks at or below
// streamSeq are duplicates; the first one past the next stops (a gap is never
// papered over). A final document (not streaming) is the text.
export function withChunks(doc, chunks) {
  if (!doc || doc.streamState !== 'streaming' || !chunks || !chunks.length) return doc;
  let { content, streamSeq = 0 } = doc;
  for (const c of chunks) {
    if (c.seq <= streamSeq) continue;
    if (c.seq !== streamSeq + 1) break;
    content += c.text;
    streamSeq = c.seq;
  }
  return streamSeq === doc.streamSeq ? doc : { ...doc, content, streamSeq };
}

export function createHeld() {
  const held = new Map(); // messageId -> chunks in seq order

  return {
    // The last chunk held for a message (0: none).
    last(id) {
      const list = held.get(id);
      return list && list.length ? list[list.length - 1].seq : 0;
    },
    // Keeps a chunk in seq order; one already held is ignored.
    add(chunk) {
      const list = held.get(chunk.messageId) || [];
      if (list.some((c) => c.seq === chunk.seq)) return;
      list.push({ messageId: chunk.messageId, chatId: chunk.chatId, seq: chunk.seq, text: chunk.text });
      list.sort((a, b) => a.seq - b.seq);
      held.set(chunk.messageId, list);
    },
    // What is held now: [[messageId, chunks]].
    entries: () => [...held].map(([id, list]) => [id, list.slice()]),
    // The chunks of id up to seq are stored (or superseded): forget them.
    drop(id, seq) {
      const list = (held.get(id) || []).filter((c) => c.seq > seq);
      if (list.length) held.set(id, list);
      else held.delete(id);
    },
    // A message as the views show it.
    lay: (doc) => (doc && held.has(doc.id) ? withChunks(doc, held.get(doc.id)) : doc),
    get size() {
      return held.size;
    },
  };
}
