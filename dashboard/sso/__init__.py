"""Per-tenant single sign-on: SAML 2.0 and OIDC connections, verified domains, JIT
provisioning and SSO enforcement. routes.py (HTTP) + service.py (rules) + protocol modules."""
