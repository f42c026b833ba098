// trustdesk lab: test-only OpenID Provider (panva's oidc-provider, pinned in package.json).
// Never for production: in-memory storage, fixed demo accounts, ephemeral keys.
// Listens on 127.0.0.1 only, and only calls 127.0.0.1 (back-channel logout).
//
// It imitates real identity products (OIDC_PROFILE, see profiles.mjs), strict where they are
// strict. It is a test PEER: never change it to make the portal pass; the cited vendor
// documentation decides what is right.
//
// Environment (all optional):
//   OIDC_PORT              TCP port; 0 (default) = pick a free port
//   OIDC_CLIENT_ID         default "trustdesk"
//   OIDC_CLIENT_SECRET     default "trustdesk-secret"
//   OIDC_REDIRECT_URIS     comma list, default "http://127.0.0.1:8080/auth/callback"
//   OIDC_POST_LOGOUT_URIS  comma list, default "http://127.0.0.1:8080/"
//   OIDC_SKIP_CONSENT      "1" = first-party client: grant the requested (known) scopes, no consent page
//   OIDC_SKIP_LOGOUT_PROMPT "1" = the logout confirmation page submits itself, where the product
//                          allows it (keycloak: only with an id_token_hint; okta never prompts)
//   OIDC_PROFILE           userinfo (default) | entra | keycloak | okta — see profiles.mjs
//   OIDC_BACKCHANNEL_LOGOUT_URI  the client's backchannel_logout_uri (userinfo, keycloak profiles;
//                          Entra ID and Okta OIDC apps have no back-channel logout: ignored there)
//   OIDC_TAMPER            unset = honest; alg_none | unpublished_key | hs256 | expired (below)
//   OIDC_CLOCK_OFFSET_SECS the provider's clock is this many seconds off (default -7200 with
//                          OIDC_TAMPER=expired, else 0)
//   OIDC_CLIENT_AUTH       the client's token_endpoint_auth_method: client_secret_basic (default),
//                          client_secret_post, or private_key_jwt with OIDC_CLIENT_PUBLIC_KEY (a
//                          PEM public key file: the client's registered jwks). oidc-provider
//                          refuses any other method than the registered one (RFC 7591 §2).
//
// Protocol with whoever starts it: exactly ONE line on stdout when ready,
//   {"ready":true,"issuer":"http://127.0.0.1:PORT<issuer path>","port":PORT,"profile":"...",
//    "tenant":"<GUID>" (entra only)}
// Everything else (including oidc-provider's console.info NOTICEs) goes to stderr.
// SIGTERM/SIGINT exit within a second (keep-alive sockets are closed).
// SIGUSR2 rotates the signing key: a new RSA-2048 key with a new kid becomes the signing key and
// the ONLY key in the JWKS (the old one is gone at once, stricter than real products, which keep
// publishing the previous key for a while). Sessions, grants and tokens survive (the Provider is
// rebuilt over the same storage and cookie keys). stderr: "rotated signing key to <kid>".
// ID tokens signed with the old key no longer validate as id_token_hint afterwards.
//
// Refusal modes (OIDC_TAMPER): an attacker or a broken provider, for the relying party's tests.
//   alg_none         the token endpoint's id_token is replaced by an unsigned copy
//                    (header {"alg":"none","typ":"JWT"}, same payload, empty signature)
//   unpublished_key  the id_token is re-signed (RS256) with a key never published in the JWKS,
//                    under that key's own kid
//   hs256            the client is registered with id_token_signed_response_alg HS256, so ID
//                    tokens are MACed with the client secret (oidc-provider does this for real)
//   expired          the provider's clock runs OIDC_CLOCK_OFFSET_SECS (default -7200) off: iat/exp
//                    of everything it issues are in the past. Cookie expiry dates are corrected
//                    back to real time so that a browser keeps the cookies and the flow completes.
// Back-channel logout tokens and /userinfo stay honest in every mode.
//
// Demo staff accounts (login / password; their groups, per profile, in profiles.mjs):
//   alice / alice-pw  helpdesk-senior        bob   / bob-pw   helpdesk-junior-paris
//   carol / carol-pw  security-auditors      erin  / erin-pw  trustdesk-admins
//   dave  / dave-pw   (no group)             olga  / olga-pw  (entra only) 250 groups, overage
import * as http from 'node:http';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import Provider from 'oidc-provider';
// the library's own in-memory adapter; built without a store it uses the module-level storage,
// which therefore outlives a Provider instance (needed for key rotation)
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import { confirm as endSessionConfirm } from 'oidc-provider/lib/actions/end_session.js';
import { makeProfile, PROFILE_NAMES } from './profiles.mjs';

