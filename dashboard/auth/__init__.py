"""Sign-in, browser sessions, the org switcher (and later SAML/OIDC)."""
