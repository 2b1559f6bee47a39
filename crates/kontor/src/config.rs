//! The binary's settings, one merged source of truth: every setting has a key in an optional
//! TOML file (`--config PATH`, or `KONTOR_CONFIG`), an environment variable and a flag, merged
//! with figment in this order (a later source wins): the defaults < the config file < the
//! environment < the flags. The table of every setting is [`SETTINGS`] (the README shows it).
//!
//! A value that is wrong is refused before anything starts, naming where it came from: the
//! file and its key, the variable, or the flag. Secrets (`admin_password`, `secret_key`) come
//! from the file or the environment only, never from a flag (it would land in the shell history
//! and in `ps`), and neither `Debug` nor an error message shows them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::{Deserialize, Deserializer, Serialize};

/// One setting: its key in the config file and its environment variable (always `KONTOR_`
/// and the key, dots as underscores, upper case).
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    /// Never from a flag, never shown.
    pub secret: bool,
}

const fn s(key: &'static str, env: &'static str) -> Setting {
    Setting { key, env, secret: false }
}

const fn secret(key: &'static str, env: &'static str) -> Setting {
    Setting { key, env, secret: true }
}

/// Every setting the binary reads (the flags that set them are each command's; see `--help`).
pub const SETTINGS: &[Setting] = &[
    s("log_format", "KONTOR_LOG_FORMAT"),
    s("data", "KONTOR_DATA"),
    s("header_read_timeout", "KONTOR_HEADER_READ_TIMEOUT"),
    s("body_read_timeout", "KONTOR_BODY_READ_TIMEOUT"),
    s("workers", "KONTOR_WORKERS"),
    s("lease_seconds", "KONTOR_LEASE_SECONDS"),
    s("exit_after_sync", "KONTOR_EXIT_AFTER_SYNC"),
    s("user", "KONTOR_USER"),
    s("password_env", "KONTOR_PASSWORD_ENV"),
    s("financials.db", "KONTOR_FINANCIALS_DB"),
    s("financials.listen", "KONTOR_FINANCIALS_LISTEN"),
    s("financials.port", "KONTOR_FINANCIALS_PORT"),
    s("financials.url", "KONTOR_FINANCIALS_URL"),
    s("sales.db", "KONTOR_SALES_DB"),
    s("sales.listen", "KONTOR_SALES_LISTEN"),
    s("sales.port", "KONTOR_SALES_PORT"),
    s("sales.url", "KONTOR_SALES_URL"),
    s("sales.limits", "KONTOR_SALES_LIMITS"),
    secret("admin_password", "KONTOR_ADMIN_PASSWORD"),
    secret("secret_key", "KONTOR_SECRET_KEY"),
];

/// The merged settings. Each is `None` when no source gave it: the command using it applies
/// its own default (they differ: `data` is `kontor-data` for `kontor up`, none for `serve`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub log_format: Option<crate::LogFormat>,
    pub data: Option<PathBuf>,
    pub header_read_timeout: Option<Timeout>,
    pub body_read_timeout: Option<Timeout>,
    pub workers: Option<usize>,
    pub lease_seconds: Option<Positive>,
    pub exit_after_sync: Option<bool>,
    pub user: Option<String>,
    pub password_env: Option<String>,
    pub financials: FinancialsSettings,
    pub sales: SalesSettings,
    pub admin_password: Option<Secret>,
    pub secret_key: Option<SecretKey>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinancialsSettings {
    pub db: Option<String>,
    pub listen: Option<ListenAddr>,
    pub port: Option<u16>,
    pub url: Option<Url>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SalesSettings {
    pub db: Option<String>,
    pub listen: Option<ListenAddr>,
    pub port: Option<u16>,
    pub url: Option<Url>,
    pub limits: Option<crate::serve::LimitsSetting>,
}

impl Settings {
    /// The listener's time limits: the settings, else the defaults.
    pub fn timeouts(&self) -> crate::listen::Timeouts {
        let d = crate::listen::Timeouts::default();
        crate::listen::Timeouts {
            header_read: self.header_read_timeout.map_or(d.header_read, |t| t.0),
            body_read: self.body_read_timeout.map_or(d.body_read, |t| t.0),
        }
    }

    /// The administrators' password when one is set (else one is generated).
    pub fn admin_password(&self) -> Option<String> {
        self.admin_password.as_ref().map(|p| p.0.clone()).filter(|p| !p.is_empty())
    }

    /// The key that seals stored secrets: `secret_key` when set, else `<data>/secret.key`
    /// (created when missing), else one that lasts as long as the process.
    pub fn sealing_key(
        &self,
        data: Option<&Path>,
    ) -> anyhow::Result<kontor_sales::secrets::SealingKey> {
        use anyhow::Context as _;
        match &self.secret_key {
            Some(k) => Ok(k.0.clone()),
            None => kontor_sales::secrets::SealingKey::load_file(data)
                .context("load the key that seals stored secrets"),
        }
    }
}

/// A secret text: `Debug` and errors never show it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The sealing key, 32 bytes base64-encoded.
#[derive(Clone, Debug)]
pub struct SecretKey(kontor_sales::secrets::SealingKey);

impl<'de> Deserialize<'de> for SecretKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)
            .map_err(|_| serde::de::Error::custom("must be a text: 32 bytes, base64-encoded"))?;
        kontor_sales::secrets::SealingKey::from_base64(&text)
            .map(SecretKey)
            .ok_or_else(|| serde::de::Error::custom("must be 32 bytes, base64-encoded"))
    }
}

