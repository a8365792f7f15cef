//! Single sign-on with OpenID Connect: the authorization code flow with PKCE and a nonce
//! (`openidconnect`), two routes:
//!
//! - `GET /auth/oidc/login` keeps a fresh state, nonce and PKCE verifier in the session and sends
//!   the browser to the provider;
//! - `GET /auth/oidc/callback` checks the state, exchanges the code (with the verifier), verifies
//!   the ID token (signature, issuer, audience, expiry, nonce), maps the groups claim to a role and
//!   signs the user in, creating them at their first sign-in ([`SqlUsers::sign_in_external`]).
//!
//! Any failure lands on the login page with a message (kept once in the session), never an
//! error page. The provider's metadata and keys are discovered lazily and kept for a few
//! minutes, so O-Neko starts (and keeps password login) while the provider is down.

use crate::{
    auth::claims::{RoleMapping, display_name, email, groups_of, role_for, username_from},
    config::Config,
    users::{ExternalIdentity, SqlUsers},
};
use app::{
    model::Role,
    ssr::{SESSION_LOGIN_ERROR, SESSION_USER, SessionUser},
};
use axum::{
    Router,
    extract::{Query, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
    core::{
        CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreGenderClaim, CoreProviderMetadata,
    },
};
use serde::{Deserialize, Serialize};
use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};
use tower_sessions::Session;

/// Session key of a sign-in in progress.
const PENDING: &str = "oidc_pending";
/// How long a user may stay at the provider before the sign-in must start again.
const PENDING_SECONDS: i64 = 600;
/// How long discovered metadata (and the signing keys in it) is reused.
const METADATA_TTL: Duration = Duration::from_secs(300);
/// How long a failed discovery is answered from memory: while the provider is down, each click
/// on "single sign-on" says so at once instead of waiting for the HTTP timeouts again.
const FAILURE_TTL: Duration = Duration::from_secs(10);
/// Keys younger than this are not fetched again for an ID token signed with an unknown key (a
/// rotation at the provider is picked up at once, but not fetched for every sign-in).
const KEYS_REFRESH_AFTER: Duration = Duration::from_secs(5);
/// The callback's path; the provider must know `<public URL>` + this as a redirect URI.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";

/// Single sign-on settings, from the configuration.
pub struct OidcSettings {
    pub issuer: IssuerUrl,
    pub client_id: ClientId,
    pub client_secret: Option<ClientSecret>,
    pub scopes: Vec<String>,
    pub role_claim: String,
    pub roles: Vec<RoleMapping>,
    pub default_role: Option<Role>,
    /// `--public-url`, for the redirect URI; without it, each request's Host header (over http).
    pub public_url: Option<String>,
}

impl OidcSettings {
    /// `None` when single sign-on is not configured; an error for a half or wrong configuration.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let Some(issuer) = config.oidc_issuer.as_deref().filter(|s| !s.trim().is_empty()) else {
            if config.password_login == crate::config::PasswordLogin::BreakGlass {
                anyhow::bail!(
                    "--password-login break-glass needs single sign-on (--oidc-issuer): nobody else could log in"
                );
            }
            return Ok(None);
        };
        let issuer = IssuerUrl::new(issuer.trim().to_owned())
            .map_err(|e| anyhow::anyhow!("--oidc-issuer {issuer}: {e}"))?;
        let client_id = config
            .oidc_client_id
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| anyhow::anyhow!("--oidc-issuer needs --oidc-client-id"))?;
        if config.oidc_roles.is_empty() && config.oidc_default_role.is_none() {
            anyhow::bail!(
                "single sign-on needs --oidc-roles or --oidc-default-role, or nobody could sign in"
            );
        }
        if config.public_url.is_none() {
            tracing::warn!(
                "single sign-on without --public-url: the redirect URI is built from each request's Host over http"
            );
        }
        Ok(Some(OidcSettings {
            issuer,
            client_id: ClientId::new(client_id.trim().to_owned()),
            client_secret: config
                .oidc_client_secret
                .clone()
                .filter(|s| !s.is_empty())
                .map(ClientSecret::new),
            scopes: config
                .oidc_scopes
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            role_claim: config.oidc_role_claim.clone(),
            roles: config.oidc_roles.clone(),
            default_role: config.oidc_default_role,
            public_url: config.public_url.clone(),
        }))
    }
}