const started = performance.now();
// stdout carries only the ready line; oidc-provider prints NOTICEs with console.info.
console.info = (...args) => console.error(...args);
const die = (msg) => {
  process.stderr.write(`provider.mjs: ${msg}\n`);
  process.exit(2);
};

// ---- clock (OIDC_TAMPER=expired, OIDC_CLOCK_OFFSET_SECS) ---------------------------------------
const TAMPERS = ['alg_none', 'unpublished_key', 'hs256', 'expired'];
const TAMPER = process.env.OIDC_TAMPER || '';
if (TAMPER && !TAMPERS.includes(TAMPER)) die(`bad OIDC_TAMPER ${TAMPER} (${TAMPERS.join(', ')})`);
const CLOCK_OFFSET_SECS = Number(process.env.OIDC_CLOCK_OFFSET_SECS
  || (TAMPER === 'expired' ? -7200 : 0));
if (!Number.isInteger(CLOCK_OFFSET_SECS)) die(`bad OIDC_CLOCK_OFFSET_SECS ${process.env.OIDC_CLOCK_OFFSET_SECS}`);
if (CLOCK_OFFSET_SECS) {
  // oidc-provider takes every timestamp (iat, exp, auth_time, storage expiry) from Date.now()
  const realNow = Date.now;
  Date.now = () => realNow() + CLOCK_OFFSET_SECS * 1000;
}

// ---- configuration from the environment -------------------------------------------------------
const HOST = '127.0.0.1';
const list = (v, dflt) => (v ?? dflt).split(',').map((s) => s.trim()).filter(Boolean);
const PORT = Number(process.env.OIDC_PORT || 0);
const CLIENT_ID = process.env.OIDC_CLIENT_ID || 'trustdesk';
const CLIENT_SECRET = process.env.OIDC_CLIENT_SECRET || 'trustdesk-secret';
const CLIENT_NAME = 'trustdesk';
const REDIRECT_URIS = list(process.env.OIDC_REDIRECT_URIS, 'http://127.0.0.1:8080/auth/callback');
const POST_LOGOUT_URIS = list(process.env.OIDC_POST_LOGOUT_URIS, 'http://127.0.0.1:8080/');
const SKIP_CONSENT = process.env.OIDC_SKIP_CONSENT === '1';
const SKIP_LOGOUT_PROMPT = process.env.OIDC_SKIP_LOGOUT_PROMPT === '1';
const PROFILE_NAME = process.env.OIDC_PROFILE || 'userinfo';
const BACKCHANNEL_URI = process.env.OIDC_BACKCHANNEL_LOGOUT_URI || '';
const CLIENT_AUTHS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
const CLIENT_AUTH = process.env.OIDC_CLIENT_AUTH || 'client_secret_basic';

if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) die(`bad OIDC_PORT ${process.env.OIDC_PORT}`);
if (!CLIENT_AUTHS.includes(CLIENT_AUTH)) die(`bad OIDC_CLIENT_AUTH ${CLIENT_AUTH} (${CLIENT_AUTHS.join(', ')})`);
if (CLIENT_AUTH === 'private_key_jwt' && !process.env.OIDC_CLIENT_PUBLIC_KEY) die('OIDC_CLIENT_AUTH=private_key_jwt needs OIDC_CLIENT_PUBLIC_KEY');
if (!PROFILE_NAMES.includes(PROFILE_NAME)) die(`bad OIDC_PROFILE ${PROFILE_NAME} (${PROFILE_NAMES.join(', ')})`);

