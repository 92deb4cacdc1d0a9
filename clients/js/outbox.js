// The outbox sender: writes leave in the order they were made, one at a time,
// from the leader tab only. A write that got no answer, or 408, 429 or 5xx, is
// sent again after a backoff (Retry-After when given) with the same client-chosen
// id, so that a write the server did store answers as a replay, a success. Any
// other 4xx is definitive: the entry is dropped (the rollback), the call's
// promise rejects and an error event says why.
//
// The 412 rule (an update's If-Match no longer matches: another device changed
// the document first): the client catches up from the sync feed, then, field by
// field, the other device wins every field it changed since the value our edit
// was made on, and our value is kept for every other field. The kept fields are
// sent once more with If-Match of the new version; a second 412 drops the edit.
// A field whose server value already equals ours counts as applied (our own
// write whose answer was lost, or the same edit made elsewhere): when all are,
// the update settles as a success.
// The catch-up asks for the version the 412 named (minVersion: a read from a
// Postgres replica that lags is never older), and if the document read is still
// older than that, the rule does not run: the send is retried.
// Whenever any of our fields was dropped, the call rejects with
// code "precondition_failed" (err.dropped names the fields, err.doc is the
// server's document) and an error event is emitted; the fields kept are stored.

import { ChatsyncError, isRetryable, retryDelay, sleepAny } from './http.js';
import { isReplicaClosed } from './replica.js';
import { compareMessages, mutators, sameJson } from './mutators.js';

// The later entries that need what failed would have created: a chat (its
// messages, edits, branches, deletion, the branch copies "<chat>~<message>") or a
// message (its edits, deletion, branches from it), and so on transitively.
export function dependentsOf(failed, outbox) {
  const chats = new Set();
  const messages = new Set();
  const made = (e) => {
    if (e.name === 'createChat' || e.name === 'branchChat') chats.add(e.args.id);
    else if (e.name === 'addMessage') messages.add(e.args.id);
  };
  made(failed);
  if (!chats.size && !messages.size) return [];
  const out = [];
  for (const e of outbox) {
    if (e.seq <= failed.seq) continue;
    const a = e.args || {};
    const copyOf = typeof e.docId === 'string' && e.docId.includes('~') ? e.docId.slice(0, e.docId.indexOf('~')) : null;
    if (chats.has(a.chatId) || chats.has(a.parentChatId) || chats.has(copyOf) || messages.has(e.docId) ||
        messages.has(a.fromMessageId) || (typeof a.fromMessageId === 'string' && chats.has(a.fromMessageId.split('~')[0]))) {
      made(e);
      out.push(e);
    }
  }
  return out;
}

function pickFields(doc, fields) {
  const out = {};
  for (const f of fields) if (doc && doc[f] !== undefined) out[f] = doc[f];
  return out;
}

// The version a 412 says the document is at ("message m_1 is at version 7").
export function versionOf412(err) {
  const m = /is at version (\d+)/.exec((err && err.message) || '');
  return m ? Number(m[1]) : 0;
}

