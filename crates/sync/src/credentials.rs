//! The integration's own credentials — the Financials integration user's web service access key
//! and the Sales application's client secret (or the Sales integration user's password) — kept
//! **sealed** in the sync store, so every process hosting the engine (`kontor up`, `kontor
//! financials serve`, `kontor worker`) can rebuild its connectors from the database and the
//! sealing key alone, and nothing readable is at rest.
//!
//! This crate does no cryptography: the process provides a [`Sealer`] (the binary's is
//! XChaCha20-Poly1305 under `KONTOR_SECRET_KEY` or `<data>/secret.key`). Secrets never show in
//! `Debug` output, errors or logs; [`IntegrationCredentials`] cannot be serialized except sealed.

use chrono::{DateTime, Utc};
use kontor_store::sea_query::Value as Bind;
use serde::{Deserialize, Serialize};

use crate::error::SyncError;
use crate::secrets::{SalesAccount, StoredTarget};
use crate::store::SyncStore;

/// Encrypts and decrypts stored secrets (authenticated encryption: a wrong key or a changed
/// value opens to `None`).
pub trait Sealer: Send + Sync {
    fn seal(&self, plaintext: &str) -> String;
    fn open(&self, sealed: &str) -> Option<String>;
}

/// How the integration signs in to Sales.
#[derive(Clone, PartialEq, Eq)]
pub enum SalesSignIn {
    /// An application user (OAuth2 client credentials).
    ClientCredentials { client_id: String, client_secret: String },
    /// A Sales user and its password (OAuth2 password grant).
    Password { user: String, password: String },
}

/// The integration's credentials on both sides, with the URLs they were entered for (a stored
/// secret is only ever sent there: [`crate::secrets`]). `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct IntegrationCredentials {
    /// The Financials root URL the web service key is for (empty: stored by an earlier version,
    /// which kept it with the connection only).
    pub financials_url: String,
    /// The Financials integration user (HTTP Basic with its web service access key).
    pub financials_user: String,
    pub financials_key: String,
    /// The Sales root URL the Sales secret is for (empty: as `financials_url`).
    pub sales_url: String,
    pub sales: SalesSignIn,
}

impl SalesSignIn {
    /// The account, without the secret.
    pub fn account(&self) -> SalesAccount {
        match self {
            SalesSignIn::ClientCredentials { client_id, .. } => {
                SalesAccount::Client(client_id.clone())
            }
            SalesSignIn::Password { user, .. } => SalesAccount::User(user.clone()),
        }
    }
}

impl IntegrationCredentials {
    /// Where these secrets may be sent. URLs an earlier version did not record are those of
    /// the stored connection they were kept with (`connection`: its Financials and Sales URLs).
    pub fn target(&self, connection: Option<(&str, &str)>) -> Option<StoredTarget> {
        let (financials_url, sales_url) =
            match (self.financials_url.is_empty() || self.sales_url.is_empty(), connection) {
                (false, _) => (self.financials_url.clone(), self.sales_url.clone()),
                (true, Some((f, s))) => (f.to_owned(), s.to_owned()),
                (true, None) => return None,
            };
        Some(StoredTarget {
            financials_url,
            financials_user: self.financials_user.clone(),
            sales_url,
            sales: self.sales.account(),
        })
    }
}

impl std::fmt::Debug for SalesSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SalesSignIn::ClientCredentials { client_id, .. } => f
                .debug_struct("ClientCredentials")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            SalesSignIn::Password { user, .. } => {
                f.debug_struct("Password").field("user", user).finish_non_exhaustive()
            }
        }
    }
}

impl std::fmt::Debug for IntegrationCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationCredentials")
            .field("financials_url", &self.financials_url)
            .field("financials_user", &self.financials_user)
            .field("sales_url", &self.sales_url)
            .field("sales", &self.sales)
            .finish_non_exhaustive()
    }
}

/// The plaintext form, only ever handed to the sealer.
#[derive(Serialize, Deserialize)]
struct Plain {
    #[serde(default)]
    financials_url: String,
    #[serde(default)]
    sales_url: String,
    financials_user: String,
    financials_key: String,
    #[serde(default)]
    sales_client_id: Option<String>,
    #[serde(default)]
    sales_client_secret: Option<String>,
    #[serde(default)]
    sales_user: Option<String>,
    #[serde(default)]
    sales_password: Option<String>,
}

