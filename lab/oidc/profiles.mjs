// trustdesk lab: the identity products that lab/oidc/provider.mjs imitates (OIDC_PROFILE).
//
// Each profile copies what the real product does by default (or after the usual admin set-up for
// a helpdesk portal), including where it is strict. None of it is shaped to suit the portal: when
// the portal and a profile disagree, check the cited vendor documentation, not this file.
//
// A profile is plain data plus a few functions used by provider.mjs:
//   issuerPath  path of the issuer identifier (issuer = http://127.0.0.1:PORT + issuerPath)
//   mountPath   where oidc-provider's endpoints live (normally = issuerPath)
//   discoveryAlias  (entra) where discovery is served when it is not under mountPath
//   routes      oidc-provider `routes` (endpoint paths under mountPath)
//   scopes      scopes the product knows; claims: scope -> claims it releases
//   idTokenHasScopeClaims  false = OIDC Core §5.4: code flow scope claims only at userinfo
//   accounts    { byLogin, byId, accountId(login) } — accountId is the `sub`
//   accountClaims(account, use)  the account's claims for use 'id_token' | 'userinfo' (the
//               provider then keeps those of the granted scopes)
//   refuseScope(requested, raw)  an oidc-provider error refusing the authorization request, or undefined
//   subjectTypes, tenant, groupsOf(account), oidOf(account)  (entra)
//   issParameter           RFC 9207 `iss` in authorization responses
//   offlineAccessWithoutConsent, alwaysRefreshToken  when refresh tokens are issued
//   backchannelLogout, revocation, logout: { requireHint, autoSubmit(hasHint), noPrompt }
import * as crypto from 'node:crypto';
import { errors } from 'oidc-provider';

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const sha256 = (s) => crypto.createHash('sha256').update(s).digest();

// ---- the demo staff, common to every profile -------------------------------------------------
// login / password, display name, and the portal role their directory groups stand for.
const STAFF = [
  { login: 'alice', given: 'Alice', family: 'Senior', role: 'helpdesk-senior' },
  { login: 'bob', given: 'Bob', family: 'Junior', role: 'helpdesk-junior-paris' },
  { login: 'carol', given: 'Carol', family: 'Auditor', role: 'security-auditors' },
  { login: 'erin', given: 'Erin', family: 'Admin', role: 'trustdesk-admins' },
  { login: 'dave', given: 'Dave', family: 'Nobody', role: null },
].map((s) => ({ ...s, password: `${s.login}-pw`, name: `${s.given} ${s.family}` }));

function accountsOf(staff, accountId) {
  const byLogin = new Map(staff.map((s) => [s.login, s]));
  const byId = new Map(staff.map((s) => [accountId(s.login), s]));
  return { byLogin, byId, accountId };
}