// ---- listen first so that port 0 works and the issuer has the real port ------------------------
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, HOST, resolve);
});
const { port } = server.address();
const origin = `http://${HOST}:${port}`;
const profile = makeProfile(PROFILE_NAME, { origin, clientId: CLIENT_ID, clientName: CLIENT_NAME });
const issuer = `${origin}${profile.issuerPath}`;
if (BACKCHANNEL_URI && !profile.backchannelLogout) {
  process.stderr.write(`provider.mjs: OIDC_BACKCHANNEL_LOGOUT_URI ignored: the ${profile.name} `
    + 'profile has no back-channel logout\n');
}

// ---- keys -------------------------------------------------------------------------------------
const generateKeyPair = promisify(crypto.generateKeyPair);
// RFC 7638 JWK thumbprint as kid
const thumbprint = ({ e, n }) => crypto.createHash('sha256')
  .update(JSON.stringify({ e, kty: 'RSA', n })).digest('base64url');
async function newRsaKey() {
  const { privateKey } = await generateKeyPair('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { privateKey, jwk: { ...jwk, kid: thumbprint(jwk), use: 'sig', alg: 'RS256' } };
}
const cookieKeys = [crypto.randomBytes(32).toString('hex')]; // the same across key rotations
const unpublished = TAMPER === 'unpublished_key' ? await newRsaKey() : undefined;

// ---- accounts ---------------------------------------------------------------------------------
async function findAccount(ctx, id) {
  const s = profile.accounts.byId.get(id);
  if (!s) return undefined;
  // the provider keeps only the claims of the granted scopes (and of the use)
  return { accountId: id, claims: async (use) => profile.accountClaims(s, use) };
}

function checkPassword(login, password) {
  const a = profile.accounts.byLogin.get(String(login ?? ''));
  // compare digests so the comparison is constant-time and length-independent
  const given = crypto.createHash('sha256').update(String(password ?? '')).digest();
  const want = crypto.createHash('sha256').update(a ? a.password : crypto.randomBytes(16)).digest();
  return crypto.timingSafeEqual(given, want) && a !== undefined;
}

// ---- HTML (no external resources: the defaults @import a Google font) -------------------------
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));
const page = (title, body) => '<!DOCTYPE html><html><head><meta charset="utf-8">'
  + `<title>${esc(title)}</title></head><body><h1>${esc(title)}</h1>${body}</body></html>`;

const loginForm = (uid, error) => page('Sign-in', `${error ? `<p class="error">${esc(error)}</p>` : ''}
<form id="login" autocomplete="off" action="/interaction/${esc(uid)}" method="post">
  <input type="hidden" name="prompt" value="login">
  <label>Login <input required type="text" id="login-name" name="login" autofocus></label>
  <label>Password <input required type="password" id="login-password" name="password"></label>
  <button type="submit" id="login-submit">Sign-in</button>
</form>
<p><a href="/interaction/${esc(uid)}/abort" id="login-abort">Cancel</a></p>`);

const consentForm = (uid, details) => page('Authorize', `<p>Scopes: ${esc((details.missingOIDCScope || []).join(' '))}</p>
<form id="consent" autocomplete="off" action="/interaction/${esc(uid)}" method="post">
  <input type="hidden" name="prompt" value="consent">
  <button type="submit" id="consent-submit">Continue</button>
</form>
<p><a href="/interaction/${esc(uid)}/abort" id="consent-abort">Cancel</a></p>`);

