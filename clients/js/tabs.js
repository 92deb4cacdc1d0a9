// Tabs of one browser share one replica. They tell each other about changes
// over a BroadcastChannel (so every tab's views update live), and one of them,
// the leader, sends the outbox: the holder of a Web Lock when navigator.locks
// exists, else the tab with the smallest id heard from lately on the channel,
// else (no channel: Node, old browsers) every client is its own leader.

const HEARTBEAT_MS = 1000;

export function createTabs({ name, BroadcastChannel: Channel, locks, onMessage, onLeader }) {
  const self = Math.random().toString(36).slice(2) + Date.now().toString(36);
  const channel = Channel ? new Channel(name) : null;
  const seen = new Map();
  let leader = false;
  let closed = false;
  let release = null;
  let timer = null;

  function become(value) {
    if (value !== leader && !closed) {
      leader = value;
      onLeader(value);
    }
  }

  if (channel) {
    channel.onmessage = (ev) => {
      const msg = ev.data;
      if (msg && msg.type === 'hb') seen.set(msg.from, Date.now());
      else if (msg) onMessage(msg);
    };
  }

  if (locks) {
    locks.request(`${name}:outbox`, () => new Promise((resolve) => {
      if (closed) return resolve();
      release = resolve;
      become(true);
    })).catch(() => {});
  } else if (channel) {
    const startedAt = Date.now();
    const beat = () => {
      if (closed) return;
      channel.postMessage({ type: 'hb', from: self });
      // Nobody leads before having heard the others' heartbeats for a while:
      // never two leaders at start.
      if (Date.now() - startedAt < 2.5 * HEARTBEAT_MS) return;
      const now = Date.now();
      let smallest = self;
      for (const [id, at] of seen) {
        if (now - at > 3 * HEARTBEAT_MS) seen.delete(id);
        else if (id < smallest) smallest = id;
      }
      become(smallest === self);
    };
    timer = setInterval(beat, HEARTBEAT_MS);
    channel.postMessage({ type: 'hb', from: self });
  } else {
    queueMicrotask(() => become(true));
  }

  return {
    get leader() {
      return leader;
    },
    post(msg) {
      if (channel && !closed) channel.postMessage(msg);
    },
    close() {
      closed = true;
      leader = false;
      clearInterval(timer);
      if (release) release();
      if (channel) channel.close();
    },
  };
}