/// A duration written `10s`, `500ms` or `10` (seconds); zero is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout(pub Duration);

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = text_or_number(d)?;
        crate::listen::parse_duration(&text).map(Timeout).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "'{text}' is not a duration like 10s or 500ms (more than zero)"
            ))
        })
    }
}

/// A whole number of at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Positive(pub u64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = text_or_number(d)?;
        match text.trim().parse::<u64>() {
            Ok(n) if n >= 1 => Ok(Positive(n)),
            _ => Err(serde::de::Error::custom(format!(
                "'{text}' is not a whole number of at least 1"
            ))),
        }
    }
}

/// An address to listen on: `HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ListenAddr(pub String);

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = text_or_number(d)?;
        match text.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(ListenAddr(text))
            }
            _ => Err(serde::de::Error::custom(format!(
                "'{text}' is not an address to listen on like 127.0.0.1:8080"
            ))),
        }
    }
}

/// An `http://` or `https://` URL, without its trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url(pub String);

impl<'de> Deserialize<'de> for Url {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = text_or_number(d)?;
        let rest = text.strip_prefix("http://").or_else(|| text.strip_prefix("https://"));
        match rest {
            Some(host) if !host.is_empty() && !host.starts_with('/') => {
                Ok(Url(text.trim_end_matches('/').to_owned()))
            }
            _ => Err(serde::de::Error::custom(format!(
                "'{text}' is not a URL starting with http:// or https://"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for crate::serve::LimitsSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = text_or_number(d)?;
        crate::serve::limits_setting(&text).map_err(serde::de::Error::custom)
    }
}

/// A text, or a number or boolean read as its text (an environment variable's `10` is a
/// number to figment, a TOML `timeout = 10` too).
fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Whole(u64),
        Number(f64),
        Bool(bool),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Text(t) => t,
        Raw::Whole(n) => n.to_string(),
        Raw::Number(n) => n.to_string(),
        Raw::Bool(b) => b.to_string(),
    })
}

/// The flags a command was given, each with the setting it sets.
#[derive(Debug, Default, Clone)]
pub struct Flags(Vec<(&'static str, &'static str, Value)>);

impl Flags {
    /// `flag` (e.g. `--db`) sets `key` (e.g. `sales.db`) when it was given.
    pub fn set<T: Serialize>(&mut self, key: &'static str, flag: &'static str, value: Option<T>) {
        debug_assert!(SETTINGS.iter().any(|s| s.key == key && !s.secret), "{key}");
        if let Some(v) = value
            && let Ok(v) = Value::serialize(v)
        {
            self.0.push((key, flag, v));
        }
    }

    /// A switch (`--exit-after-sync`): sets `key` to true when given.
    pub fn switch(&mut self, key: &'static str, flag: &'static str, on: bool) {
        self.set(key, flag, on.then_some(true));
    }
}

const FLAG: &str = "command-line flag";
const ENV: &str = "environment variable";

