#!/usr/bin/env python3
"""Checks of the lab's LemonLDAP::NG OpenID Provider, from the outside, as an RP would see it.
Standard library plus the openssl command (RS256 signatures are verified against the JWKS).
Reads LLNG_* from the environment (lab.env); run it inside the lab namespace:

    lab/lab.sh run -- python3 lab/llng/oidc_check.py selftest      # PASS:/FAIL: lines
    lab/lab.sh run -- python3 lab/llng/oidc_check.py signin llng-senior   # JSON: tokens, claims, userinfo
    lab/lab.sh run -- python3 lab/llng/oidc_check.py jwt TOKEN       # header + claims, signature checked

`selftest` signs in (authorization code + PKCE S256, the login form, client_secret_basic),
verifies the ID token, reads userinfo, checks the AD groups, and logs out with id_token_hint.
"""
import base64
import hashlib
import http.cookiejar
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

ENV = os.environ
ISSUER = ENV.get("LLNG_ISSUER", "")
CLIENT_ID = ENV.get("LLNG_CLIENT_ID", "trustdesk")
CLIENT_SECRET = ENV.get("LLNG_CLIENT_SECRET", "")
REDIRECTS = [u for u in ENV.get("LLNG_REDIRECT_URIS", "").split(",") if u]
POST_LOGOUTS = [u for u in ENV.get("LLNG_POST_LOGOUT_URIS", "").split(",") if u]
PASSWORD = ENV.get("LLNG_USER_PW", "")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie jar and no automatic redirects: every hop is looked at."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())

    def request(self, url, data=None, headers=None):
        body = urllib.parse.urlencode(data).encode() if isinstance(data, dict) else data
        req = urllib.request.Request(url, data=body, headers=headers or {})
        try:
            with self.opener.open(req, timeout=20) as r:
                return r.status, dict(r.headers), r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


def get_json(url, headers=None):
    status, _, body = Browser().request(url, headers=headers)
    if status != 200:
        raise RuntimeError(f"GET {url}: HTTP {status}: {body[:200]}")
    return json.loads(body)


def discovery():
    return get_json(ISSUER + "/.well-known/openid-configuration")


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def der_int(i):
    b = i.to_bytes(i.bit_length() // 8 + 1, "big")
    return der(0x02, b)


def jwk_to_pem(jwk):
    n = int.from_bytes(unb64url(jwk["n"]), "big")
    e = int.from_bytes(unb64url(jwk["e"]), "big")
    rsa_key = der(0x30, der_int(n) + der_int(e))
    alg = der(0x30, der(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
    spki = der(0x30, alg + der(0x03, b"\x00" + rsa_key))
    b64 = base64.encodebytes(spki).decode().replace("\n", "")
    lines = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN PUBLIC KEY-----\n{lines}\n-----END PUBLIC KEY-----\n"


def verify_jwt(token, jwks):
    """(header, claims) if the RS256 signature checks out against a JWKS key with the same kid."""
    h64, p64, s64 = token.split(".")
    header, claims = json.loads(unb64url(h64)), json.loads(unb64url(p64))
    if header.get("alg") != "RS256":
        raise ValueError(f"alg {header.get('alg')}")
    keys = [k for k in jwks["keys"] if k.get("kid") == header.get("kid")]
    if not keys:
        raise ValueError(f"kid {header.get('kid')} not in JWKS ({[k.get('kid') for k in jwks['keys']]})")
    with tempfile.TemporaryDirectory() as d:
        for name, data in (("k.pem", jwk_to_pem(keys[0]).encode()), ("sig", unb64url(s64)),
                           ("data", f"{h64}.{p64}".encode())):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", os.path.join(d, "k.pem"),
                            "-signature", os.path.join(d, "sig"), os.path.join(d, "data")],
                           capture_output=True, text=True)
    if r.returncode != 0:
        raise ValueError("bad signature: " + (r.stdout + r.stderr).strip())
    return header, claims


def form_fields(html):
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = value.group(1) if value else ""
    return fields


def signin(user, password=None, redirect_uri=None, scope="openid profile email groups", browser=None,
           send_verifier=None):
    """The whole code flow; returns a dict (raises on protocol errors, not on a refused login)."""
    disc = discovery()
    b = browser or Browser()
    redirect_uri = redirect_uri or REDIRECTS[0]
    verifier = b64url(secrets.token_bytes(32))
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    state, nonce = secrets.token_hex(8), secrets.token_hex(8)
    authz = disc["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect_uri, "scope": scope,
        "state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"})
    status, _, html = b.request(authz)
    if status != 200 or 'name="password"' not in html:
        raise RuntimeError(f"authorize: expected the login form, got HTTP {status}")
    fields = form_fields(html)
    fields.update({"user": user, "password": PASSWORD if password is None else password})
    status, headers, html = b.request(authz, data=fields)
    loc = headers.get("Location", "")
    if status != 302 or not loc.startswith(redirect_uri):
        return {"signed_in": False, "status": status,
                "message": " ".join(re.findall(r'<div class="message[^"]*"[^>]*>\s*<span[^>]*trmsg="(\d+)"', html))}
    q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
    if q.get("state") != [state]:
        raise RuntimeError(f"callback state mismatch: {loc}")
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    # the token endpoint is back-channel: no browser cookies (LL::NG refuses a signed-in caller)
    status, _, body = Browser().request(disc["token_endpoint"], data={
        "grant_type": "authorization_code", "code": q["code"][0], "redirect_uri": redirect_uri,
        "code_verifier": verifier if send_verifier is None else send_verifier},
        headers={"Authorization": "Basic " + basic})
    if status != 200:
        raise RuntimeError(f"token endpoint: HTTP {status}: {body[:300]}")
    tokens = json.loads(body)
    jwks = get_json(disc["jwks_uri"])
    header, claims = verify_jwt(tokens["id_token"], jwks)
    userinfo = get_json(disc["userinfo_endpoint"], headers={"Authorization": "Bearer " + tokens["access_token"]})
    return {"signed_in": True, "nonce_sent": nonce, "tokens": tokens, "id_token_header": header,
            "id_token_claims": claims, "userinfo": userinfo, "browser": b}