/// Why a sign-in failed; the login page shows it.
#[derive(Debug)]
pub enum SignInError {
    /// Discovery, the key set or the token endpoint failed: O-Neko's or the provider's set-up.
    Provider(String),
    /// No sign-in in progress in this session, or another one's state.
    State,
    /// The sign-in, or its code, is too old or was used already.
    Expired(String),
    /// The provider answered the authorization request with an error (e.g. the user declined).
    Refused(String),
    /// The ID token did not verify.
    Token(String),
    /// The user cannot have an account here (no role, a name taken by a local user).
    Account(String),
}

impl fmt::Display for SignInError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignInError::Provider(e) => write!(f, "the identity provider could not be used: {e}"),
            SignInError::State => f.write_str(
                "this sign-in was not started in this browser session, or was finished already (the state does not match); start again",
            ),
            SignInError::Expired(e) => write!(f, "the sign-in took too long or was used already ({e}); start again"),
            SignInError::Refused(e) => write!(f, "the identity provider refused: {e}"),
            SignInError::Token(e) => write!(f, "the identity provider's ID token is not valid: {e}"),
            SignInError::Account(e) => f.write_str(e),
        }
    }
}

impl SignInError {
    /// The kind, for logs and metrics.
    fn kind(&self) -> &'static str {
        match self {
            SignInError::Provider(_) => "provider",
            SignInError::State => "state",
            SignInError::Expired(_) => "expired",
            SignInError::Refused(_) => "refused",
            SignInError::Token(_) => "token",
            SignInError::Account(_) => "account",
        }
    }
}

/// A sign-in in progress, kept in the session between the two routes.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    redirect_uri: String,
    started: i64,
}

/// The callback's query.
#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// RFC 9207: who answered; when given, it must be our provider (against mix-up attacks).
    iss: Option<String>,
}

/// Claims beyond the standard ones (the groups claim's name is configurable).
#[derive(Clone, Debug, Deserialize, Serialize)]
struct OtherClaims(serde_json::Map<String, serde_json::Value>);
impl openidconnect::AdditionalClaims for OtherClaims {}

/// The OpenID Connect relying party.
pub struct Oidc {
    settings: OidcSettings,
    http: reqwest::Client,
    metadata: tokio::sync::Mutex<Option<(Discovered, Instant)>>,
    users: Arc<SqlUsers>,
}

/// The last discovery's outcome.
enum Discovered {
    Found(Box<CoreProviderMetadata>),
    Failed(String),
}