// ---- the oidc-provider configuration ----------------------------------------------------------
// The product's answer to an unknown scope, after client_id and redirect_uri were checked (so an
// error goes back to the redirect_uri with the state, as the products do).
async function checkRequestedScopes(ctx) {
  if (ctx.oidc.route !== 'authorization') return;
  const given = ctx.method === 'POST' ? ctx.oidc.body?.scope : ctx.query.scope;
  const raw = typeof given === 'string' ? given : (ctx.oidc.params.scope ?? '');
  const requested = raw.split(' ').filter(Boolean);
  const err = profile.refuseScope(requested, raw);
  if (err) throw err;
  // oidc-provider drops offline_access unless prompt=consent (OIDC Core §11); the products don't
  const kept = (ctx.oidc.params.scope ?? '').split(' ').filter(Boolean);
  if (profile.offlineAccessWithoutConsent && requested.includes('offline_access')
    && !kept.includes('offline_access')) {
    ctx.oidc.params.scope = [...kept, 'offline_access'].join(' ');
  }
}

// oidc-provider refuses to call loopback addresses (SSRF guard); the lab's RP lives there, and
// nothing else may be called.
function labFetch(url, options) {
  if (new URL(url).hostname !== HOST) {
    return Promise.reject(new Error(`lab provider: refusing to call ${url} (only ${HOST})`));
  }
  const { dispatcher, ...rest } = options;
  return globalThis.fetch(url, rest);
}

function makeConfiguration(jwks) {
  const client = {
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    client_name: CLIENT_NAME,
    redirect_uris: REDIRECT_URIS,
    post_logout_redirect_uris: POST_LOGOUT_URIS,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: CLIENT_AUTH,
    id_token_signed_response_alg: TAMPER === 'hs256' ? 'HS256' : 'RS256',
  };
  if (CLIENT_AUTH === 'private_key_jwt') {
    const pem = fs.readFileSync(process.env.OIDC_CLIENT_PUBLIC_KEY || '', 'utf8');
    const jwk = crypto.createPublicKey(pem).export({ format: 'jwk' });
    client.jwks = { keys: [{ ...jwk, use: 'sig', alg: 'RS256' }] };
  }
  if (profile.backchannelLogout && BACKCHANNEL_URI) {
    client.backchannel_logout_uri = BACKCHANNEL_URI;
    client.backchannel_logout_session_required = true;
  }
  const configuration = {
    adapter: (name) => new MemoryAdapter(name),
    clients: [client],
    scopes: profile.scopes,
    claims: profile.claims,
    // false: the scope claims go into the ID token too (Entra, Keycloak, Okta do so)
    conformIdTokenClaims: !profile.idTokenHasScopeClaims,
    extraParams: { scope: checkRequestedScopes },
    findAccount,
    // PKCE (S256) for every client, confidential included
    pkce: { required: () => true },
    jwks,
    cookies: { keys: cookieKeys },
    routes: profile.routes,
    fetch: labFetch,
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', Object.entries(out)
        .map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join(''));
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      revocation: { enabled: profile.revocation },
      backchannelLogout: { enabled: profile.backchannelLogout },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          const hasHint = Boolean(ctx.oidc.params.id_token_hint);
          const auto = SKIP_LOGOUT_PROMPT && profile.logout.autoSubmit(hasHint)
            ? '<script>document.getElementById("logout-yes").click()</script>' : '';
          ctx.body = page('Sign out', `<p>Sign out of the lab identity provider?</p>${form}
<button type="submit" id="logout-yes" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" id="logout-no" form="op.logoutForm">No, stay signed in</button>${auto}`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<p id="signed-out">You are signed out.</p>');
        },
      },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AuthorizationCode: 60,
      IdToken: 3600,
      AccessToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
      RefreshToken: 86400,
    },
  };
  if (profile.alwaysRefreshToken) {
    configuration.issueRefreshToken = async (ctx, c) => c.grantTypeAllowed('refresh_token');
  }
  if (TAMPER === 'hs256') configuration.enabledJWA = { idTokenSigningAlgValues: ['RS256', 'HS256'] };
  if (SKIP_CONSENT) {
    // first-party client: reuse or create a grant covering the requested scopes that the provider
    // knows (unknown ones are not granted, as on the consent page)
    configuration.loadExistingGrant = async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
      await grant.save();
      return grant;
    };
  }
  return configuration;
}

