#!/usr/bin/env python3
"""A development-only OpenID Connect provider for local runs and the console's browser tests.

It signs JWT access tokens (RFC 9068, RS256) for the demo users of the three demo sites, through
the authorization code flow with PKCE (S256 required), and publishes its discovery document and
its keys (JWKS), as a real identity provider (Keycloak, Entra ID, …) does in production. Its key
is made afresh at every start and its users are fixed, with one well-known password: it listens
on 127.0.0.1 unless told otherwise and refuses to run unless PASSERELLE_ALLOW_DEV_SECRET=true.

    PASSERELLE_ALLOW_DEV_SECRET=true deploy/local/dev-identity-provider.py --port 8180 \
        --redirect-uri http://127.0.0.1:8085/auth/callback

Browsers and servers may reach it at different addresses, as in docker-compose.yml: browsers at
its issuer (--issuer, e.g. http://127.0.0.1:8180 on the host), the console and the services at
http://identity:8180 inside the compose network. As Keycloak does with a fixed front-end host name
and a dynamic back channel, its tokens and its discovery document always name the issuer, and the
browser's endpoints (sign-in, sign-out) are at the issuer, while the endpoints only servers call
(token, keys) are at the address the discovery document was asked for.

The token carries Keycloak's shape for roles (`realm_access.roles`) and a `site` claim, so the
services read them with PASSERELLE_OIDC_ROLES_CLAIM=realm_access.roles and
PASSERELLE_OIDC_SITE_CLAIM=site. Built on Authlib (installed by deploy/local/install.sh).
"""
import argparse
import hmac
import html
import json
import os
import signal
import sys
import time

# Authlib refuses plain HTTP unless told otherwise; this provider only ever runs on 127.0.0.1.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

from authlib.integrations.flask_oauth2 import AuthorizationServer  # noqa: E402
from authlib.oauth2.rfc6749 import grants  # noqa: E402
from authlib.oauth2.rfc6749.models import AuthorizationCodeMixin, ClientMixin  # noqa: E402
from authlib.oauth2.rfc7636 import CodeChallenge  # noqa: E402
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator  # noqa: E402
from flask import Flask, Response, jsonify, request  # noqa: E402
from joserfc.jwk import RSAKey  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# Every demo user signs in with this password. Development only.
DEMO_PASSWORD = "demo"
AUDIENCE = "passerelle"


def demo_users():
    """The demo's link workers (deploy/demo/link-workers.json), a referrer per site, a coordinator
    (of Ottawa West, where the console's browser test follows a referral)."""
    users = {}
    with open(os.path.join(ROOT, "deploy", "demo", "link-workers.json"), encoding="utf-8") as f:
        for worker in json.load(f):
            username = worker["email"].split("@")[0]
            users[username] = {"name": worker["name"], "roles": ["link-worker"], "site": worker["site"],
                               "locale": worker["languages"][0]}
    users["dr.tremblay"] = {"name": "Dre Isabelle Tremblay", "roles": ["referrer"], "site": "ottawa-west-chc", "locale": "fr"}
    users["dr.okafor"] = {"name": "Dr. Daniel Okafor", "roles": ["referrer"], "site": "ottawa-centretown-chc", "locale": "en"}
    users["inf.gagnon"] = {"name": "Louise Gagnon, inf.", "roles": ["referrer"], "site": "rural-east", "locale": "fr"}
    users["claire.dubois"] = {"name": "Claire Dubois", "roles": ["coordinator"], "site": "ottawa-west-chc", "locale": "fr"}
    return users


class Client(ClientMixin):
    """The console: a client that proves possession with PKCE instead of a secret."""

    def __init__(self, client_id, redirect_uris):
        self.client_id = client_id
        self.redirect_uris = redirect_uris

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        allowed = {"openid", "profile", "passerelle"}
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return False

    def check_endpoint_auth_method(self, method, endpoint):
        return method == "none"

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


class User:
    def __init__(self, username, record):
        self.username = username
        self.record = record

    def get_user_id(self):
        return self.username


class Code(AuthorizationCodeMixin):
    def __init__(self, code, client_id, redirect_uri, scope, username, challenge, method):
        self.code, self.client_id, self.redirect_uri, self.scope = code, client_id, redirect_uri, scope
        self.username, self.code_challenge, self.code_challenge_method = username, challenge, method
        self.expires = time.time() + 60

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return None

    def get_auth_time(self):
        return None


