// Client-chosen ids: ULIDs (26 characters of Crockford base32, time-ordered,
// monotonic within one millisecond of one page), so that a document made offline
// has its final id at once and a retried create is a replay, not a duplicate.

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastTime = -1;
let lastRandom = new Uint8Array(10);

function randomBytes(n) {
  const bytes = new Uint8Array(n);
  globalThis.crypto.getRandomValues(bytes);
  return bytes;
}

// 80 random bits as 16 base32 digits (5 bits each).
function encodeRandom(bytes) {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(value >>> bits) & 31];
    }
    value &= (1 << bits) - 1;
  }
  return out;
}

export function ulid(now = Date.now()) {
  if (now <= lastTime) {
    // Same millisecond (or a clock step back): increment the previous random part
    // so that ids made in a row still sort in the order they were made.
    now = lastTime;
    for (let i = lastRandom.length - 1; i >= 0; i--) {
      lastRandom[i] = (lastRandom[i] + 1) & 255;
      if (lastRandom[i] !== 0) break;
    }
  } else {
    lastTime = now;
    lastRandom = randomBytes(10);
  }
  let time = '';
  for (let i = 0, t = now; i < 10; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32] + time;
  return time + encodeRandom(lastRandom);
}

// "c_01J…" for chats, "m_01J…" for messages, as in the API's examples.
export function newId(prefix) {
  return prefix ? `${prefix}_${ulid()}` : ulid();
}