def selftest():
    results = []

    def check(ok, what):
        results.append(bool(ok))
        print(("PASS: " if ok else "FAIL: ") + what, flush=True)

    disc = discovery()
    check(disc.get("issuer") == ISSUER and disc.get("end_session_endpoint") and "S256" in disc.get(
        "code_challenge_methods_supported", []), f"LL::NG discovery at {ISSUER} (issuer, end_session_endpoint, PKCE S256)")
    jwks = get_json(disc["jwks_uri"])
    check(len(jwks.get("keys", [])) == 1 and jwks["keys"][0].get("kid"), "LL::NG JWKS serves one RSA key with a kid")

    r = signin(ENV.get("LLNG_SENIOR_USER", "llng-senior"))
    c, ui = r.get("id_token_claims", {}), r.get("userinfo", {})
    check(r["signed_in"] and c.get("iss") == ISSUER and CLIENT_ID in c.get("aud", []) and c.get("nonce") == r["nonce_sent"]
          and r["id_token_header"].get("kid") == jwks["keys"][0]["kid"],
          "llng-senior signs in with the AD password (code + PKCE, client_secret_basic); ID token RS256-verified, iss/aud/nonce")
    check("Helpdesk-Senior" in ui.get("groups", []) and "LLNG-Senior-Staff" in ui.get("groups", []) and "groups" not in c,
          f"userinfo groups (scope groups) = AD groups incl. nested Helpdesk-Senior: {ui.get('groups')}; not in the ID token")
    a = signin(ENV.get("LLNG_AUDITOR_USER", "llng-auditor"))
    check(a["signed_in"] and a["userinfo"].get("groups") == ["Security-Auditors"],
          f"llng-auditor: groups {a.get('userinfo', {}).get('groups')}")
    n = signin(ENV.get("LLNG_NOBODY_USER", "llng-nobody"))
    check(n["signed_in"] and n["userinfo"].get("groups") == ["LLNG-Canteen"],
          f"llng-nobody: groups {n.get('userinfo', {}).get('groups')} (nothing trustdesk knows)")
    bad = signin(ENV.get("LLNG_SENIOR_USER", "llng-senior"), password="wrong-" + secrets.token_hex(4))
    check(not bad["signed_in"], "a wrong AD password is refused (login form again, no code)")
    if ENV.get("LLNG_REQUIRE_PKCE") == "1":
        try:
            signin(ENV.get("LLNG_AUDITOR_USER", "llng-auditor"), send_verifier=b64url(secrets.token_bytes(32)))
            check(False, "a wrong PKCE code_verifier must be refused at the token endpoint")
        except RuntimeError as e:
            check("invalid_grant" in str(e), f"a wrong PKCE code_verifier is refused ({e})")

    # RP-initiated logout (LL::NG 2.16 has no back-channel logout: TODO #1194)
    b = r["browser"]
    post_logout = POST_LOGOUTS[0]
    status, headers, _ = b.request(disc["end_session_endpoint"] + "?" + urllib.parse.urlencode({
        "id_token_hint": r["tokens"]["id_token"], "post_logout_redirect_uri": post_logout, "state": "bye"}))
    check(status == 302 and headers.get("Location") == post_logout + "?state=bye",
          f"RP-initiated logout (id_token_hint) redirects to {post_logout}?state=bye (got {status} {headers.get('Location')})")
    status, _, html = b.request(disc["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECTS[0], "scope": "openid"}))
    check(status == 200 and 'name="password"' in html, "after logout the SSO session is gone (login form again)")
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return all(results)


def main():
    if not ISSUER:
        sys.exit("LLNG_ISSUER is not set (source lab.env, or use lab/lab.sh run --)")
    cmd = sys.argv[1] if len(sys.argv) > 1 else "selftest"
    if cmd == "selftest":
        sys.exit(0 if selftest() else 1)
    if cmd == "signin" and len(sys.argv) >= 3:
        r = signin(sys.argv[2], redirect_uri=sys.argv[3] if len(sys.argv) > 3 else None)
        r.pop("browser", None)
        print(json.dumps(r, indent=2, sort_keys=True))
        sys.exit(0 if r["signed_in"] else 1)
    if cmd == "jwt" and len(sys.argv) == 3:
        header, claims = verify_jwt(sys.argv[2], get_json(discovery()["jwks_uri"]))
        print(json.dumps({"header": header, "claims": claims}, indent=2, sort_keys=True))
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