// opts: http, replica, catchUp(minVersion), sleep, backoff, onChange(),
// onSettled(seq, error, value), onRetry(err), onStopped(err) (the loop ended on
// an error no retry can cure: a closed replica), canSend() (whether this tab
// still leads). Entries another tab settled meanwhile (the replica says so) are
// not settled again here.
export function createOutbox(opts) {
  const { http, replica, sleep } = opts;
  let running = false;
  let controller = null;
  // New writes end the idle wait; only the network coming back ends a backoff
  // early (a Retry-After is kept).
  let idle = new AbortController();
  let backoff = new AbortController();

  function wake() {
    idle.abort();
    idle = new AbortController();
  }
  function online() {
    wake();
    backoff.abort();
    backoff = new AbortController();
  }

  // A definitive refusal: the entry goes, and with it every later write that
  // depends on what it would have made (messages in a chat never created, edits
  // of a message never stored, ...), at once rather than each failing in turn.
  async function fail(entry, err) {
    err.mutation = { name: entry.name, args: entry.args };
    const dependents = dependentsOf(entry, await replica.outbox());
    if (!(await replica.discard([entry.seq, ...dependents.map((e) => e.seq)]))) return;
    opts.onChange();
    opts.onSettled(entry.seq, err);
    for (const e of dependents) {
      const dep = new ChatsyncError({ status: err.status, code: 'dependency_rejected', message: `not sent: it needs ${entry.name} ${entry.docId}, which the server refused (${err.message})` });
      dep.mutation = { name: e.name, args: e.args };
      dep.dependsOn = entry.docId;
      opts.onSettled(e.seq, dep);
    }
  }

  // A 412 on an update: see the rule at the top. Returns when the entry has
  // been rewritten for its one resend, or settled. A field whose server value
  // is already ours counts as applied: a resend after a lost answer gets 412
  // against its own committed write, and that is a success, not a conflict.
  async function preconditionFailed(entry, m, err) {
    const atLeast = versionOf412(err);
    try {
      await opts.catchUp(atLeast);
    } catch (cause) {
      if (cause.code === 'user_changed' || isReplicaClosed(cause)) throw cause;
      // The feed failed, not the write: retried, never a reason to drop it.
      throw new ChatsyncError({ code: 'catch_up_failed', message: `could not catch up after a 412: ${cause.message}`, retryAfter: cause.retryAfter, cause });
    }
    const current = await (m.table === 'chats' ? replica.chat(entry.docId) : replica.message(entry.docId));
    if (current && current.version < atLeast) {
      throw new ChatsyncError({ code: 'stale_read', message: `could not read version ${atLeast} of ${entry.docId} after a 412 (read ${current.version})` });
    }
    if (!current) return fail(entry, err);
    err.doc = current;
    const idKey = m.table === 'chats' ? 'chatId' : 'messageId';
    const kept = {};
    const dropped = [...(entry.dropped || [])];
    for (const f of m.fields) {
      if (entry.args[f] === undefined || sameJson(current[f], entry.args[f])) continue;
      // A second 412 keeps nothing: the edit was already rebased once.
      if (!entry.retried412 && sameJson(current[f], entry.base && entry.base[f])) kept[f] = entry.args[f];
      else dropped.push(f);
    }
    if (!Object.keys(kept).length) {
      if (dropped.length) {
        err.dropped = dropped;
        return fail(entry, err);
      }
      if (!(await replica.acknowledge(entry.seq, [{ table: m.table, doc: current }]))) return;
      opts.onChange();
      return opts.onSettled(entry.seq, null, current);
    }
    await replica.updateOutbox({
      ...entry,
      args: { [idKey]: entry.docId, ...kept },
      baseVersion: current.version,
      base: pickFields(current, m.fields),
      retried412: true,
      dropped,
    });
    opts.onChange();
  }

  // A branch's copies showed under local ids "<chat>~<source message>"; the
  // server gave them its own. Later writes naming a copy (an edit made before
  // the branch was answered) are rewritten to the server's id, matched by the
  // copy's place in message order (a copy keeps position and timestamp).
  async function copyIds(entry, copies) {
    const source = (await replica.messagesOf(entry.args.chatId)).filter((x) => !x.isDeleted).sort(compareMessages);
    const key = (x) => `${x.position}|${x.timestamp}`;
    const byKey = new Map(source.map((x) => [key(x), x.id]));
    const renames = new Map();
    for (const c of copies) {
      const from = byKey.get(key(c));
      if (from) renames.set(`${entry.args.id}~${from}`, c.id);
    }
    return renames;
  }

  async function send(entry, signal) {
    const m = mutators[entry.name];
    if (!m) return fail(entry, Object.assign(new Error(`unknown write ${entry.name}`), { code: 'bad_request', status: 0 }));
    const [method, path, body] = m.request(entry);
    const headers = {};
    if (m.fields && entry.baseVersion) headers['If-Match'] = `"${entry.baseVersion}"`;
    let res;
    try {
      res = await http.request(method, path, { body, headers, signal });
    } catch (err) {
      if (err.status === 412 && m.fields) return preconditionFailed(entry, m, err);
      throw err;
    }
    const json = await res.json();
    const renames = entry.name === 'branchChat' ? await copyIds(entry, json.messages || []) : null;
    if (!(await replica.acknowledge(entry.seq, m.result(json).filter((d) => d.doc), renames))) return;
    opts.onChange();
    const value = entry.name === 'branchChat' ? { ...json.chat, messages: json.messages || [] } : json.chat || json.message;
    if (entry.dropped && entry.dropped.length) {
      const err = Object.assign(new Error(`another device changed ${entry.dropped.join(', ')} first: its value was kept`), {
        name: 'ChatsyncError', status: 412, code: 'precondition_failed', dropped: entry.dropped, doc: value,
        mutation: { name: entry.name, args: entry.args },
      });
      opts.onSettled(entry.seq, err);
    } else {
      opts.onSettled(entry.seq, null, value);
    }
  }

  // Every step is inside the try: an error anywhere (the replica read, a
  // rollback) is retried or ends the loop visibly, never silently.
  async function loop(signal) {
    let attempt = 0;
    while (running && !signal.aborted) {
      try {
        const entry = await replica.firstOutbox();
        if (!entry) {
          await sleepAny(sleep, 60000, [signal, idle.signal]);
          continue;
        }
        // A leader whose lease ran out (its tab was throttled) sends nothing more;
        // its tab steps down at its next heartbeat.
        if (opts.canSend && !opts.canSend()) {
          await sleep(1000, signal);
          continue;
        }
        try {
          await send(entry, signal);
          attempt = 0;
        } catch (err) {
          // Only an HTTP answer can refuse a write; anything else is retried.
          if (!(err.status >= 400 && !isRetryable(err)) || !running || signal.aborted) throw err;
          await fail(entry, err);
        }
      } catch (err) {
        if (!running || signal.aborted) break;
        if (isReplicaClosed(err)) throw err;
        opts.onRetry(err);
        await sleepAny(sleep, retryDelay(err, attempt++, opts.backoff), [signal, backoff.signal]);
      }
    }
  }

  return {
    wake,
    online,
    start() {
      if (running) return;
      running = true;
      controller = new AbortController();
      const signal = controller.signal;
      loop(signal).catch((err) => {
        if (signal.aborted) return; // stopped meanwhile: nothing was lost
        running = false; // start() may run it again
        opts.onStopped(err);
      });
    },
    stop() {
      running = false;
      if (controller) controller.abort();
      wake();
    },
  };
}