// ---- 1. userinfo: oidc-provider's own defaults (the default profile) ---------------------------
// OIDC Core 1.0 §5.4 https://openid.net/specs/openid-connect-core-1_0.html#ScopeClaims : with a
// response_type that issues an access token (the code flow), the claims of the profile/email/...
// scopes are returned by the UserInfo endpoint, not in the ID token. oidc-provider does exactly
// that unless conformIdTokenClaims is false
// (https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#conformidtokenclaims).
// Unknown scopes: oidc-provider ignores them silently (they are neither refused nor granted, and
// are absent from the token response's `scope`); see lib/actions/authorization/scopes.js and
// OIDCContext.requestParamOIDCScopes. RFC 6749 §3.3 allows the AS to "fully or partially ignore"
// the requested scope.
// `groups` scope: as on Okta's org authorization server
// (https://developer.okta.com/docs/api/openapi/okta-oauth/guides/overview/#scopes).
function userinfoProfile() {
  const accounts = accountsOf(STAFF, (login) => login);
  return {
    name: 'userinfo',
    issuerPath: '',
    mountPath: '',
    routes: {},
    scopes: ['openid', 'offline_access'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    idTokenHasScopeClaims: false,
    accounts,
    accountClaims(s) {
      return {
        sub: s.login,
        name: s.name,
        preferred_username: s.login,
        email: `${s.login}@example.test`,
        email_verified: true,
        groups: s.role ? [s.role] : [],
      };
    },
    refuseScope: () => undefined,
    issParameter: true,
    backchannelLogout: true,
    revocation: true,
    logout: { requireHint: false, autoSubmit: () => true, noPrompt: false },
  };
}

// ---- 2. entra: Microsoft Entra ID, v2.0 endpoints ---------------------------------------------
// Metadata and endpoints: https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc
//   issuer   https://login.microsoftonline.com/{tid}/v2.0   (discovery: issuer + /.well-known/...)
//   authorize/token/logout  https://login.microsoftonline.com/{tid}/oauth2/v2.0/{authorize,token,logout}
//   jwks     https://login.microsoftonline.com/{tid}/discovery/v2.0/keys
// i.e. the endpoints are NOT under the issuer path (they sit beside .../v2.0); that is imitated
// (oidc-provider mounted at /{tid}; only discovery is served under /{tid}/v2.0). An RP that builds
// endpoint URLs from the issuer instead of reading discovery fails here as it would on Entra.
// Userinfo is graph.microsoft.com/oidc/userinfo on Entra; here /{tid}/oidc/userinfo. It returns
// only sub and name, never groups/roles:
// https://learn.microsoft.com/en-us/entra/identity-platform/userinfo
// No RFC 9207 `iss` in authorization responses (Entra's metadata lacks
// authorization_response_iss_parameter_supported). No back-channel logout, no revocation endpoint.
// Logout without id_token_hint is accepted:
// https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc#send-a-sign-out-request
//
// ID token (https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference):
//   sub  pairwise, opaque, per app: base64url(sha256("<tid>|<client_id>|<login>")) (43 chars)
//   oid  the user's object ID (GUID, below); tid = TENANT; ver = "2.0"
//   preferred_username  the UPN <login>@lab.example.test; name
//   groups  group object IDs (GUIDs) — optional claim "groups", emitted in the ID token
//           (https://learn.microsoft.com/en-us/entra/identity-platform/optional-claims)
//   roles   app role values assigned to the user; absent when none
//           (https://learn.microsoft.com/en-us/entra/identity-platform/howto-add-app-roles-in-apps)
//   email   NOT emitted (optional claim, not configured; and only for users with a mailbox)
// Group overage (more than 200 groups in a JWT): no `groups`, but _claim_names/_claim_sources
// pointing at getMemberObjects (code flow form):
// https://learn.microsoft.com/en-us/security/zero-trust/develop/configure-tokens-group-claims-app-roles
// https://learn.microsoft.com/en-us/troubleshoot/entra/entra-id/app-integration/get-signed-in-users-groups-in-access-token
// The real endpoint is on graph.windows.net; here it is served by this server at
// <origin>/<tid>/users/<oid>/getMemberObjects (see provider.mjs).
// Unknown scope: AADSTS650053, error=invalid_client, sent to the redirect_uri with the state; the
// wording ("... Contact the app vendor.") as quoted on Microsoft Q&A
// https://learn.microsoft.com/en-us/answers/questions/1353813/the-application-asked-for-scope-that-doesnt-exist
// and in https://github.com/argoproj/argo-workflows/issues/3412 (real responses add a Trace ID,
// Correlation ID and Timestamp after a CRLF; left out).
export const ENTRA_TENANT = 'a3c1e0d4-5b6f-4a7e-9c2d-8e1f0b2a3c4d';
const GRAPH_RESOURCE = '00000003-0000-0000-c000-000000000000';
export const ENTRA_GROUPS = {
  'helpdesk-senior': '6c1a6f0e-1d6b-4a59-9a43-5b1a0c1d0001',
  'helpdesk-junior-paris': '6c1a6f0e-1d6b-4a59-9a43-5b1a0c1d0002',
  'security-auditors': '6c1a6f0e-1d6b-4a59-9a43-5b1a0c1d0003',
  'trustdesk-admins': '6c1a6f0e-1d6b-4a59-9a43-5b1a0c1d0004',
};
const ENTRA_APP_ROLES = { alice: ['Helpdesk.Senior'], erin: ['Trustdesk.Admin'] };
// user object IDs: 2f8e4b1c-7d3a-4e6f-b5c9-0d1e2f3a00NN
const ENTRA_OID = {
  alice: '2f8e4b1c-7d3a-4e6f-b5c9-0d1e2f3a0001',
  bob: '2f8e4b1c-7d3a-4e6f-b5c9-0d1e2f3a0002',
  carol: '2f8e4b1c-7d3a-4e6f-b5c9-0d1e2f3a0003',
  erin: '2f8e4b1c-7d3a-4e6f-b5c9-0d1e2f3a0004',
  dave: '2f8e4b1c-7d3a-4e6f-b5c9-0d1e2f3a0005',
  olga: '2f8e4b1c-7d3a-4e6f-b5c9-0d1e2f3a0006',
};
// olga is (transitively) in 250 groups: helpdesk-senior and 249 others
// (9e0d7c6b-5a4f-4e3d-8c2b-1a09000000NN, NN = 1..249 in hex)
const OLGA_GROUPS = [ENTRA_GROUPS['helpdesk-senior'], ...Array.from({ length: 249 },
  (_, i) => `9e0d7c6b-5a4f-4e3d-8c2b-${(i + 1).toString(16).padStart(12, '0')}`)];
const JWT_GROUP_LIMIT = 200;

function entraProfile({ origin, clientId, clientName }) {
  const staff = [...STAFF, {
    login: 'olga', password: 'olga-pw', given: 'Olga', family: 'Overage', name: 'Olga Overage', role: null,
  }];
  const accounts = accountsOf(staff,
    (login) => b64url(sha256(`${ENTRA_TENANT}|${clientId}|${login}`)));
  const known = new Set(['openid', 'profile', 'email', 'offline_access']);
  const groupsOf = (s) => (s.login === 'olga' ? OLGA_GROUPS : (s.role ? [ENTRA_GROUPS[s.role]] : []));
  return {
    name: 'entra',
    issuerPath: `/${ENTRA_TENANT}/v2.0`,
    mountPath: `/${ENTRA_TENANT}`,
    // only discovery is under the issuer path; oidc-provider serves it from the mount path
    discoveryAlias: `/${ENTRA_TENANT}/v2.0/.well-known/openid-configuration`,
    routes: {
      authorization: '/oauth2/v2.0/authorize',
      token: '/oauth2/v2.0/token',
      end_session: '/oauth2/v2.0/logout',
      jwks: '/discovery/v2.0/keys',
      userinfo: '/oidc/userinfo',
    },
    scopes: [...known],
    claims: {
      openid: ['sub', 'oid', 'tid', 'ver', 'groups', 'roles'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
    },
    idTokenHasScopeClaims: true,
    accounts,
    tenant: ENTRA_TENANT,
    groupsOf,
    oidOf: (s) => ENTRA_OID[s.login],
    accountClaims(s, use) {
      const sub = accounts.accountId(s.login);
      if (use === 'userinfo') return { sub, name: s.name };
      const groups = groupsOf(s);
      const claims = {
        sub,
        oid: ENTRA_OID[s.login],
        tid: ENTRA_TENANT,
        ver: '2.0',
        name: s.name,
        preferred_username: `${s.login}@lab.example.test`,
      };
      if (groups.length > JWT_GROUP_LIMIT) {
        claims._claim_names = { groups: 'src1' };
        claims._claim_sources = {
          src1: { endpoint: `${origin}/${ENTRA_TENANT}/users/${ENTRA_OID[s.login]}/getMemberObjects` },
        };
      } else if (groups.length) {
        claims.groups = groups;
      }
      if (ENTRA_APP_ROLES[s.login]) claims.roles = ENTRA_APP_ROLES[s.login];
      return claims;
    },
    refuseScope(requested) {
      const unknown = requested.find((s) => !known.has(s));
      if (unknown === undefined) return undefined;
      return new errors.CustomOIDCProviderError('invalid_client', `AADSTS650053: The application `
        + `'${clientName}' asked for scope '${unknown}' that doesn't exist on the resource `
        + `'${GRAPH_RESOURCE}'. Contact the app vendor.`);
    },
    issParameter: false,
    subjectTypes: ['pairwise'],
    // offline_access = a refresh token, no prompt=consent needed
    // (https://learn.microsoft.com/en-us/entra/identity-platform/scopes-oidc#the-offline_access-scope)
    offlineAccessWithoutConsent: true,
    backchannelLogout: false,
    revocation: false,
    // Entra honours post_logout_redirect_uri without id_token_hint (and without client_id)
    logout: { requireHint: false, autoSubmit: () => true, noPrompt: false, implicitClientId: true },
  };
}

// ---- 3. keycloak: a Keycloak (>= 22) realm "lab" ---------------------------------------------
// Endpoints: https://www.keycloak.org/securing-apps/oidc-layers#_oidc_available_endpoints
//   issuer /realms/lab; /realms/lab/protocol/openid-connect/{auth,token,userinfo,logout,certs,revoke}
// Default client scopes (applied whether requested or not): acr, basic, email, profile, roles,
// web-origins; optional: address, phone, offline_access, microprofile-jwt, organization
// (https://www.keycloak.org/docs/latest/server_admin/#_client_scopes). `groups` is not a scope.
// Any other scope: error=invalid_scope, error_description "Invalid scopes: <the scope parameter>"
// (https://github.com/oauth2-proxy/oauth2-proxy/issues/1448).
// sub = the user's id (a UUID; here derived from sha256("lab|<login>")), preferred_username = login.
// Claims of the default scopes are in the ID token and at userinfo (the profile/email mappers have
// "Add to ID token" and "Add to userinfo" on by default).
// groups: the Group Membership mapper the admin adds (its "Full group path" is ON by default, and
// it emits [] for a user in no group):
// https://www.keycloak.org/docs/latest/server_admin/#_protocol-mappers and
// https://github.com/keycloak/keycloak/blob/main/services/src/main/java/org/keycloak/protocol/oidc/mappers/GroupMembershipMapper.java
// realm_access.roles: the "realm roles" mapper of the `roles` scope; in real Keycloak it adds to
// the ACCESS token only, and to the ID token only when the admin switches "Add to ID token" on
// (assumed done here). Not at userinfo. Every user has default-roles-lab (composite of
// offline_access and uma_authorization).
// RFC 9207 `iss` in authorization responses: yes (https://github.com/keycloak/keycloak/issues/20584).
// Back-channel logout: yes ("Backchannel logout session required" on by default).
// Logout (Keycloak >= 18, https://www.keycloak.org/docs/latest/upgrading/#openid-connect-logout):
// without id_token_hint the user must confirm on a page; post_logout_redirect_uri needs
// id_token_hint or client_id ("Missing parameters: id_token_hint").
const KEYCLOAK_PATHS = {
  'helpdesk-senior': '/helpdesk/senior',
  'helpdesk-junior-paris': '/helpdesk/junior-paris',
  'security-auditors': '/security/auditors',
  'trustdesk-admins': '/trustdesk/admins',
};

function uuidFrom(s) {
  const h = sha256(s);
  h[6] = (h[6] & 0x0f) | 0x40; // version 4 layout, like Keycloak's random ids
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function keycloakProfile() {
  const accounts = accountsOf(STAFF, (login) => uuidFrom(`lab|${login}`));
  const scopes = ['openid', 'profile', 'email', 'roles', 'web-origins', 'acr', 'basic',
    'address', 'phone', 'offline_access', 'microprofile-jwt', 'organization'];
  const known = new Set(scopes);
  return {
    name: 'keycloak',
    issuerPath: '/realms/lab',
    mountPath: '/realms/lab',
    routes: {
      authorization: '/protocol/openid-connect/auth',
      token: '/protocol/openid-connect/token',
      userinfo: '/protocol/openid-connect/userinfo',
      end_session: '/protocol/openid-connect/logout',
      jwks: '/protocol/openid-connect/certs',
      revocation: '/protocol/openid-connect/revoke',
    },
    scopes,
    // default client scopes apply to every request, so everything hangs off `openid`
    claims: {
      openid: ['sub', 'name', 'given_name', 'family_name', 'preferred_username', 'email',
        'email_verified', 'groups', 'realm_access'],
    },
    idTokenHasScopeClaims: true,
    accounts,
    accountClaims(s, use) {
      const claims = {
        sub: accounts.accountId(s.login),
        name: s.name,
        given_name: s.given,
        family_name: s.family,
        preferred_username: s.login,
        email: `${s.login}@lab.example.test`,
        email_verified: true,
        groups: s.role ? [KEYCLOAK_PATHS[s.role]] : [],
      };
      if (use === 'id_token') {
        claims.realm_access = {
          roles: [...(s.role ? [s.role] : []), 'default-roles-lab', 'offline_access', 'uma_authorization'],
        };
      }
      return claims;
    },
    refuseScope(requested, raw) {
      if (requested.every((s) => known.has(s))) return undefined;
      return new errors.InvalidScope(`Invalid scopes: ${raw}`);
    },
    issParameter: true,
    // Keycloak returns a refresh token with every code exchange; offline_access makes it an
    // offline token (https://www.keycloak.org/docs/latest/server_admin/#_offline-access)
    alwaysRefreshToken: true,
    offlineAccessWithoutConsent: true,
    backchannelLogout: true,
    revocation: true,
    logout: {
      requireHint: false,
      autoSubmit: (hasHint) => hasHint, // no hint: the confirmation page stays
      noPrompt: false,
      postLogoutNeedsHintOrClientId: true,
    },
  };
}

// ---- 4. okta: an Okta custom authorization server "default" ----------------------------------
// Endpoints: https://developer.okta.com/docs/api/openapi/okta-oauth/guides/overview/
//   issuer /oauth2/default; /oauth2/default/v1/{authorize,token,userinfo,logout,keys,revoke}
// Scopes: openid profile email address phone offline_access, plus `groups` (the admin adds the
// scope and a "groups" claim to the default server, Include in: ID Token / Always, filter
// "Matches regex .*", which also matches Okta's built-in "Everyone" group:
// https://developer.okta.com/docs/guides/customize-tokens-groups-claim/main/).
// Unknown scope: error=invalid_scope "One or more scopes are not configured for the authorization
// server resource." (e.g. https://github.com/okta-samples/okta-express-sample/issues/6).
// sub = the Okta user id (00u + 17 characters; here derived from sha256), preferred_username = the
// Okta username (an email), profile/email claims in the ID token and at userinfo.
// No RFC 9207 `iss` in authorization responses. No back-channel logout for OIDC apps.
// Logout: id_token_hint is required (HTTP 400 without it); with it the session ends and the browser
// goes straight to post_logout_redirect_uri, no prompt:
// https://developer.okta.com/docs/reference/api/oidc/#logout
function oktaId(login) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const h = sha256(`okta|${login}`);
  return `00u${Array.from(h.subarray(0, 17), (b) => alphabet[b % alphabet.length]).join('')}`;
}

function oktaProfile() {
  const accounts = accountsOf(STAFF, oktaId);
  const scopes = ['openid', 'profile', 'email', 'address', 'phone', 'offline_access', 'groups'];
  const known = new Set(scopes);
  return {
    name: 'okta',
    issuerPath: '/oauth2/default',
    mountPath: '/oauth2/default',
    routes: {
      authorization: '/v1/authorize',
      token: '/v1/token',
      userinfo: '/v1/userinfo',
      end_session: '/v1/logout',
      jwks: '/v1/keys',
      revocation: '/v1/revoke',
    },
    scopes,
    claims: {
      openid: ['sub', 'ver'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username', 'locale', 'zoneinfo'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    idTokenHasScopeClaims: true,
    accounts,
    accountClaims(s, use) {
      return {
        sub: accounts.accountId(s.login),
        ...(use === 'id_token' ? { ver: 1 } : {}),
        name: s.name,
        given_name: s.given,
        family_name: s.family,
        preferred_username: `${s.login}@lab.example.test`,
        locale: 'en_US',
        zoneinfo: 'America/Los_Angeles',
        email: `${s.login}@lab.example.test`,
        email_verified: true,
        groups: ['Everyone', ...(s.role ? [s.role] : [])],
      };
    },
    refuseScope(requested) {
      if (requested.every((s) => known.has(s))) return undefined;
      return new errors.InvalidScope(
        'One or more scopes are not configured for the authorization server resource.',
      );
    },
    issParameter: false,
    // offline_access = a refresh token (https://developer.okta.com/docs/guides/refresh-tokens/main/)
    offlineAccessWithoutConsent: true,
    backchannelLogout: false,
    revocation: true,
    logout: { requireHint: true, autoSubmit: () => true, noPrompt: true },
  };
}

const PROFILES = {
  userinfo: userinfoProfile, entra: entraProfile, keycloak: keycloakProfile, okta: oktaProfile,
};
export const PROFILE_NAMES = Object.keys(PROFILES);

export function makeProfile(name, options) {
  const make = PROFILES[name];
  if (!make) return undefined;
  return make(options);
}