// ---- product behaviour around oidc-provider's endpoints ----------------------------------------
const b64json = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function tamperIdToken(idToken) {
  const [, payload] = idToken.split('.');
  if (TAMPER === 'alg_none') return `${b64json({ alg: 'none', typ: 'JWT' })}.${payload}.`;
  // unpublished_key
  const input = `${b64json({ alg: 'RS256', typ: 'JWT', kid: unpublished.jwk.kid })}.${payload}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), unpublished.privateKey).toString('base64url')}`;
}

const endSession = endSessionConfirm[endSessionConfirm.length - 1];
const badRequest = (ctx, message) => {
  ctx.status = 400;
  ctx.type = 'html';
  ctx.body = page('Bad Request', `<p id="error">${esc(message)}</p>`);
};

async function productBehaviour(ctx, next) {
  await next();

  const route = ctx.oidc?.route;
  if (route === 'discovery' && ctx.body && typeof ctx.body === 'object') {
    if (!profile.issParameter) delete ctx.body.authorization_response_iss_parameter_supported;
    if (profile.subjectTypes) ctx.body.subject_types_supported = profile.subjectTypes;
  } else if ((route === 'authorization' || route === 'resume') && !profile.issParameter) {
    // no RFC 9207 iss in the redirect back to the client
    const location = ctx.response.get('location');
    if (location && REDIRECT_URIS.some((u) => location.startsWith(u))) {
      const u = new URL(location);
      if (u.searchParams.has('iss')) {
        u.searchParams.delete('iss');
        ctx.redirect(u.href);
      }
    }
  } else if (route === 'token' && ctx.body?.id_token
    && (TAMPER === 'alg_none' || TAMPER === 'unpublished_key')) {
    ctx.body = { ...ctx.body, id_token: tamperIdToken(ctx.body.id_token) };
  } else if (route === 'end_session') {
    const raw = (ctx.method === 'POST' ? ctx.oidc.body : ctx.query) || {};
    if (profile.logout.requireHint && !raw.id_token_hint) {
      // Okta: id_token_hint is required
      badRequest(ctx, "The 'id_token_hint' parameter is required.");
    } else if (profile.logout.postLogoutNeedsHintOrClientId && raw.post_logout_redirect_uri
      && !raw.id_token_hint && !raw.client_id) {
      // Keycloak >= 18
      badRequest(ctx, 'Missing parameters: id_token_hint');
    } else if (profile.logout.noPrompt && ctx.status === 200) {
      // Okta: end the session at once and redirect (what a "yes" on the page would do)
      ctx.oidc.params.logout = 'yes';
      await endSession(ctx);
    }
  }
}

// ---- the Provider, rebuilt on key rotation ----------------------------------------------------
let current; // { provider, callback }
function buildProvider(jwk) {
  const provider = new Provider(issuer, makeConfiguration({ keys: [jwk] }));
  provider.use(productBehaviour);
  provider.on('server_error', (ctx, err) => console.error('server_error:', err));
  provider.on('backchannel.error', (ctx, err, client) => console.error(
    `back-channel logout to ${client.backchannelLogoutUri} failed: ${err.message}`,
  ));
  provider.on('backchannel.success', (ctx, client) => console.error(
    `back-channel logout sent to ${client.backchannelLogoutUri}`,
  ));
  current = { provider, callback: provider.callback(), kid: jwk.kid };
}
buildProvider((await newRsaKey()).jwk);

async function rotate() {
  const { jwk } = await newRsaKey();
  buildProvider(jwk);
  process.stderr.write(`rotated signing key to ${jwk.kid}\n`);
}
process.on('SIGUSR2', () => {
  rotate().catch((err) => console.error('key rotation failed:', err));
});

