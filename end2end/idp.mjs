// Test-only OpenID Provider for O-Neko's integration and end-to-end tests.
//
// Environment:
//   IDP_PORT           port on 127.0.0.1 (default 0 = any free port)
//   IDP_ISSUER_HOST    host name put in the issuer instead of 127.0.0.1
//                      (lets a test make the issuer differ from the URL used)
//   IDP_CLIENT_ID      default "o-neko"
//   IDP_CLIENT_SECRET  default "o-neko-secret"
//   IDP_REDIRECT_URIS  comma separated, required
//   IDP_POST_LOGOUT_REDIRECT_URIS  comma separated, optional
//   IDP_CODE_TTL       authorization code lifetime in seconds (default 60)
//   IDP_CLAIMS_IN_USERINFO=1  profile, email and groups only from /userinfo
//
// Prints one line "issuer <url>" to stdout once listening; runs until
// SIGTERM/SIGINT. Login uses oidc-provider's dev interactions: any login
// name with any password signs in as that name.
//
// Test control endpoints:
//   PUT /test/accounts/<id> {"groups": [...]} -> 204
//     overrides an account's groups for the following logins;
//   POST /test/rotate-keys -> 204
//     replaces the signing key by a new one (new kid; the old key is no longer
//     published). Sessions and codes survive: oidc-provider's memory adapter
//     keeps them per process, not per provider instance.

import crypto from 'node:crypto';
import http from 'node:http';

// Keep stdout for the issuer line and drop oidc-provider's expected noise
// (Node 20 runtime, dev adapter/interactions, "SHOULD change" defaults);
// anything else still reaches stderr. Set up before oidc-provider loads.
const quiet = /Unsupported runtime|development-only|you SHOULD change/;
console.info = console.warn = (msg, ...rest) => {
  if (!quiet.test(String(msg))) console.error(msg, ...rest);
};
const { default: Provider } = await import('oidc-provider');

const list = (value) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);

const redirectUris = list(process.env.IDP_REDIRECT_URIS);
if (redirectUris.length === 0) {
  console.error('IDP_REDIRECT_URIS is required');
  process.exit(2);
}
const codeTtl = Number(process.env.IDP_CODE_TTL ?? 60);

const groups = new Map(Object.entries({
  alice: ['oneko-admins'],
  bob: ['developers'],
  carol: ['staff'],
  mallory: ['marketing'],
}));

// The issuer must contain the port, so listen before building the provider;
// clients only connect after the issuer line, by which time handle is set.
let handle;
const server = http.createServer((req, res) => {
  const match = /^\/test\/accounts\/([^/?]+)$/.exec(req.url);
  if (req.method === 'PUT' && match) {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      try {
        const parsed = JSON.parse(body);
        if (!Array.isArray(parsed.groups)) throw new Error('groups must be an array');
        groups.set(decodeURIComponent(match[1]), parsed.groups.map(String));
        res.writeHead(204).end();
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`${err.message}\n`);
      }
    });
    return;
  }
  if (req.method === 'POST' && req.url === '/test/rotate-keys') {
    handle = build(signingKey(`test-${++rotations}`)).callback();
    res.writeHead(204).end();
    return;
  }
  handle(req, res);
});
await new Promise((resolve) => server.listen(Number(process.env.IDP_PORT ?? 0), '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://${process.env.IDP_ISSUER_HOST || '127.0.0.1'}:${port}`;

// A fresh signing key per process, so no dev keystore is used.
const signingKey = (kid) => {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
};
let rotations = 0;
// Cookie keys stay across rotations, so a login in progress survives one.
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

const allScopes = 'openid profile email groups';
const allClaims = ['sub', 'name', 'preferred_username', 'email', 'groups'];

const build = (jwk) => {
  const provider = new Provider(issuer, {
    clients: [{
      client_id: process.env.IDP_CLIENT_ID || 'o-neko',
      client_secret: process.env.IDP_CLIENT_SECRET || 'o-neko-secret',
      redirect_uris: redirectUris,
      post_logout_redirect_uris: list(process.env.IDP_POST_LOGOUT_REDIRECT_URIS),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    // oidc-provider accepts basic and post interchangeably for such a client.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    jwks: { keys: [jwk] },
    cookies: { keys: cookieKeys },
    // oidc-provider 9 only requires PKCE for public clients by default.
    pkce: { required: () => true },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
      groups: ['groups'],
    },
    // Put all granted claims into the ID token, not only into /userinfo
    // (IDP_CLAIMS_IN_USERINFO=1: only there, as oidc-provider does by default).
    conformIdTokenClaims: process.env.IDP_CLAIMS_IN_USERINFO === '1',
    features: { devInteractions: { enabled: true } },
    findAccount: (ctx, id) => ({
      accountId: id,
      claims: () => ({
        sub: id,
        preferred_username: id,
        name: id.charAt(0).toUpperCase() + id.slice(1),
        email: `${id}@example.test`,
        groups: groups.get(id) ?? [],
      }),
    }),
    // First-party client: grant everything up front so no consent page appears
    // (the documented "skip consent" pattern). A remembered grant may be gone,
    // e.g. revoked after an authorization code was replayed; grant anew then.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      const existing = grantId && await ctx.oidc.provider.Grant.find(grantId);
      if (existing) return existing;
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(allScopes);
      grant.addOIDCClaims(allClaims);
      await grant.save();
      return grant;
    },
    ttl: { AuthorizationCode: codeTtl },
  });

  // The dev login page @imports a Google font; drop it so browsers under test
  // make no outside request (it could stall the page "load" event offline).
  provider.use(async (ctx, next) => {
    await next();
    if (typeof ctx.body === 'string') ctx.body = ctx.body.replace(/@import url\(https:[^)]*\);/, '');
  });

  return provider;
};

handle = build(signingKey('test')).callback();

console.log(`issuer ${issuer}`);

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
