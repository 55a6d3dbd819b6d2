#!/usr/bin/env python3
"""Signs a bearer token for local runs, demos, tests and benchmarks: HS256 over the claims the
services read (sub, roles, site or sites, iat, exp, iss, aud), with the same PASSERELLE_JWT_* environment
the services use. No service executable mints tokens; in production an identity provider signs
them (ES256, its private key kept outside the services), so this tool refuses to run unless
PASSERELLE_ALLOW_DEV_SECRET=true or --i-know-this-is-development is given.

    PASSERELLE_ALLOW_DEV_SECRET=true deploy/local/dev-token.py --role coordinator --subject me --site ottawa-west-chc
    PASSERELLE_ALLOW_DEV_SECRET=true deploy/local/dev-token.py --role network-coordinator --subject me

Every role but network-coordinator is bounded by the sites the token names: one --site gives the
`site` claim, several give a `sites` array. A network-wide role names no site (the services refuse
such a token), so --site with --role network-coordinator is refused here too.

Environment:
  PASSERELLE_JWT_HS256_SECRET (or PASSERELLE_JWT_HS256_SECRET_FILE)
                              the key; the services' development secret when unset
  PASSERELLE_JWT_ISSUER, PASSERELLE_JWT_AUDIENCE
                              the iss and aud claims, when set
Standard library only.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time

# The services' well-known development secret (AuthSettings.developmentSecret), which they accept
# only with PASSERELLE_ALLOW_DEV_SECRET=true.
DEVELOPMENT_SECRET = "passerelle-local-development-secret-change-me"
ROLES = ("referrer", "link-worker", "coordinator", "network-coordinator", "analyst", "service", "ehr-integration")
NETWORK_WIDE = ("network-coordinator",)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def secret_from(environ):
    path = environ.get("PASSERELLE_JWT_HS256_SECRET_FILE")
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    return environ.get("PASSERELLE_JWT_HS256_SECRET") or DEVELOPMENT_SECRET


def sign(claims, secret):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def token(subject, roles, site=None, minutes=60, environ=None, now=None, sites=None):
    """The signed token, for Python callers (tests, the trace) that import this module. `site`
    gives the one-site claim, `sites` (a list, possibly empty) the several-site one."""
    environ = os.environ if environ is None else environ
    issued = int(time.time() if now is None else now)
    claims = {"sub": subject, "roles": list(roles), "iat": issued, "exp": issued + int(minutes * 60)}
    if site:
        claims["site"] = site
    if sites is not None:
        claims["sites"] = list(sites)
    if environ.get("PASSERELLE_JWT_ISSUER"):
        claims["iss"] = environ["PASSERELLE_JWT_ISSUER"]
    if environ.get("PASSERELLE_JWT_AUDIENCE"):
        claims["aud"] = [environ["PASSERELLE_JWT_AUDIENCE"]]
    return sign(claims, secret_from(environ))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Print an HS256 bearer token for local development.")
    parser.add_argument("--role", action="append", default=[], choices=ROLES,
                        help="a role; repeat for several")
    parser.add_argument("--subject", required=True, help="the sub claim (user id)")
    parser.add_argument("--site", action="append", default=[],
                        help="a site the caller works at (or sends for); repeat for several")
    parser.add_argument("--minutes", type=int, default=60,
                        help="validity (default 60; the services refuse more than PASSERELLE_JWT_MAX_LIFETIME_MINUTES)")
    parser.add_argument("--i-know-this-is-development", dest="development", action="store_true",
                        help="run although PASSERELLE_ALLOW_DEV_SECRET is not true")
    arguments = parser.parse_args(argv)
    if not arguments.development and os.environ.get("PASSERELLE_ALLOW_DEV_SECRET") != "true":
        parser.error("development only: set PASSERELLE_ALLOW_DEV_SECRET=true or pass --i-know-this-is-development "
                     "(production tokens come from the identity provider)")
    if not arguments.role:
        parser.error("give at least one --role")
    if arguments.minutes < 1:
        parser.error("--minutes must be at least 1")
    if arguments.site and any(role in NETWORK_WIDE for role in arguments.role):
        parser.error("a network-wide role names no site: drop --site")
    site = arguments.site[0] if len(arguments.site) == 1 else None
    sites = arguments.site if len(arguments.site) > 1 else None
    try:
        print(token(arguments.subject, arguments.role, site, arguments.minutes, sites=sites))
    except OSError as error:
        print(f"dev-token.py: cannot read PASSERELLE_JWT_HS256_SECRET_FILE: {error.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