// ---- the login / consent pages ----------------------------------------------------------------
const readBody = (req) => new Promise((resolve, reject) => {
  let data = '';
  req.setEncoding('utf8');
  req.on('data', (c) => {
    data += c;
    if (data.length > 100000) req.destroy(new Error('body too large'));
  });
  req.on('end', () => resolve(data));
  req.on('error', reject);
});

const send = (res, status, html) => {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
};

async function handleInteraction(req, res, uid, abort) {
  const { provider } = current;
  // throws SessionNotFound when the interaction cookie or uid is wrong
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (details.uid !== uid) return send(res, 400, page('Bad request', '<p>interaction mismatch</p>'));
  if (abort) {
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'GET') {
    return send(res, 200, prompt.name === 'login' ? loginForm(uid) : consentForm(uid, prompt.details));
  }
  if (req.method !== 'POST') return send(res, 405, page('Method not allowed', ''));
  const form = Object.fromEntries(new URLSearchParams(await readBody(req)));

  if (form.prompt === 'login' && prompt.name === 'login') {
    if (!checkPassword(form.login, form.password)) {
      console.error(`login failed for ${JSON.stringify(String(form.login ?? '').slice(0, 64))}`);
      return send(res, 401, loginForm(uid, 'Invalid login or password'));
    }
    const accountId = profile.accounts.accountId(form.login);
    return provider.interactionFinished(req, res, { login: { accountId } },
      { mergeWithLastSubmission: false });
  }
  if (form.prompt === 'consent' && prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } },
      { mergeWithLastSubmission: true });
  }
  return send(res, 400, page('Bad request',
    `<p>unexpected prompt ${esc(form.prompt)} (expected ${esc(prompt.name)})</p>`));
}

// ---- entra: the group overage endpoint (graph.windows.net's getMemberObjects) -----------------
// POST /<tid>/users/<oid>/getMemberObjects, Authorization: Bearer <access token issued here to
// that user>, body {"securityEnabledOnly": false} -> 200 {"value": [group object IDs]}.
// https://learn.microsoft.com/en-us/troubleshoot/entra/entra-id/app-integration/get-signed-in-users-groups-in-access-token
// Errors in Azure AD Graph's shape (https://learn.microsoft.com/en-us/previous-versions/azure/ad/graph/howto/azure-ad-graph-api-error-codes-and-error-handling).
const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
};
const graphError = (code, value) => ({ 'odata.error': { code, message: { lang: 'en', value } } });

async function handleGetMemberObjects(req, res, oid) {
  if (req.method !== 'POST') {
    return json(res, 405, graphError('Request_BadRequest', 'The HTTP method is not allowed.'), { Allow: 'POST' });
  }
  const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(req.headers.authorization || '');
  const unauthorized = (code, value) => json(res, 401, graphError(code, value),
    { 'WWW-Authenticate': 'Bearer realm="lab", error="invalid_token"' });
  if (!m) return unauthorized('Authentication_MissingOrMalformed', 'Access Token missing or malformed.');
  const token = await current.provider.AccessToken.find(m[1]);
  const s = token && profile.accounts.byId.get(token.accountId);
  if (!s || profile.oidOf(s) !== oid) {
    return unauthorized('Authentication_Unauthorized', 'Access token validation failure.');
  }
  let body;
  try {
    body = JSON.parse(await readBody(req));
  } catch {
    body = undefined;
  }
  if (typeof body?.securityEnabledOnly !== 'boolean') {
    return json(res, 400, graphError('Request_BadRequest',
      "Invalid or missing parameter 'securityEnabledOnly'."));
  }
  return json(res, 200, { value: profile.groupsOf(s) });
}

// ---- HTTP routing ------------------------------------------------------------------------------
// oidc-provider is mounted at profile.mountPath the way its docs describe for a path-prefixed
// issuer: req.url relative to the mount, req.originalUrl the full one
// (https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#mounting-oidc-provider).
function toProvider(req, res, mountedUrl, originalUrl) {
  req.originalUrl = originalUrl;
  req.url = mountedUrl;
  return current.callback(req, res);
}

