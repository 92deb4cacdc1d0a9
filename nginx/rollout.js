// The rollout split (njs): which backend, chatsync ("new") or the legacy one,
// serves a user. rollout.conf sets $chatsync_backend from backend() below (at
// 100 % without an X-Chat-Backend header a map answers "new" without it) and
// holds the percentage ($chatsync_rollout_percent); routes.conf sends the
// requests of legacy users to the legacy upstream. docs/rollout.md explains it.
//
// A user is bucket(sub) = the first 4 bytes of SHA-1(UTF-8 sub), big-endian,
// mod 100; bucket < percent goes to chatsync. The JWT is only decoded here,
// never verified (the services verify it): a forged sub can only send its
// request to a backend that then refuses the forged token, and at 0% no sub
// counts at all. Raising the percentage only moves users from legacy to
// chatsync, never back.
var crypto = require('crypto');

// The token's payload, base64url JSON, or null.
function claims(token) {
    var parts = token.split('.');
    if (parts.length !== 3 || parts[1].length === 0 || parts[1].length > 8192) {
        return null;
    }
    try {
        var payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
        return (payload !== null && typeof payload === 'object') ? payload : null;
    } catch (e) {
        return null;
    }
}

// The user of the request: the sub of the bearer token, else of the __session
// cookie (API.md: the cookie authenticates safe methods; for the split any
// request of the user counts). null without a readable one.
function subject(r) {
    var sources = [];
    var auth = r.variables.http_authorization;
    var bearer = auth ? /^Bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(auth) : null;
    if (bearer) {
        sources.push(bearer[1]);
    }
    var cookie = r.variables.cookie___session;
    if (cookie) {
        sources.push(cookie);
    }
    for (var i = 0; i < sources.length; i++) {
        var payload = claims(sources[i]);
        if (payload && typeof payload.sub === 'string' && payload.sub.length > 0) {
            return payload.sub;
        }
    }
    return null;
}

function bucket(sub) {
    return crypto.createHash('sha1').update(sub).digest().readUInt32BE(0) % 100;
}

// X-Chat-Backend's choice when the request may make one (rollout.conf: a
// trusted address, and at 0% only when allowed), else null.
function override(r, percent) {
    var forced = r.headersIn['X-Chat-Backend'];
    if (forced !== 'new' && forced !== 'legacy') {
        return null;
    }
    if (r.variables.chatsync_override_trusted !== '1') {
        return null;
    }
    if (!(percent > 0) && r.variables.chatsync_override_at_zero !== 'on') {
        return null; // a rollback keeps everyone on legacy
    }
    return forced;
}

// $chatsync_backend: "new" or "legacy".
function backend(r) {
    var percent = Number(r.variables.chatsync_rollout_percent);
    var forced = override(r, percent);
    if (forced !== null) {
        return forced;
    }
    if (percent >= 100) {
        return 'new';
    }
    if (!(percent > 0)) {
        return 'legacy'; // 0 (or a broken setting): everyone back on legacy
    }
    var sub = subject(r);
    if (sub === null) {
        return 'new'; // no user to keep sticky: chatsync answers 401
    }
    return bucket(sub) < percent ? 'new' : 'legacy';
}

export default {backend};