/// The `error` and its sources, in one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// One HTTP exchange for `openidconnect`, over the server's reqwest (its TLS set-up, no redirects
/// followed: a provider redirecting its token endpoint elsewhere is an error, not an SSRF).
async fn send(
    http: reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let response = http.execute(reqwest::Request::try_from(request)?).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    let mut out = openidconnect::HttpResponse::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

impl Oidc {
    /// A relying party for `settings`.
    pub fn new(settings: OidcSettings, users: Arc<SqlUsers>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("o-neko/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Oidc {
            settings,
            http,
            metadata: tokio::sync::Mutex::new(None),
            users,
        })
    }

    /// The provider's metadata and keys, discovered again when older than `max_age` (so rotated
    /// keys are picked up). A failure is remembered for [`FAILURE_TTL`].
    async fn metadata(&self, max_age: Duration) -> Result<CoreProviderMetadata, SignInError> {
        let mut cached = self.metadata.lock().await;
        match cached.as_ref() {
            Some((Discovered::Found(m), at)) if at.elapsed() < max_age => return Ok(*m.clone()),
            Some((Discovered::Failed(e), at)) if at.elapsed() < FAILURE_TTL => {
                return Err(SignInError::Provider(e.clone()));
            }
            _ => {}
        }
        let http = |r| send(self.http.clone(), r);
        let (found, result) =
            match CoreProviderMetadata::discover_async(self.settings.issuer.clone(), &http).await {
                Ok(m) => (Discovered::Found(Box::new(m.clone())), Ok(m)),
                Err(e) => {
                    let why = format!("discovery at {}: {}", self.settings.issuer.as_str(), chain(&e));
                    tracing::warn!(error = %why, "single sign-on: the provider cannot be used");
                    (Discovered::Failed(why.clone()), Err(SignInError::Provider(why)))
                }
            };
        *cached = Some((found, Instant::now()));
        result
    }

    /// Where the provider sends the browser back to.
    fn redirect_uri(&self, headers: &HeaderMap) -> Result<RedirectUrl, SignInError> {
        let base = match &self.settings.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .ok_or_else(|| {
                        SignInError::Provider("the request has no Host header; set --public-url".into())
                    })?;
                format!("http://{host}")
            }
        };
        RedirectUrl::new(format!("{base}{CALLBACK_PATH}"))
            .map_err(|e| SignInError::Provider(format!("redirect URI: {e}")))
    }

    /// Starts a sign-in: the provider's authorization URL, and what the callback must check.
    async fn begin(&self, headers: &HeaderMap) -> Result<(String, Pending), SignInError> {
        let redirect = self.redirect_uri(headers)?;
        let client = CoreClient::from_provider_metadata(
            self.metadata(METADATA_TTL).await?,
            self.settings.client_id.clone(),
            self.settings.client_secret.clone(),
        )
        .set_redirect_uri(redirect.clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            redirect_uri: redirect.as_str().to_owned(),
            started: chrono::Utc::now().timestamp(),
        };
        Ok((url.to_string(), pending))
    }

    /// Finishes a sign-in: checks the answer, exchanges the code, verifies the ID token and maps
    /// the user; the signed-in user and their session epoch.
    async fn finish(
        &self,
        pending: Option<Pending>,
        answer: Callback,
    ) -> Result<(app::model::CurrentUser, i64), SignInError> {
        let (code, pending) = check_answer(
            pending,
            answer,
            self.settings.issuer.as_str(),
            chrono::Utc::now().timestamp(),
        )?;
        let person = self.identify(code, pending).await?;
        let groups = groups_of(person.groups.as_ref());
        let username = username_from(&[
            person.preferred_username.as_deref(),
            person.email.as_deref().and_then(|e| e.split('@').next()),
            Some(person.subject.as_str()),
        ])
        .ok_or_else(|| SignInError::Account("the identity provider gives this user no usable name".into()))?;
        let subject = format!("{}#{}", self.settings.issuer.as_str(), person.subject);
        let Some(role) = role_for(&groups, &self.settings.roles, self.settings.default_role) else {
            let listed = if groups.is_empty() {
                format!("no '{}' claim", self.settings.role_claim)
            } else {
                format!("groups: {}", groups.join(", "))
            };
            // Someone who had a role and lost it keeps nothing: not their sessions, not their tokens.
            self.users
                .remove_external_access(&subject, &listed)
                .await
                .map_err(|e| SignInError::Account(e.to_string()))?;
            return Err(SignInError::Account(format!(
                "{username} has no O-Neko role ({listed}); an O-Neko administrator must map one of the groups to a role"
            )));
        };
        let who = ExternalIdentity {
            subject,
            username,
            display_name: display_name(person.name),
            email: person.email.and_then(email),
            role,
            groups,
        };
        self.users
            .sign_in_external(who)
            .await
            .map_err(|e| SignInError::Account(e.to_string()))
    }

    /// Exchanges the code (with the PKCE verifier), verifies the ID token and reads who it names;
    /// claims missing from the ID token (the groups, often the profile) come from userinfo.
    async fn identify(&self, code: String, pending: Pending) -> Result<Person, SignInError> {
        let redirect = RedirectUrl::new(pending.redirect_uri)
            .map_err(|e| SignInError::Provider(format!("redirect URI: {e}")))?;
        let client_with = |metadata| {
            CoreClient::from_provider_metadata(
                metadata,
                self.settings.client_id.clone(),
                self.settings.client_secret.clone(),
            )
            .set_redirect_uri(redirect.clone())
        };
        let mut client = client_with(self.metadata(METADATA_TTL).await?);
        let http = |r| send(self.http.clone(), r);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| SignInError::Provider(chain(&e)))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r)
                    if *r.error() == CoreErrorResponseType::InvalidGrant =>
                {
                    let detail = r
                        .error_description()
                        .cloned()
                        .unwrap_or_else(|| "invalid_grant".into());
                    SignInError::Expired(format!("the provider says: {detail}"))
                }
                other => SignInError::Provider(format!("token request: {}", chain(&other))),
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| SignInError::Token("the token response holds no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce);
        // (The verifier borrows the client, so it must be gone before the client is replaced.)
        let first = id_token.claims(&client.id_token_verifier(), &nonce);
        let claims = match first {
            // Signed with a key not among those known: the provider may have rotated its keys
            // since they were read, so they are read again (unless just read) and the token is
            // checked once more.
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                client = client_with(self.metadata(KEYS_REFRESH_AFTER).await?);
                id_token.claims(&client.id_token_verifier(), &nonce)
            }
            verified => verified,
        }
        .map_err(|e| SignInError::Token(chain(&e)))?;
        let verifier = client.id_token_verifier();
        // The access token (used for userinfo below) must be the one the ID token was issued with.
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|e| SignInError::Token(chain(&e)))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| SignInError::Token(chain(&e)))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
                .map_err(|e| SignInError::Token(chain(&e)))?;
            if actual != *expected {
                return Err(SignInError::Token(
                    "the access token does not match the ID token".into(),
                ));
            }
        }
        let subject = claims.subject().clone();
        let mut person = Person {
            subject: subject.as_str().to_owned(),
            groups: verified_payload(&id_token.to_string())?.remove(&self.settings.role_claim),
            preferred_username: claims.preferred_username().map(|u| u.as_str().to_owned()),
            email: claims.email().map(|e| e.as_str().to_owned()),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
        };
        if person.groups.is_none()
            && let Ok(request) = client.user_info(tokens.access_token().clone(), Some(subject))
        {
            let info = request
                .request_async::<OtherClaims, _, CoreGenderClaim>(&http)
                .await
                .map_err(|e| SignInError::Provider(format!("userinfo: {}", chain(&e))))?;
            person.groups = info.additional_claims().0.get(&self.settings.role_claim).cloned();
            person.preferred_username = person
                .preferred_username
                .or_else(|| info.preferred_username().map(|u| u.as_str().to_owned()));
            person.email = person
                .email
                .or_else(|| info.email().map(|e| e.as_str().to_owned()));
            person.name = person.name.or_else(|| {
                info.name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.as_str().to_owned())
            });
        }
        Ok(person)
    }
}