// OIDC_CLOCK_OFFSET_SECS: cookie expiry dates are computed with the shifted clock; put them back
// in real time just before the headers go out, or a browser would drop the cookies at once.
function unshiftCookieExpiry(res) {
  const { writeHead } = res;
  res.writeHead = function writeHeadRealTime(...args) {
    const cookies = res.getHeader('set-cookie');
    if (cookies) {
      const fix = (c) => c.replace(/expires=([^;]+)/gi, (all, d) => (d.includes('1970') ? all
        : `expires=${new Date(Date.parse(d) - CLOCK_OFFSET_SECS * 1000).toUTCString()}`));
      res.setHeader('set-cookie', Array.isArray(cookies) ? cookies.map(fix) : fix(String(cookies)));
    }
    return writeHead.apply(this, args);
  };
}

const fail = (res, err) => {
  console.error(err);
  if (!res.headersSent) send(res, 400, page('Error', `<p>${esc(err.name)}: ${esc(err.message)}</p>`));
  else res.destroy();
};

server.on('request', (req, res) => {
  if (CLOCK_OFFSET_SECS) unshiftCookieExpiry(res);
  let path;
  try {
    path = new URL(req.url, origin).pathname;
  } catch {
    return send(res, 400, page('Bad request', ''));
  }
  const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';

  const interaction = /^\/interaction\/([A-Za-z0-9_-]+)(\/abort)?$/.exec(path);
  if (interaction) {
    handleInteraction(req, res, interaction[1], Boolean(interaction[2])).catch((err) => fail(res, err));
    return undefined;
  }
  if (profile.tenant) {
    const overage = new RegExp(`^/${profile.tenant}/users/([0-9a-f-]{36})/getMemberObjects$`).exec(path);
    if (overage) {
      handleGetMemberObjects(req, res, overage[1]).catch((err) => fail(res, err));
      return undefined;
    }
  }

  const mount = profile.mountPath;
  if (!mount) return current.callback(req, res);
  if (profile.discoveryAlias && path === profile.discoveryAlias) {
    const wellKnown = '/.well-known/openid-configuration';
    return toProvider(req, res, wellKnown + query, mount + wellKnown + query);
  }
  if (profile.discoveryAlias && path === `${mount}/.well-known/openid-configuration`) {
    // on Entra this is the v1.0 metadata (another issuer); not imitated
    return send(res, 404, page('Not found', ''));
  }
  if ((path === mount || path.startsWith(`${mount}/`)) && req.url.startsWith(mount)) {
    let url = req.url;
    // Entra honours post_logout_redirect_uri without id_token_hint or client_id; oidc-provider
    // needs one of them to trust it (the client is the only one registered)
    if (profile.logout.implicitClientId && req.method === 'GET'
      && path === mount + profile.routes.end_session) {
      const u = new URL(url, origin);
      const q = u.searchParams;
      if (q.has('post_logout_redirect_uri') && !q.has('id_token_hint') && !q.has('client_id')) {
        q.set('client_id', CLIENT_ID);
        url = u.pathname + u.search;
      }
    }
    return toProvider(req, res, url.slice(mount.length) || '/', url);
  }
  return send(res, 404, page('Not found', ''));
});

const shutdown = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// the lab may redirect stdout to a file it later deletes; never die on EPIPE
process.stdout.on('error', () => {});

process.stderr.write(`lab oidc provider: ${issuer} profile=${profile.name} client_id=${CLIENT_ID}`
  + `${TAMPER ? ` TAMPER=${TAMPER}` : ''}${CLOCK_OFFSET_SECS ? ` clock offset ${CLOCK_OFFSET_SECS}s` : ''}`
  + ` kid=${current.kid} ready in ${(performance.now() - started).toFixed(0)} ms\n`);
process.stdout.write(`${JSON.stringify({
  ready: true, issuer, port, profile: profile.name, ...(profile.tenant ? { tenant: profile.tenant } : {}),
})}\n`);
