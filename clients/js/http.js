// Requests to the chatsync API: the bearer token from the app's getToken (asked
// for each request, and once more after a 401), errors as values
// (ChatsyncError), Retry-After, and the jittered backoff every retry loop uses.

export class ChatsyncError extends Error {
  // status 0 means the request never got an answer (network down, timeout).
  constructor({ status = 0, code = 'network', message = 'could not reach the server', requestId, retryAfter, cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = 'ChatsyncError';
    this.status = status;
    this.code = code;
    if (requestId) this.requestId = requestId;
    if (retryAfter != null) this.retryAfter = retryAfter;
  }
}

// Worth sending again later: no answer, 408, 429, 5xx (and 401, which waits for a
// token the app can give again after its user signed in again).
export function isRetryable(err) {
  const s = err && err.status;
  return s === 0 || s === 401 || s === 408 || s === 429 || s >= 500;
}

// The error for a token of another user than the replica's.
export function userChangedError(sub) {
  return new ChatsyncError({ status: 401, code: 'user_changed', message: `the token is for another user (${sub}); create a new client` });
}

// The user id of a token: its `sub`, read without verifying (the server verifies).
export function tokenSubject(token) {
  try {
    const part = String(token).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0)));
    const sub = JSON.parse(json).sub;
    return typeof sub === 'string' && sub ? sub : null;
  } catch {
    return null;
  }
}

export function parseRetryAfter(value) {
  if (value == null || value === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

// Full-jitter exponential backoff: attempt 0 waits about baseMs, doubling to maxMs.
export function backoffDelay(attempt, { baseMs = 500, maxMs = 30000 } = {}) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

// sleep(ms, signal) ended early by any of signals. Not AbortSignal.any: Node
// may garbage-collect such a dependent signal while a wait holds it only
// through its listener, and the abort is then lost (a wait that never ends:
// seen as a test process kept alive by its 60 s idle wait). Plain listeners,
// removed when the wait ends, hold everything strongly and leak nothing.
export async function sleepAny(sleep, ms, signals) {
  const c = new AbortController();
  const abort = () => c.abort();
  for (const s of signals) {
    if (s.aborted) c.abort();
    s.addEventListener('abort', abort);
  }
  try {
    await sleep(ms, c.signal);
  } finally {
    for (const s of signals) s.removeEventListener('abort', abort);
  }
}

// The wait before retrying after err: Retry-After when the server gave one.
export function retryDelay(err, attempt, backoff) {
  return err && err.retryAfter != null ? err.retryAfter * 1000 : backoffDelay(attempt, backoff);
}

export async function errorFromResponse(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON (a proxy's page): the status says enough
  }
  const e = (body && body.error) || {};
  return new ChatsyncError({
    status: res.status,
    code: e.code || (res.status >= 500 ? 'unavailable' : 'http_' + res.status),
    message: e.message || `HTTP ${res.status}`,
    requestId: e.requestId || res.headers.get('x-request-id') || undefined,
    retryAfter: parseRetryAfter(res.headers.get('retry-after')),
  });
}

// The longest wait for the app's getToken: past it (an auth server that does
// not answer), the request is retried like one that got no answer.
const TOKEN_WAIT_MS = 15000;

// getToken's answer, or a throw when it takes longer than ms or signal aborts.
function tokenWithin(getToken, ms, signal) {
  return new Promise((resolve, reject) => {
    const stop = (err) => {
      clearTimeout(timer);
      if (signal) signal.removeEventListener('abort', aborted);
      if (err) reject(err);
    };
    const aborted = () => stop(signal.reason || new DOMException('aborted', 'AbortError'));
    const timer = setTimeout(() => stop(new Error(`no token within ${ms / 1000} s`)), ms);
    if (signal) {
      if (signal.aborted) return aborted();
      signal.addEventListener('abort', aborted);
    }
    Promise.resolve().then(getToken).then((t) => {
      stop();
      resolve(t);
    }, stop);
  });
}

// http.request(method, path, opts) -> Response (2xx only; any other answer or
// a network failure throws a ChatsyncError). opts: body (JSON), headers, signal,
// timeoutMs (default 30 s; every request has a bound). tokenWaitMs: the bound
// on getToken (tests shorten it).
export function createHttp({ url, getToken, fetch, userId, tokenWaitMs = TOKEN_WAIT_MS }) {
  const base = String(url || '').replace(/\/+$/, '');

  async function token(signal) {
    let t;
    try {
      t = await tokenWithin(getToken, tokenWaitMs, signal);
    } catch (cause) {
      if (signal && signal.aborted) throw cause;
      // The app could not get a token now (offline, its auth server down): wait
      // and retry like any request that got no answer.
      throw new ChatsyncError({ status: 0, code: 'token_unavailable', message: `getToken failed: ${cause && cause.message}`, cause });
    }
    if (!t) throw new ChatsyncError({ status: 401, code: 'unauthorized', message: 'no token: the user is signed out' });
    const sub = tokenSubject(t);
    if (userId && sub !== userId) {
      // One client is one user's replica: never send another user's token with it.
      throw userChangedError(sub);
    }
    return t;
  }

  async function once(method, path, opts, t) {
    const headers = { Authorization: `Bearer ${t}`, ...opts.headers };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    const signals = [AbortSignal.timeout(opts.timeoutMs ?? 30000)];
    if (opts.signal) signals.push(opts.signal);
    try {
      return await fetch(base + path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.any(signals),
        cache: 'no-store',
      });
    } catch (cause) {
      if (opts.signal && opts.signal.aborted) throw cause;
      throw new ChatsyncError({ status: 0, code: 'network', message: `could not reach the server: ${cause && cause.message}`, cause });
    }
  }

  async function request(method, path, opts = {}) {
    let res = await once(method, path, opts, await token(opts.signal));
    if (res.status === 401) res = await once(method, path, opts, await token(opts.signal));
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  return { request, token };
}