/// Who the provider says signed in.
struct Person {
    subject: String,
    /// The role claim's value, as given.
    groups: Option<serde_json::Value>,
    preferred_username: Option<String>,
    email: Option<String>,
    name: Option<String>,
}

/// Checks the provider's answer against the sign-in this session started (`now` in Unix
/// seconds): the state, its age, the issuer, an error instead of a code. The code and the
/// sign-in.
fn check_answer(
    pending: Option<Pending>,
    answer: Callback,
    issuer: &str,
    now: i64,
) -> Result<(String, Pending), SignInError> {
    use subtle::ConstantTimeEq;
    let pending = pending.ok_or(SignInError::State)?;
    let state = answer.state.unwrap_or_default();
    if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
        return Err(SignInError::State);
    }
    if now - pending.started > PENDING_SECONDS {
        return Err(SignInError::Expired(format!(
            "more than {} minutes",
            PENDING_SECONDS / 60
        )));
    }
    if let Some(iss) = &answer.iss
        && iss != issuer
    {
        return Err(SignInError::Refused(format!(
            "the answer comes from another issuer ({iss})"
        )));
    }
    if let Some(error) = answer.error {
        let detail = answer
            .error_description
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        return Err(SignInError::Refused(format!("{error}{detail}")));
    }
    let code = answer
        .code
        .ok_or_else(|| SignInError::Refused("no authorization code in the answer".into()))?;
    Ok((code, pending))
}

