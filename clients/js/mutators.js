// The writes, one entry each: what a write does to the local view at once
// (apply), and what it sends (request) and gets back (result). An outbox entry
// is { seq, name, args, docId, baseVersion, base }; args are normalised when the
// write is made (ids and timestamps chosen then), so that a resend after a
// reload is the same request and the server sees a replay, not a new document.

import { newId } from './ids.js';

const enc = encodeURIComponent;
const UPDATE_FIELDS = { updateChat: ['title', 'branches'], updateMessage: ['content', 'attachments'] };

function pick(obj, keys) {
  const out = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

function need(args, key, name) {
  if (args == null || typeof args[key] !== 'string' || !args[key]) throw new TypeError(`${name}: ${key} must be a non-empty string`);
}

// Deep equality for JSON values, key order ignored (Postgres' jsonb reorders keys).
export function sameJson(a, b) {
  if (a === b) return true;
  if (a == null || b == null || typeof a !== 'object' || typeof b !== 'object') return a == null && b == null;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson(a[k], b[k]));
}

// Whether an update entry was made on doc: every field it sets had, in the
// view it was made on (entry.base), the value doc has. Then it may go with
// If-Match of doc's version without overwriting anything it did not see.
// Other writes carry no If-Match: always true.
export function madeOn(entry, doc) {
  const m = mutators[entry.name];
  if (!m || !m.fields) return true;
  return m.fields.every((f) => entry.args[f] === undefined || sameJson(entry.base && entry.base[f], doc[f]));
}

