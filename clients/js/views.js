// What the app sees: the replica's documents with the outbox laid over them in
// order (Replicache's "pending mutations rebased on the server state"). A write
// the server refuses leaves the outbox, and the next view no longer shows it:
// that is the whole rollback. Documents changed by a pending write carry
// `pending: true`.

import { mutators, compareChats, compareMessages } from './mutators.js';

function applyOutbox(state, outbox) {
  for (const entry of outbox) {
    const m = mutators[entry.name];
    if (m) m.apply(state, entry);
  }
}

// Chats that are not deleted, newest first. The replica reads them in that
// order (its byTime index); with no pending write that is the answer, checked
// in one pass (a timestamp that is not a number could order differently), so
// 1,000 chats are neither copied into a map nor sorted.
export async function chatsView(replica, userId) {
  const { chats, sorted, outbox } = await replica.chatsNewestFirst();
  if (sorted && outbox.length === 0 && inOrder(chats)) return chats.filter((c) => !c.isDeleted);
  const state = { userId, chats: new Map(chats.map((c) => [c.id, c])), messages: new Map() };
  applyOutbox(state, outbox);
  return [...state.chats.values()].filter((c) => !c.isDeleted).sort(compareChats);
}

function inOrder(chats) {
  for (let i = 1; i < chats.length; i++) if (compareChats(chats[i - 1], chats[i]) > 0) return false;
  return true;
}

// { ...chat, messages } with its messages that are not deleted, in message
// order; null when the chat is unknown or deleted. lay(message): the message
// with the streamed chunks held in memory (streams.js).
export async function chatView(replica, userId, chatId, lay = (m) => m) {
  const outbox = await replica.outbox();
  const state = { userId, chats: new Map(), messages: new Map() };
  const load = async (id) => {
    const chat = await replica.chat(id);
    if (chat) state.chats.set(id, chat);
    for (const m of await replica.messagesOf(id)) state.messages.set(m.id, lay(m));
  };
  await load(chatId);
  // A pending branch copies from its parent: the parent's messages are needed.
  for (const e of outbox) if (e.name === 'branchChat' && e.args.id === chatId) await load(e.args.chatId);
  applyOutbox(state, outbox);
  const chat = state.chats.get(chatId);
  if (!chat || chat.isDeleted) return null;
  const messages = [...state.messages.values()].filter((m) => m.chatId === chatId && !m.isDeleted).sort(compareMessages);
  return { ...chat, messages };
}

// One document as the app sees it: the stored doc (or none) of table with the
// outbox laid over it (a write's base for the 412 rule). Synchronous, so that
// it can run inside the transaction that enqueues the write.
export function docView(userId, table, doc, outbox) {
  const state = { userId, chats: new Map(), messages: new Map() };
  if (doc) state[table].set(doc.id, doc);
  applyOutbox(state, outbox);
  return doc && state[table].get(doc.id);
}