impl Provider for Flags {
    fn metadata(&self) -> Metadata {
        let names: Arc<Vec<(String, String)>> =
            Arc::new(self.0.iter().map(|(k, f, _)| (k.to_string(), f.to_string())).collect());
        Metadata::named(FLAG).interpolater(move |_: &Profile, path: &[&str]| {
            let key = path.join(".");
            names.iter().find(|(k, _)| *k == key).map_or(key, |(_, f)| f.clone())
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, _, v) in &self.0 {
            insert(&mut dict, key, v.clone());
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// The environment variables of [`SETTINGS`] that are set (as texts: the setting's type reads
/// them, so a password of digits stays a text).
struct Environment(Vec<(&'static str, String)>);

impl Environment {
    fn read() -> Environment {
        Environment(
            SETTINGS.iter().filter_map(|s| std::env::var(s.env).ok().map(|v| (s.key, v))).collect(),
        )
    }
}

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV).interpolater(|_: &Profile, path: &[&str]| {
            let key = path.join(".");
            SETTINGS.iter().find(|s| s.key == key).map_or(key, |s| s.env.to_owned())
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, v) in &self.0 {
            insert(&mut dict, key, Value::from(v.clone()));
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Puts `value` at the dotted `key` of `dict`.
fn insert(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict.entry(head.to_owned()).or_insert_with(|| Dict::new().into());
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// Why the settings were refused: one line per wrong value, naming its source.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the settings are not valid:")?;
        for line in &self.0 {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Merges the defaults, the config file at `file` (when given), the environment and `flags`.
pub fn load(file: Option<&Path>, flags: Flags) -> Result<Settings, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        if !path.is_file() {
            return Err(ConfigError(vec![format!(
                "the config file {} (--config or KONTOR_CONFIG) does not exist",
                path.display()
            )]));
        }
        figment = figment
            .merge(<figment::providers::Toml as figment::providers::Format>::file_exact(path));
    }
    let figment = figment.merge(Environment::read()).merge(flags);
    figment
        .extract_lossy::<Settings>()
        .map_err(|e| ConfigError(e.into_iter().map(describe).collect()))
}

/// One wrong value, as a person reads it: where it came from, then what is wrong. A secret's
/// value is never shown.
fn describe(e: figment::Error) -> String {
    let key = e.path.join(".");
    let is_secret = SETTINGS.iter().any(|s| s.secret && s.key == key);
    let what = match &e.kind {
        figment::error::Kind::Message(m) if !is_secret => without_snippet(m),
        figment::error::Kind::Message(m) => m.clone(),
        figment::error::Kind::UnknownField(field, _) => {
            // The path ends with the unknown field already.
            let full = if key.is_empty() { field.clone() } else { key.clone() };
            return format!("{}: there is no setting `{full}`", where_from(&e, ""));
        }
        _ if is_secret => "must be a text".to_owned(),
        kind => kind.to_string(),
    };
    format!("{}: {what}", where_from(&e, &key))
}

/// The source of a value: `the key `sales.limits` in /etc/kontor.toml`,
/// `KONTOR_SALES_LIMITS (environment variable)`, `--limits (command-line flag)`.
fn where_from(e: &figment::Error, key: &str) -> String {
    let profile = e.profile.clone().unwrap_or_default();
    let path: Vec<&str> = e.path.iter().map(String::as_str).collect();
    match &e.metadata {
        Some(md) if md.name == ENV || md.name == FLAG => {
            format!("{} ({})", md.interpolate(&profile, &path), md.name)
        }
        Some(Metadata { source: Some(Source::File(file)), .. }) if key.is_empty() => {
            format!("the config file {}", file.display())
        }
        Some(Metadata { source: Some(Source::File(file)), .. }) => {
            format!("the key `{key}` in the config file {}", file.display())
        }
        Some(md) => format!("`{key}` ({})", md.name),
        None => format!("`{key}`"),
    }
}

/// A TOML parse error without the quoted line of the file (it may hold a secret): its first
/// line (where) and its message.
fn without_snippet(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('|')
                && l.split_once('|').is_none_or(|(n, _)| n.trim().parse::<u32>().is_err())
        })
        .collect();
    lines.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_the_variable_named_after_its_key() {
        for s in SETTINGS {
            let expected = format!("KONTOR_{}", s.key.replace('.', "_").to_ascii_uppercase());
            assert_eq!(s.env, expected);
        }
    }

    #[test]
    fn a_toml_parse_error_keeps_where_and_what_but_not_the_line_it_quotes() {
        let message = "TOML parse error at line 2, column 18\n  |\n2 | admin_password = \"hunter2\n  |                  ^\ninvalid basic string\n";
        let got = without_snippet(message);
        assert_eq!(got, "TOML parse error at line 2, column 18: invalid basic string");
        assert!(!got.contains("hunter2"));
    }

    #[test]
    fn a_flag_wins_over_the_environment_and_names_itself_when_wrong() {
        // (flag value, the expected limits setting or the error's start)
        let cases: [(&str, Result<bool, &str>); 2] =
            [("off", Ok(false)), ("speed=3", Err("--limits (command-line flag): "))];
        for (value, expected) in cases {
            let mut flags = Flags::default();
            flags.set("sales.limits", "--limits", Some(value));
            let got = load(None, flags);
            match (got, expected) {
                (Ok(s), Ok(on)) => assert_eq!(s.sales.limits.map(|l| l.0.is_some()), Some(on)),
                (Err(e), Err(start)) => {
                    assert!(e.0[0].starts_with(start), "{e}");
                    assert!(e.0[0].contains("unknown limit 'speed'"), "{e}");
                }
                (got, _) => panic!("{value}: {got:?}"),
            }
        }
    }
}