impl IntegrationCredentials {
    /// The credentials sealed as one value.
    pub fn seal(&self, sealer: &dyn Sealer) -> String {
        let mut plain = Plain {
            financials_url: self.financials_url.clone(),
            sales_url: self.sales_url.clone(),
            financials_user: self.financials_user.clone(),
            financials_key: self.financials_key.clone(),
            sales_client_id: None,
            sales_client_secret: None,
            sales_user: None,
            sales_password: None,
        };
        match &self.sales {
            SalesSignIn::ClientCredentials { client_id, client_secret } => {
                plain.sales_client_id = Some(client_id.clone());
                plain.sales_client_secret = Some(client_secret.clone());
            }
            SalesSignIn::Password { user, password } => {
                plain.sales_user = Some(user.clone());
                plain.sales_password = Some(password.clone());
            }
        }
        sealer.seal(&serde_json::to_string(&plain).expect("credentials serialize"))
    }

    /// Opens a value made by [`IntegrationCredentials::seal`]; `None` with another key or when
    /// the value was changed.
    pub fn open(sealed: &str, sealer: &dyn Sealer) -> Option<IntegrationCredentials> {
        let plain: Plain = serde_json::from_str(&sealer.open(sealed)?).ok()?;
        let sales = match (plain.sales_client_id, plain.sales_client_secret) {
            (Some(client_id), Some(client_secret)) => {
                SalesSignIn::ClientCredentials { client_id, client_secret }
            }
            _ => SalesSignIn::Password { user: plain.sales_user?, password: plain.sales_password? },
        };
        Some(IntegrationCredentials {
            financials_url: plain.financials_url,
            financials_user: plain.financials_user,
            financials_key: plain.financials_key,
            sales_url: plain.sales_url,
            sales,
        })
    }
}

const INTEGRATION: &str = "integration";

impl SyncStore {
    /// Stores the integration's credentials, sealed (replacing earlier ones).
    pub async fn save_credentials(
        &self,
        credentials: &IntegrationCredentials,
        sealer: &dyn Sealer,
        now: DateTime<Utc>,
    ) -> Result<(), SyncError> {
        self.db()
            .execute_sql(
                "INSERT INTO sync_secret (name, sealed, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                vec![
                    Bind::String(Some(INTEGRATION.into())),
                    Bind::String(Some(credentials.seal(sealer))),
                    Bind::BigInt(Some(now.timestamp_micros())),
                ],
            )
            .await?;
        Ok(())
    }

    /// The stored credentials, opened; `None` when none are stored, an error when they cannot
    /// be opened with this sealer's key.
    pub async fn credentials(
        &self,
        sealer: &dyn Sealer,
    ) -> Result<Option<IntegrationCredentials>, SyncError> {
        let row = self
            .db()
            .fetch_optional_sql(
                "SELECT sealed FROM sync_secret WHERE name = $1",
                vec![Bind::String(Some(INTEGRATION.into()))],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        IntegrationCredentials::open(&row.get_string("sealed"), sealer).map(Some).ok_or_else(|| {
            SyncError::Refused(
                "The stored integration credentials cannot be decrypted with this key (was KONTOR_SECRET_KEY or secret.key changed?). Run setup again with the credentials.".into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reversible stand-in for the binary's cipher (this crate does no cryptography).
    struct Reverse;
    impl Sealer for Reverse {
        fn seal(&self, plaintext: &str) -> String {
            format!("sealed:{}", plaintext.chars().rev().collect::<String>())
        }
        fn open(&self, sealed: &str) -> Option<String> {
            Some(sealed.strip_prefix("sealed:")?.chars().rev().collect())
        }
    }

    fn creds(sales: SalesSignIn) -> IntegrationCredentials {
        IntegrationCredentials {
            financials_url: "http://fin".into(),
            financials_user: "KONTOR-INTEGRATION".into(),
            financials_key: "fin-key-123".into(),
            sales_url: "http://sales".into(),
            sales,
        }
    }

    #[test]
    fn credentials_round_trip_through_the_sealer_for_both_sales_grants() {
        for sales in [
            SalesSignIn::ClientCredentials { client_id: "app".into(), client_secret: "s3".into() },
            SalesSignIn::Password { user: "int@x".into(), password: "pw".into() },
        ] {
            let c = creds(sales);
            let sealed = c.seal(&Reverse);
            assert!(!sealed.contains("fin-key-123"));
            assert_eq!(IntegrationCredentials::open(&sealed, &Reverse), Some(c));
        }
        assert_eq!(IntegrationCredentials::open("garbage", &Reverse), None);
    }

    #[test]
    fn integration_credentials_never_show_secrets_in_debug_output() {
        let text = format!(
            "{:?} {:?}",
            creds(SalesSignIn::ClientCredentials {
                client_id: "app".into(),
                client_secret: "client-s3cret".into()
            }),
            creds(SalesSignIn::Password { user: "u".into(), password: "pass-w0rd".into() })
        );
        assert!(!text.contains("fin-key-123"), "{text}");
        assert!(!text.contains("client-s3cret") && !text.contains("pass-w0rd"), "{text}");
        assert!(text.contains("KONTOR-INTEGRATION"), "{text}");
    }
}