/// The claims of an ID token the verifier already accepted, as JSON (the groups claim's name is
/// configurable, so it is read from here rather than from typed claims).
fn verified_payload(jwt: &str) -> Result<serde_json::Map<String, serde_json::Value>, SignInError> {
    use base64::Engine;
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| SignInError::Token("not a JWS".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| SignInError::Token(format!("payload: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| SignInError::Token(format!("payload: {e}")))
}

/// Sends the browser back to the login page, which shows `error` once.
async fn fail(session: &Session, error: SignInError) -> Response {
    tracing::warn!(kind = error.kind(), error = %error, "single sign-on failed");
    crate::metrics::global().inc("oneko_sign_ins_total", vec![("outcome", error.kind().to_owned())]);
    if let Err(e) = session.insert(SESSION_LOGIN_ERROR, error.to_string()).await {
        tracing::error!(error = %e, "session store failed");
    }
    Redirect::to("/login").into_response()
}

async fn start(State(oidc): State<Arc<Oidc>>, session: Session, headers: HeaderMap) -> Response {
    match oidc.begin(&headers).await {
        Ok((url, pending)) => match session.insert(PENDING, pending).await {
            Ok(()) => Redirect::to(&url).into_response(),
            Err(e) => fail(&session, SignInError::Provider(format!("session store: {e}"))).await,
        },
        Err(e) => fail(&session, e).await,
    }
}

async fn callback(
    State(oidc): State<Arc<Oidc>>,
    session: Session,
    Query(answer): Query<Callback>,
) -> Response {
    // Taken out first: a state is good for one callback only.
    let pending = session.remove::<Pending>(PENDING).await.ok().flatten();
    match oidc.finish(pending, answer).await {
        Ok((user, epoch)) => {
            // A new session id at sign-in, so a session planted before it is worthless.
            let stored = async {
                session.cycle_id().await?;
                session
                    .insert(SESSION_USER, SessionUser { id: user.id, epoch })
                    .await
            };
            match stored.await {
                Ok(()) => {
                    crate::metrics::global().inc("oneko_sign_ins_total", vec![("outcome", "ok".to_owned())]);
                    tracing::info!(user = %user.username, role = %user.role, "single sign-on");
                    Redirect::to("/").into_response()
                }
                Err(e) => fail(&session, SignInError::Provider(format!("session store: {e}"))).await,
            }
        }
        Err(e) => fail(&session, e).await,
    }
}

/// The two routes (none when single sign-on is not configured).
pub fn router(oidc: Option<Arc<Oidc>>) -> Router {
    match oidc {
        Some(oidc) => Router::new()
            .route("/auth/oidc/login", get(start))
            .route(CALLBACK_PATH, get(callback))
            .with_state(oidc),
        None => Router::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_payload_is_read_from_the_middle_part() {
        use base64::Engine;
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"groups":["a"]}"#);
        let claims = verified_payload(&format!("h.{body}.s")).unwrap();
        assert_eq!(claims["groups"], json!(["a"]));
        assert!(verified_payload("nonsense").is_err());
    }

    fn pending() -> Pending {
        Pending {
            state: "s3cret".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            redirect_uri: "http://o-neko/auth/oidc/callback".into(),
            started: 1_000,
        }
    }

    fn answer(state: &str) -> Callback {
        Callback {
            code: Some("c0de".into()),
            state: Some(state.into()),
            error: None,
            error_description: None,
            iss: Some("https://idp".into()),
        }
    }

    #[test]
    fn an_answer_must_belong_to_this_sessions_recent_sign_in_and_our_issuer() {
        let ok = check_answer(Some(pending()), answer("s3cret"), "https://idp", 1_010);
        assert_eq!(ok.unwrap().0, "c0de");
        let kind = |r: Result<(String, Pending), SignInError>| r.err().map(|e| e.kind());
        assert_eq!(
            kind(check_answer(None, answer("s3cret"), "https://idp", 1_010)),
            Some("state")
        );
        assert_eq!(
            kind(check_answer(
                Some(pending()),
                answer("other"),
                "https://idp",
                1_010
            )),
            Some("state")
        );
        let mut no_state = answer("s3cret");
        no_state.state = None;
        assert_eq!(
            kind(check_answer(Some(pending()), no_state, "https://idp", 1_010)),
            Some("state")
        );
        assert_eq!(
            kind(check_answer(
                Some(pending()),
                answer("s3cret"),
                "https://idp",
                1_000 + PENDING_SECONDS + 1
            )),
            Some("expired")
        );
        assert_eq!(
            kind(check_answer(
                Some(pending()),
                answer("s3cret"),
                "https://evil",
                1_010
            )),
            Some("refused")
        );
        let mut declined = answer("s3cret");
        declined.error = Some("access_denied".into());
        declined.error_description = Some("the user said no".into());
        let e = check_answer(Some(pending()), declined, "https://idp", 1_010)
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "the identity provider refused: access_denied (the user said no)"
        );
    }
}
