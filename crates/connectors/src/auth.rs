//! Credentials: HTTP Basic with a Financials web service access key, and OAuth2 bearer tokens
//! for Sales (client credentials or password grant at `POST /oauth2/v2.0/token`), cached until
//! shortly before they expire. Secrets never appear in `Debug` output.

use std::time::Duration;

use base64::Engine as _;
use kontor_sync::connector::{ConnectorError, Side};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A secret string: `Debug` prints `<redacted>`.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to get a Sales token.
#[derive(Debug, Clone)]
pub enum Grant {
    /// An application user: `client_id` is its application id.
    ClientCredentials { client_id: String, client_secret: Secret },
    /// An interactive user (domain name and password).
    Password { username: String, password: Secret },
}

/// OAuth2 tokens from a token endpoint, cached until 60 s before expiry.
#[derive(Debug)]
pub struct TokenSource {
    token_url: String,
    scope: String,
    grant: Grant,
    cached: Mutex<Option<(Secret, Instant)>>,
}

impl TokenSource {
    /// `token_url` is the full endpoint (`http://host/oauth2/v2.0/token`); `scope` the resource
    /// (`http://host/.default`).
    pub fn new(
        token_url: impl Into<String>,
        scope: impl Into<String>,
        grant: Grant,
    ) -> TokenSource {
        TokenSource {
            token_url: token_url.into(),
            scope: scope.into(),
            grant,
            cached: Mutex::new(None),
        }
    }

    /// A valid bearer token.
    pub async fn token(&self, client: &reqwest::Client) -> Result<String, ConnectorError> {
        let mut cached = self.cached.lock().await;
        if let Some((t, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.0.clone());
        }
        let mut form: Vec<(&str, String)> = vec![("scope", self.scope.clone())];
        match &self.grant {
            Grant::ClientCredentials { client_id, client_secret } => {
                form.push(("grant_type", "client_credentials".into()));
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", client_secret.0.clone()));
            }
            Grant::Password { username, password } => {
                form.push(("grant_type", "password".into()));
                form.push(("username", username.clone()));
                form.push(("password", password.0.clone()));
            }
        }
        let res = client.post(&self.token_url).form(&form).send().await.map_err(|e| {
            ConnectorError::Unavailable {
                side: Side::Sales,
                message: format!("token endpoint: {}", e.without_url()),
            }
        })?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        if !status.is_success() {
            let message = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("token refused")
                .to_owned();
            return Err(if status.is_server_error() {
                ConnectorError::Unavailable { side: Side::Sales, message }
            } else {
                ConnectorError::Unauthorized { side: Side::Sales, message }
            });
        }
        let token = body["access_token"].as_str().unwrap_or_default().to_owned();
        let expires = body["expires_in"].as_u64().unwrap_or(3600);
        let until = Instant::now() + Duration::from_secs(expires.saturating_sub(60).max(1));
        *cached = Some((Secret(token.clone()), until));
        Ok(token)
    }

    /// Forgets the cached token (after a 401).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

/// How requests to a side authenticate.
#[derive(Debug)]
pub enum Auth {
    /// Financials: user name and web service access key.
    Basic {
        user: String,
        key: Secret,
    },
    Bearer(TokenSource),
}

impl Auth {
    pub async fn header(&self, client: &reqwest::Client) -> Result<String, ConnectorError> {
        Ok(match self {
            Auth::Basic { user, key } => {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", key.0))
                )
            }
            Auth::Bearer(t) => format!("Bearer {}", t.token(client).await?),
        })
    }
    pub async fn invalidate(&self) {
        if let Auth::Bearer(t) = self {
            t.invalidate().await;
        }
    }
}