def build_app(issuer, client_id, redirect_uris, minutes):
    users = demo_users()
    codes = {}
    key = RSAKey.generate_key(2048)
    private = key.as_dict(private=True)
    private["kid"] = key.thumbprint()
    private["alg"] = "RS256"
    private["use"] = "sig"
    public = {k: v for k, v in private.items() if k in ("kty", "n", "e", "kid", "alg", "use")}
    clients = {client_id: Client(client_id, redirect_uris)}

    class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

        def save_authorization_code(self, code, req):
            codes[code] = Code(code, req.client.get_client_id(), req.payload.redirect_uri, req.payload.scope,
                               req.user.username, req.payload.data.get("code_challenge"),
                               req.payload.data.get("code_challenge_method"))

        def query_authorization_code(self, code, client):
            found = codes.get(code)
            if found and found.client_id == client.get_client_id() and found.expires > time.time():
                return found
            return None

        def delete_authorization_code(self, authorization_code):
            codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code):
            return User(authorization_code.username, users[authorization_code.username])

    class TokenGenerator(JWTBearerTokenGenerator):
        def get_jwks(self):
            return {"keys": [private]}

        def get_audiences(self, client, user, scope):
            return [AUDIENCE]

        def get_extra_claims(self, client, grant_type, user, scope):
            record = user.record
            claims = {"name": record["name"], "preferred_username": user.username, "locale": record["locale"],
                      "realm_access": {"roles": record["roles"]}}
            if record["site"]:
                claims["site"] = record["site"]
            return claims

    app = Flask("passerelle-dev-identity-provider")
    server = AuthorizationServer(app, query_client=clients.get, save_token=lambda token, req: None)
    server.register_grant(AuthorizationCodeGrant, [CodeChallenge(required=True)])
    server.register_token_generator("default", TokenGenerator(issuer=issuer, expires_generator=lambda client, grant: minutes * 60))

    @app.get("/.well-known/openid-configuration")
    def discovery():
        # The back channel as the caller reached this provider (the issuer when they are one).
        back_channel = request.host_url.rstrip("/")
        return jsonify({
            "issuer": issuer,
            "authorization_endpoint": issuer + "/authorize",
            "token_endpoint": back_channel + "/token",
            "jwks_uri": back_channel + "/jwks.json",
            "end_session_endpoint": issuer + "/logout",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "passerelle"],
        })

    @app.get("/jwks.json")
    def jwks():
        return jsonify({"keys": [public]})

    def login_page(error=None, status=200):
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in request.values.items() if k not in ("username", "password"))
        options = "".join(
            f'<li><code>{html.escape(u)}</code> — {html.escape(r["name"])}, {", ".join(r["roles"])}'
            f'{", " + r["site"] if r["site"] else ""}</li>' for u, r in users.items())
        message = f'<p role="alert" class="error">{html.escape(error)}</p>' if error else ""
        body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Development identity provider — sign in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}}
label{{display:block;margin-top:1rem;font-weight:600}}input{{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box}}
button{{margin-top:1rem;font-size:1rem;padding:.6rem 1.2rem;background:#0b4f8a;color:#fff;border:0;border-radius:4px}}
:focus-visible{{outline:3px solid #b35c00;outline-offset:2px}}.error{{color:#a4000f;font-weight:600}}
.banner{{background:#fff3cd;border:1px solid #8a6d00;padding:.5rem 1rem}}</style></head><body><main>
<h1>Development identity provider</h1>
<p class="banner">For local development only. Every demo user's password is <code>{DEMO_PASSWORD}</code>.</p>
{message}<form method="post" action="/authorize">{fields}
<label for="username">User name</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>
<h2>Demo users</h2><ul>{options}</ul></main></body></html>"""
        return Response(body, status=status, mimetype="text/html")

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize():
        try:
            server.get_consent_grant(end_user=None)
        except Exception as error:  # an invalid request is shown, never redirected to an unchecked URI
            return Response(f"invalid authorization request: {html.escape(str(error))}\n", status=400, mimetype="text/plain")
        # Authlib checks the verifier only when the code is exchanged; a request without an S256
        # challenge (or with `plain`, which gives the verifier away) is refused here, before sign-in.
        if not request.values.get("code_challenge") or request.values.get("code_challenge_method") != "S256":
            return Response("invalid authorization request: PKCE with S256 is required\n", status=400, mimetype="text/plain")
        if request.method == "GET":
            return login_page()
        username = request.form.get("username", "").strip()
        if username not in users or not hmac.compare_digest(request.form.get("password", ""), DEMO_PASSWORD):
            return login_page("Unknown user name or wrong password.", status=401)
        return server.create_authorization_response(grant_user=User(username, users[username]))

    @app.post("/token")
    def issue_token():
        return server.create_token_response()

    @app.get("/logout")
    def logout():
        target = request.args.get("post_logout_redirect_uri", "")
        allowed = {uri.rsplit("/auth/", 1)[0] + "/" for uri in redirect_uris}
        if target in allowed:
            return Response(status=302, headers={"Location": target})
        return Response("signed out\n", mimetype="text/plain")

    return app


def main(argv=None):
    parser = argparse.ArgumentParser(description="Development-only OpenID Connect provider (RS256 JWT access tokens).")
    parser.add_argument("--port", type=int, default=8180)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--issuer", help="where browsers reach it, and its tokens' iss; default http://127.0.0.1:PORT")
    parser.add_argument("--client-id", default="passerelle-console")
    parser.add_argument("--redirect-uri", action="append", default=[],
                        help="a redirect URI the client may use (repeat); default http://127.0.0.1:8085/auth/callback")
    parser.add_argument("--minutes", type=int, default=60, help="access token lifetime")
    arguments = parser.parse_args(argv)
    if os.environ.get("PASSERELLE_ALLOW_DEV_SECRET") != "true":
        parser.error("development only: set PASSERELLE_ALLOW_DEV_SECRET=true")
    issuer = (arguments.issuer or f"http://127.0.0.1:{arguments.port}").rstrip("/")
    if not issuer.startswith(("http://", "https://")):
        parser.error(f"--issuer must be an http(s) URL, not {issuer!r}")
    app = build_app(issuer, arguments.client_id, arguments.redirect_uri or ["http://127.0.0.1:8085/auth/callback"], arguments.minutes)
    print(f"development identity provider at {issuer}, listening on {arguments.host}:{arguments.port}", file=sys.stderr, flush=True)
    # As a container's first process nothing ends it on SIGTERM unless it says so.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(0))
    app.run(host=arguments.host, port=arguments.port, threaded=True)


if __name__ == "__main__":
    main()
