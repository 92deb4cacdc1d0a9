// Tabs of one browser share one replica. They tell each other about changes
// over a BroadcastChannel (so every tab's views update live), and one of them,
// the leader, sends the outbox and holds the live stream: the holder of a Web
// Lock when navigator.locks exists, else the holder of a lease elected over the
// channel, else (no channel: Node, old browsers) every client is its own leader.
//
// The lease (no Web Locks): the leader announces on every heartbeat that it
// leads until now + LEASE_MS, and counts as leader only while that time has not
// passed, checked at each use (tabs.leader), not only when its timer runs. A
// throttled background tab whose timer fires late has then already stopped
// leading; another tab takes over only once the lease it last heard has ended
// (plus a margin for clocks of one machine read at different moments). Two
// tabs claiming at once: the smaller id keeps it. What overlap remains (a send
// started just before the lease ended) is safe; see docs/decisions/client-tabs.md.

// timers: { setInterval, clearInterval, now, heartbeatMs } (tests pause a tab's
// timer, as a browser throttles a background tab's, and beat faster).
export function createTabs({ name, BroadcastChannel: Channel, locks, onMessage, onLeader, timers = globalThis }) {
  const HEARTBEAT_MS = timers.heartbeatMs || 1000;
  const LEASE_MS = 3 * HEARTBEAT_MS;
  const MARGIN_MS = HEARTBEAT_MS / 2;
  const self = Math.random().toString(36).slice(2) + Date.now().toString(36);
  const channel = Channel ? new Channel(name) : null;
  const now = () => (timers.now ? timers.now() : Date.now());
  const seen = new Map(); // tab id -> when last heard
  let lease = null; // { from, until }: the other tab's lease last heard
  let leader = false;
  let leaseUntil = 0; // ours, when we lead over the channel
  let closed = false;
  let release = null;
  let timer = null;

  function become(value) {
    if (value !== leader && !closed) {
      leader = value;
      onLeader(value);
    }
  }
  const leaseMode = !locks && channel;
  const leading = () => leader && (!leaseMode || now() < leaseUntil);

  function beat() {
    if (closed) return;
    const t = now();
    if (leader && t >= leaseUntil) become(false); // late (throttled): no longer leading
    const other = lease && lease.from !== self && t < lease.until + MARGIN_MS ? lease : null;
    if (!leader && !other && t - startedAt >= LEASE_MS) {
      // Nobody leads: the smallest id heard lately claims (all tabs agree on it).
      let smallest = self;
      for (const [id, at] of seen) {
        if (t - at > LEASE_MS) seen.delete(id);
        else if (id < smallest) smallest = id;
      }
      if (smallest === self) {
        leaseUntil = t + LEASE_MS;
        become(true);
      }
    } else if (leader) {
      leaseUntil = t + LEASE_MS;
    }
    channel.postMessage({ type: 'hb', from: self, until: leader ? leaseUntil : 0 });
  }

  function heard(msg) {
    seen.set(msg.from, now());
    if (!msg.until) {
      if (lease && lease.from === msg.from) lease = null; // it stepped down
      return;
    }
    lease = { from: msg.from, until: msg.until };
    // Two leaders (both claimed at once, or a throttled one came back late):
    // the smaller id keeps it.
    if (leader && msg.from < self) {
      leaseUntil = 0;
      become(false);
    }
  }

  if (channel) {
    channel.onmessage = (ev) => {
      const msg = ev.data;
      if (msg && msg.type === 'hb') {
        if (leaseMode) heard(msg);
      } else if (msg) {
        onMessage(msg);
      }
    };
  }

  const startedAt = now();
  if (locks) {
    locks.request(`${name}:outbox`, () => new Promise((resolve) => {
      if (closed) return resolve();
      release = resolve;
      become(true);
    })).catch(() => {});
  } else if (channel) {
    timer = timers.setInterval(beat, HEARTBEAT_MS);
    channel.postMessage({ type: 'hb', from: self, until: 0 });
  } else {
    queueMicrotask(() => become(true));
  }

  return {
    // Whether this tab may send now: with a lease, only while it holds.
    get leader() {
      return leading();
    },
    post(msg) {
      if (channel && !closed) channel.postMessage(msg);
    },
    close() {
      // Tell the others at once, so that one takes over without waiting out the lease.
      if (leaseMode && !closed && leader) channel.postMessage({ type: 'hb', from: self, until: 0 });
      closed = true;
      leader = false;
      if (timer) timers.clearInterval(timer);
      if (release) release();
      if (channel) channel.close();
    },
  };
}
