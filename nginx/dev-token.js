// Development sign-in (njs), local profile only: GET /dev/token?as=USER_ID
// [&ttl=SECONDS] answers a short-lived development token for USER_ID, signed
// with the development key that `chatsync dev-keys` wrote into the run folder,
// so that the demo page (clients/demo/, ?as=USER_ID) can sign in without Clerk.
// routes-local.conf routes it; routes-production.conf has no such route, and
// profile-production.conf neither imports this file nor loads the key.
// docs/decisions/dev-sign-in.md says why nginx signs and not a service.
//
// The key: deploy/nginx-config.sh renders dev-token.json (mode 0600) from
// DEV_KEY_FILE, and profile-local.conf preloads it as the immutable object
// chatsync_dev_key ({pem, iss, kid, aud, azp}; pem null without a key). The
// nginx master reads it at configuration time, so that the workers (www-data
// when the master is root) need no access to the key file itself.
//
// The claims are those of `chatsync token` (cli/token.c): sub, iss, iat, nbf,
// exp, and aud / azp when JWT_AUDIENCE / DEV_TOKEN_AZP are set; header
// {alg: RS256, typ: JWT, kid}. RSASSA-PKCS1-v1_5 over SHA-256 with njs's
// WebCrypto (njs 0.7.0 and later; Debian 12 ships 0.7.9).

var TTL_DEFAULT_S = 600; // ten minutes: a page asks again before it runs out
var TTL_MAX_S = 3600;
var SUB_MAX = 255; // bytes, CS_AUTH_SUB_MAX (common/auth.h)

function b64url(data) {
    return Buffer.from(data).toString('base64url');
}

function headers(r) {
    r.headersOut['Content-Type'] = 'application/json';
    r.headersOut['Cache-Control'] = 'no-store';
    r.headersOut['X-Request-Id'] = r.variables.chatsync_request_id;
}

function fail(r, status, code, message) {
    headers(r);
    r.return(status, JSON.stringify({error: {code: code, message: message,
        requestId: r.variables.chatsync_request_id}}) + '\n');
}

// The one argument, percent-decoded; null when absent or given twice.
function arg(r, name) {
    var value = r.args[name];
    return typeof value === 'string' ? value : null;
}

// The key as a CryptoKey (njs gives each request a fresh VM: no cache to keep).
function signingKey() {
    var b64 = chatsync_dev_key.pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    return crypto.subtle.importKey('pkcs8', Buffer.from(b64, 'base64'),
        {name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256'}, false, ['sign']);
}

async function token(r) {
    if (r.method !== 'GET' && r.method !== 'HEAD') {
        r.headersOut['Allow'] = 'GET, HEAD';
        return fail(r, 405, 'method_not_allowed', 'method not allowed');
    }
    if (chatsync_dev_key.pem === null) {
        return fail(r, 404, 'not_found', 'development sign-in is off: the stack has no ' +
            'development key (CLERK_JWT_ISSUER_DOMAIN names a real issuer)');
    }
    var sub = arg(r, 'as');
    if (sub === null || sub.length === 0 || Buffer.byteLength(sub) > SUB_MAX ||
        /[\u0000-\u001f\u007f]/.test(sub)) {
        return fail(r, 400, 'bad_request', 'as: the user id, 1 to ' + SUB_MAX +
            ' bytes of text, once');
    }
    var ttl = TTL_DEFAULT_S;
    var ttlArg = arg(r, 'ttl');
    if (r.args.ttl !== undefined) {
        if (ttlArg === null || !/^[0-9]{1,5}$/.test(ttlArg) || Number(ttlArg) < 1 ||
            Number(ttlArg) > TTL_MAX_S) {
            return fail(r, 400, 'bad_request', 'ttl: seconds, 1 to ' + TTL_MAX_S);
        }
        ttl = Number(ttlArg);
    }
    var now = Math.floor(Date.now() / 1000);
    var claims = {sub: sub, iss: chatsync_dev_key.iss, iat: now, nbf: now, exp: now + ttl};
    if (chatsync_dev_key.aud) {
        claims.aud = chatsync_dev_key.aud;
    }
    if (chatsync_dev_key.azp) {
        claims.azp = chatsync_dev_key.azp;
    }
    var input = b64url(JSON.stringify({alg: 'RS256', typ: 'JWT', kid: chatsync_dev_key.kid})) +
        '.' + b64url(JSON.stringify(claims));
    var signature;
    try {
        // two statements: njs 0.7.9's worker crashes on an await inside a call's arguments
        var key = await signingKey();
        signature = await crypto.subtle.sign({name: 'RSASSA-PKCS1-v1_5'}, key, input);
    } catch (e) {
        r.error('dev-token: could not sign with the development key: ' + e);
        return fail(r, 500, 'internal', 'could not sign with the development key');
    }
    headers(r);
    r.return(200, JSON.stringify({token: input + '.' + b64url(signature), userId: sub,
        expiresAt: claims.exp}) + '\n');
}

export default {token};
