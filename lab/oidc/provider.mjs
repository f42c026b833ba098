// trustdesk lab: test-only OpenID Provider (panva's oidc-provider, pinned in package.json).
// Never for production: in-memory storage, fixed demo accounts, ephemeral keys.
// Listens on 127.0.0.1 only.
//
// Environment (all optional):
//   OIDC_PORT              TCP port; 0 (default) = pick a free port
//   OIDC_CLIENT_ID         default "trustdesk"
//   OIDC_CLIENT_SECRET     default "trustdesk-secret"
//   OIDC_REDIRECT_URIS     comma list, default "http://127.0.0.1:8080/auth/callback"
//   OIDC_POST_LOGOUT_URIS  comma list, default "http://127.0.0.1:8080/"
//   OIDC_SKIP_CONSENT      "1" = first-party client: grant the requested scopes, no consent page
//   OIDC_SKIP_LOGOUT_PROMPT "1" = the logout confirmation page submits itself
//
// Protocol with whoever starts it: exactly ONE line on stdout when ready,
//   {"ready":true,"issuer":"http://127.0.0.1:PORT","port":PORT}
// Everything else (including oidc-provider's console.info NOTICEs) goes to stderr.
// SIGTERM/SIGINT exit within a second (keep-alive sockets are closed).
//
// Demo staff accounts (login / password -> groups claim):
//   alice / alice-pw -> helpdesk-senior          bob   / bob-pw   -> helpdesk-junior-paris
//   carol / carol-pw -> security-auditors        erin  / erin-pw  -> trustdesk-admins
//   dave  / dave-pw  -> (none: no portal role)
import * as http from 'node:http';
import * as crypto from 'node:crypto';
import Provider from 'oidc-provider';

const started = performance.now();
// stdout carries only the ready line; oidc-provider prints NOTICEs with console.info.
console.info = (...args) => console.error(...args);

const HOST = '127.0.0.1';
const list = (v, dflt) => (v ?? dflt).split(',').map((s) => s.trim()).filter(Boolean);
const PORT = Number(process.env.OIDC_PORT || 0);
const CLIENT_ID = process.env.OIDC_CLIENT_ID || 'trustdesk';
const CLIENT_SECRET = process.env.OIDC_CLIENT_SECRET || 'trustdesk-secret';
const REDIRECT_URIS = list(process.env.OIDC_REDIRECT_URIS, 'http://127.0.0.1:8080/auth/callback');
const POST_LOGOUT_URIS = list(process.env.OIDC_POST_LOGOUT_URIS, 'http://127.0.0.1:8080/');
const SKIP_CONSENT = process.env.OIDC_SKIP_CONSENT === '1';
const SKIP_LOGOUT_PROMPT = process.env.OIDC_SKIP_LOGOUT_PROMPT === '1';

if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  process.stderr.write(`provider.mjs: bad OIDC_PORT ${process.env.OIDC_PORT}\n`);
  process.exit(2);
}

// ---- demo accounts ---------------------------------------------------------
const ACCOUNTS = {
  alice: { password: 'alice-pw', name: 'Alice Senior', groups: ['helpdesk-senior'] },
  bob: { password: 'bob-pw', name: 'Bob Junior', groups: ['helpdesk-junior-paris'] },
  carol: { password: 'carol-pw', name: 'Carol Auditor', groups: ['security-auditors'] },
  erin: { password: 'erin-pw', name: 'Erin Admin', groups: ['trustdesk-admins'] },
  dave: { password: 'dave-pw', name: 'Dave Nobody', groups: [] },
};

async function findAccount(ctx, sub) {
  const a = Object.hasOwn(ACCOUNTS, sub) ? ACCOUNTS[sub] : undefined;
  if (!a) return undefined;
  return {
    accountId: sub,
    // the provider releases only the claims of the granted scopes
    async claims() {
      return {
        sub,
        name: a.name,
        preferred_username: sub,
        email: `${sub}@example.test`,
        email_verified: true,
        groups: a.groups,
      };
    },
  };
}

function checkPassword(login, password) {
  const a = Object.hasOwn(ACCOUNTS, login) ? ACCOUNTS[login] : undefined;
  // compare digests so the comparison is constant-time and length-independent
  const given = crypto.createHash('sha256').update(String(password ?? '')).digest();
  const want = crypto.createHash('sha256').update(a ? a.password : crypto.randomBytes(16)).digest();
  return crypto.timingSafeEqual(given, want) && a !== undefined;
}

// ---- HTML (no external resources: the defaults @import a Google font) -------
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

// ---- keys: generated per start ---------------------------------------------
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'lab-rs256', use: 'sig', alg: 'RS256' };

// ---- listen first so that port 0 works and the issuer has the real port -----
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, HOST, resolve);
});
const { port } = server.address();
const issuer = `http://${HOST}:${port}`;

const configuration = {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    client_name: 'trustdesk',
    redirect_uris: REDIRECT_URIS,
    post_logout_redirect_uris: POST_LOGOUT_URIS,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  // scope -> the claims it releases; "groups" becomes a supported scope and claim
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // put the scope claims (name, email, groups) into the ID token too, not only /userinfo
  conformIdTokenClaims: false,
  findAccount,
  // PKCE (S256) for every client, confidential included
  pkce: { required: () => true },
  jwks: { keys: [signingJwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Error', Object.entries(out)
      .map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join(''));
  },
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        const auto = SKIP_LOGOUT_PROMPT
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

if (SKIP_CONSENT) {
  // first-party client: reuse or create a grant covering the requested scopes
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
    grant.addOIDCScope([...(ctx.oidc.requestParamScopes || ['openid'])].join(' '));
    await grant.save();
    return grant;
  };
}

const provider = new Provider(issuer, configuration);
const oidcCallback = provider.callback();

const readForm = (req) => new Promise((resolve, reject) => {
  let data = '';
  req.setEncoding('utf8');
  req.on('data', (c) => {
    data += c;
    if (data.length > 100000) req.destroy(new Error('form too large'));
  });
  req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(data))));
  req.on('error', reject);
});

const send = (res, status, html) => {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
};

async function handleInteraction(req, res, uid, abort) {
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
  const form = await readForm(req);

  if (form.prompt === 'login' && prompt.name === 'login') {
    if (!checkPassword(form.login, form.password)) {
      console.error(`login failed for ${JSON.stringify(String(form.login ?? '').slice(0, 64))}`);
      return send(res, 401, loginForm(uid, 'Invalid login or password'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: form.login } },
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

server.on('request', (req, res) => {
  let path;
  try {
    path = new URL(req.url, issuer).pathname;
  } catch {
    return send(res, 400, page('Bad request', ''));
  }
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/abort)?$/.exec(path);
  if (m) {
    handleInteraction(req, res, m[1], Boolean(m[2])).catch((err) => {
      if (!res.headersSent) send(res, 400, page('Error', `<p>${esc(err.name)}: ${esc(err.message)}</p>`));
      else res.destroy();
    });
    return undefined;
  }
  return oidcCallback(req, res);
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

process.stderr.write(`lab oidc provider: ${issuer} client_id=${CLIENT_ID} ready in `
  + `${(performance.now() - started).toFixed(0)} ms\n`);
process.stdout.write(`${JSON.stringify({ ready: true, issuer, port })}\n`);