// Message order of the API: position ascending (null first), then timestamp, id.
export function compareMessages(a, b) {
  const pa = a.position ?? -Infinity;
  const pb = b.position ?? -Infinity;
  if (pa !== pb) return pa < pb ? -1 : 1;
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

// Chat order of the API: newest timestamp first, ties by id (descending).
export function compareChats(a, b) {
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp ? -1 : 1;
  return a.id > b.id ? -1 : a.id < b.id ? 1 : 0;
}

function patchDoc(map, id, fields) {
  const doc = map.get(id);
  if (doc) map.set(id, { ...doc, ...fields, pending: true });
}

function addBranch(chats, parentId, childId) {
  const parent = chats.get(parentId);
  if (parent && !(parent.branches || []).includes(childId)) {
    chats.set(parentId, { ...parent, branches: [...(parent.branches || []), childId], pending: true });
  }
}

export const mutators = {
  createChat: {
    table: 'chats',
    prepare(a) {
      if (a == null || typeof a.title !== 'string') throw new TypeError('createChat: title must be a string');
      const args = { id: a.id || newId('c'), title: a.title, timestamp: a.timestamp ?? Date.now() };
      if (a.parentChatId) args.parentChatId = a.parentChatId;
      if (a.branchFromMessageId) args.branchFromMessageId = a.branchFromMessageId;
      return { args, docId: args.id };
    },
    apply(state, { args }) {
      if (!state.chats.has(args.id)) {
        state.chats.set(args.id, {
          id: args.id, userId: state.userId, title: args.title, timestamp: args.timestamp,
          parentChatId: args.parentChatId ?? null, branchFromMessageId: args.branchFromMessageId ?? null,
          branches: [], isDeleted: false, version: 0, createdAt: args.timestamp, updatedAt: args.timestamp, pending: true,
        });
      }
      if (args.parentChatId) addBranch(state.chats, args.parentChatId, args.id);
    },
    request: ({ args }) => ['POST', '/api/chats', args],
    result: (body) => [{ table: 'chats', doc: body.chat }],
  },

  updateChat: {
    table: 'chats',
    prepare(a) {
      need(a, 'chatId', 'updateChat');
      return { args: { chatId: a.chatId, ...pick(a, UPDATE_FIELDS.updateChat) }, docId: a.chatId };
    },
    apply(state, { args }) {
      patchDoc(state.chats, args.chatId, pick(args, UPDATE_FIELDS.updateChat));
    },
    request: ({ args }) => ['PATCH', `/api/chats/${enc(args.chatId)}`, pick(args, UPDATE_FIELDS.updateChat)],
    result: (body) => [{ table: 'chats', doc: body.chat }],
    fields: UPDATE_FIELDS.updateChat,
  },

  deleteChat: {
    table: 'chats',
    prepare(a) {
      need(a, 'chatId', 'deleteChat');
      return { args: { chatId: a.chatId }, docId: a.chatId };
    },
    apply(state, { args }) {
      patchDoc(state.chats, args.chatId, { isDeleted: true });
    },
    request: ({ args }) => ['DELETE', `/api/chats/${enc(args.chatId)}`],
    result: (body) => [{ table: 'chats', doc: body.chat }],
  },

  addMessage: {
    table: 'messages',
    prepare(a) {
      need(a, 'chatId', 'addMessage');
      if (typeof a.content !== 'string') throw new TypeError('addMessage: content must be a string');
      const args = { id: a.id || newId('m'), chatId: a.chatId, content: a.content, role: a.role || 'user', timestamp: a.timestamp ?? Date.now() };
      if (a.position != null) args.position = a.position;
      if (a.attachments !== undefined) args.attachments = a.attachments;
      return { args, docId: args.id };
    },
    apply(state, { args }) {
      if (state.messages.has(args.id)) return;
      let position = args.position;
      if (position == null) {
        // Shown after every message known now; the server picks the real one.
        position = 0;
        for (const m of state.messages.values()) if (m.chatId === args.chatId && m.position != null && m.position >= position) position = m.position + 1;
      }
      state.messages.set(args.id, {
        id: args.id, chatId: args.chatId, userId: state.userId, content: args.content, role: args.role,
        timestamp: args.timestamp, position, attachments: args.attachments ?? null, isDeleted: false,
        version: 0, createdAt: args.timestamp, updatedAt: args.timestamp, pending: true,
      });
    },
    request: ({ args }) => {
      const { chatId, ...body } = args;
      return ['POST', `/api/chats/${enc(chatId)}/messages`, body];
    },
    result: (body) => [{ table: 'messages', doc: body.message }],
  },

  updateMessage: {
    table: 'messages',
    prepare(a) {
      need(a, 'messageId', 'updateMessage');
      return { args: { messageId: a.messageId, ...pick(a, UPDATE_FIELDS.updateMessage) }, docId: a.messageId };
    },
    apply(state, { args }) {
      patchDoc(state.messages, args.messageId, pick(args, UPDATE_FIELDS.updateMessage));
    },
    request: ({ args }) => ['PATCH', `/api/messages/${enc(args.messageId)}`, pick(args, UPDATE_FIELDS.updateMessage)],
    result: (body) => [{ table: 'messages', doc: body.message }],
    fields: UPDATE_FIELDS.updateMessage,
  },

  deleteMessage: {
    table: 'messages',
    prepare(a) {
      need(a, 'messageId', 'deleteMessage');
      return { args: { messageId: a.messageId }, docId: a.messageId };
    },
    apply(state, { args }) {
      patchDoc(state.messages, args.messageId, { isDeleted: true });
    },
    request: ({ args }) => ['DELETE', `/api/messages/${enc(args.messageId)}`],
    result: (body) => [{ table: 'messages', doc: body.message }],
  },

  branchChat: {
    table: 'chats',
    prepare(a) {
      need(a, 'chatId', 'branchChat');
      need(a, 'fromMessageId', 'branchChat');
      const args = { id: a.id || newId('c'), chatId: a.chatId, fromMessageId: a.fromMessageId, timestamp: Date.now() };
      if (a.title) args.title = a.title;
      return { args, docId: args.id };
    },
    // The copies get their ids from the server; until then they show under
    // local ids "<new chat id>~<message id>".
    apply(state, { args }) {
      const parent = state.chats.get(args.chatId);
      if (!state.chats.has(args.id)) {
        state.chats.set(args.id, {
          id: args.id, userId: state.userId, title: args.title ?? parent?.title ?? '', timestamp: args.timestamp,
          parentChatId: args.chatId, branchFromMessageId: args.fromMessageId, branches: [], isDeleted: false,
          version: 0, createdAt: args.timestamp, updatedAt: args.timestamp, pending: true,
        });
        const from = state.messages.get(args.fromMessageId);
        if (from) {
          const source = [...state.messages.values()].filter((m) => m.chatId === args.chatId && !m.isDeleted).sort(compareMessages);
          for (const m of source) {
            if (compareMessages(m, from) > 0) break;
            const id = `${args.id}~${m.id}`;
            state.messages.set(id, { ...m, id, chatId: args.id, version: 0, pending: true });
          }
        }
      }
      addBranch(state.chats, args.chatId, args.id);
    },
    request: ({ args }) => {
      const body = { id: args.id, fromMessageId: args.fromMessageId };
      if (args.title) body.title = args.title;
      return ['POST', `/api/chats/${enc(args.chatId)}/branch`, body];
    },
    result: (body) => [{ table: 'chats', doc: body.chat }, ...(body.messages || []).map((doc) => ({ table: 'messages', doc }))],
  },
};
