//! Where a stored secret may go: the rule that keeps the integration's stored credentials (the
//! Financials web service access key, the Sales client secret or password) with the place they
//! were entered for.
//!
//! A stored secret is only ever sent to the URL it was stored for, signing in the account it
//! was stored for. Setup may leave a secret out and reuse the stored one only when the request
//! names that same URL and account; a changed URL, user or client id needs the secret entered
//! again. [`reuse`] decides this, purely, for both secrets at once, and says why a secret may
//! not be reused so the refusal can name what must be entered again.

/// How the integration signs in to Sales, by account (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SalesAccount {
    /// An application user: its client id (application id).
    Client(String),
    /// A Sales user signing in with a password: its user name.
    User(String),
}

/// The Sales account a setup request names when it gives no secret: a client id when given,
/// otherwise the integration user's name (the application id of an application user, or a
/// user name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedSalesAccount {
    Client(String),
    Named(String),
}

/// Where stored secrets were entered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTarget {
    pub financials_url: String,
    pub financials_user: String,
    pub sales_url: String,
    pub sales: SalesAccount,
}

/// Where a setup request would send them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedTarget {
    pub financials_url: String,
    pub financials_user: String,
    pub sales_url: String,
    pub sales: RequestedSalesAccount,
}

/// What differs between the stored and the requested target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    NothingStored,
    FinancialsUrl,
    FinancialsUser,
    SalesUrl,
    SalesClientId,
    SalesUser,
}

impl Changed {
    /// The reason, as the end of "… must be entered again because …".
    pub fn reason(self) -> &'static str {
        match self {
            Changed::NothingStored => "none is stored",
            Changed::FinancialsUrl => "the Financials URL changed",
            Changed::FinancialsUser => "the Financials user changed",
            Changed::SalesUrl => "the Sales URL changed",
            Changed::SalesClientId => "the Sales client id changed",
            Changed::SalesUser => "the Sales user changed",
        }
    }
}

/// Whether one stored secret may be sent for the requested target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Same URL and account: the stored secret may be reused.
    Reuse,
    /// It must be entered again, for these reasons (never empty).
    EnterAgain(Vec<Changed>),
}

impl Verdict {
    pub fn may_reuse(&self) -> bool {
        matches!(self, Verdict::Reuse)
    }

    fn from(changes: Vec<Changed>) -> Verdict {
        if changes.is_empty() { Verdict::Reuse } else { Verdict::EnterAgain(changes) }
    }
}

/// The verdict for each stored secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reuse {
    /// The Financials integration user's web service access key.
    pub financials_key: Verdict,
    /// The Sales client secret or password.
    pub sales_secret: Verdict,
}

/// Which stored secrets may be reused for `requested`. Nothing stored: none. URLs are compared
/// without surrounding blanks or trailing slashes, scheme and host without case, the path
/// exactly (a different host name for the same machine is a different URL: stricter is safe);
/// user names and client ids without case (Financials user names and GUIDs are
/// case-insensitive).
pub fn reuse(stored: Option<&StoredTarget>, requested: &RequestedTarget) -> Reuse {
    let Some(stored) = stored else {
        return Reuse {
            financials_key: Verdict::EnterAgain(vec![Changed::NothingStored]),
            sales_secret: Verdict::EnterAgain(vec![Changed::NothingStored]),
        };
    };
    let mut financials = Vec::new();
    if !same_url(&stored.financials_url, &requested.financials_url) {
        financials.push(Changed::FinancialsUrl);
    }
    if !same_name(&stored.financials_user, &requested.financials_user) {
        financials.push(Changed::FinancialsUser);
    }
    let mut sales = Vec::new();
    if !same_url(&stored.sales_url, &requested.sales_url) {
        sales.push(Changed::SalesUrl);
    }
    match (&stored.sales, &requested.sales) {
        (
            SalesAccount::Client(s),
            RequestedSalesAccount::Client(r) | RequestedSalesAccount::Named(r),
        ) if same_name(s, r) => {}
        (SalesAccount::User(s), RequestedSalesAccount::Named(r)) if same_name(s, r) => {}
        (SalesAccount::Client(_), _)
        | (SalesAccount::User(_), RequestedSalesAccount::Client(_)) => {
            sales.push(Changed::SalesClientId)
        }
        (SalesAccount::User(_), RequestedSalesAccount::Named(_)) => sales.push(Changed::SalesUser),
    }
    Reuse { financials_key: Verdict::from(financials), sales_secret: Verdict::from(sales) }
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// `scheme://authority` without case, the rest exactly; blanks and trailing slashes ignored.
fn same_url(a: &str, b: &str) -> bool {
    fn split(u: &str) -> (String, &str) {
        let u = u.trim().trim_end_matches('/');
        let after_scheme = u.find("://").map_or(0, |i| i + 3);
        let path_at = u[after_scheme..].find('/').map_or(u.len(), |i| after_scheme + i);
        (u[..path_at].to_ascii_lowercase(), &u[path_at..])
    }
    split(a) == split(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIN: &str = "http://fin.example:8080";
    const SALES: &str = "http://sales.example:8081";
    const APP: &str = "3f2b1c1e-8a49-4d3e-9c51-0d7f3f7b9a10";

    fn stored(sales: SalesAccount) -> StoredTarget {
        StoredTarget {
            financials_url: FIN.into(),
            financials_user: "INTEGRATION".into(),
            sales_url: SALES.into(),
            sales,
        }
    }

    fn requested(
        fin: &str,
        user: &str,
        sales: &str,
        account: RequestedSalesAccount,
    ) -> RequestedTarget {
        RequestedTarget {
            financials_url: fin.into(),
            financials_user: user.into(),
            sales_url: sales.into(),
            sales: account,
        }
    }

    fn client(id: &str) -> RequestedSalesAccount {
        RequestedSalesAccount::Client(id.into())
    }

    fn named(n: &str) -> RequestedSalesAccount {
        RequestedSalesAccount::Named(n.into())
    }

    /// A case: its name, the stored Sales account, the request, and what changed for the web
    /// service key and for the Sales secret.
    type Case = (&'static str, SalesAccount, RequestedTarget, Vec<Changed>, Vec<Changed>);

    #[test]
    fn a_stored_secret_is_reused_only_for_the_url_and_account_it_was_stored_for() {
        use Changed::*;
        let app = || SalesAccount::Client(APP.into());
        let user = || SalesAccount::User("int@contoso.test".into());
        let attacker = "http://127.0.0.1:9999";
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("the same target", app(), requested(FIN, "INTEGRATION", SALES, client(APP)), vec![], vec![]),
            ("the same target named by the application id", app(), requested(FIN, "INTEGRATION", SALES, named(APP)), vec![], vec![]),
            ("case, blanks and a trailing slash", app(), requested("HTTP://FIN.example:8080/ ", "integration", "http://Sales.Example:8081/", client(&APP.to_uppercase())), vec![], vec![]),
            ("another Sales URL", app(), requested(FIN, "INTEGRATION", attacker, client(APP)), vec![], vec![SalesUrl]),
            ("another Financials URL", app(), requested(attacker, "INTEGRATION", SALES, client(APP)), vec![FinancialsUrl], vec![]),
            ("both URLs", app(), requested(attacker, "INTEGRATION", attacker, client(APP)), vec![FinancialsUrl], vec![SalesUrl]),
            ("another path on the same host", app(), requested("http://fin.example:8080/other", "INTEGRATION", SALES, client(APP)), vec![FinancialsUrl], vec![]),
            ("another port", app(), requested(FIN, "INTEGRATION", "http://sales.example:8082", client(APP)), vec![], vec![SalesUrl]),
            ("another scheme", app(), requested(FIN, "INTEGRATION", "https://sales.example:8081", client(APP)), vec![], vec![SalesUrl]),
            ("another host name of the same machine", app(), requested("http://localhost:8080", "INTEGRATION", SALES, client(APP)), vec![FinancialsUrl], vec![]),
            ("another Financials user", app(), requested(FIN, "SOMEONE-ELSE", SALES, client(APP)), vec![FinancialsUser], vec![]),
            ("another Financials user and URL", app(), requested(attacker, "SOMEONE-ELSE", SALES, client(APP)), vec![FinancialsUrl, FinancialsUser], vec![]),
            ("another client id", app(), requested(FIN, "INTEGRATION", SALES, client("another-app")), vec![], vec![SalesClientId]),
            ("another client id and Sales URL", app(), requested(FIN, "INTEGRATION", attacker, client("another-app")), vec![], vec![SalesUrl, SalesClientId]),
            ("a user name instead of the application", app(), requested(FIN, "INTEGRATION", SALES, named("int@contoso.test")), vec![], vec![SalesClientId]),
            ("a password user, the same", user(), requested(FIN, "INTEGRATION", SALES, named("INT@contoso.test")), vec![], vec![]),
            ("a password user, another", user(), requested(FIN, "INTEGRATION", SALES, named("other@contoso.test")), vec![], vec![SalesUser]),
            ("a password user, now a client id", user(), requested(FIN, "INTEGRATION", SALES, client("int@contoso.test")), vec![], vec![SalesClientId]),
            ("a password user, another Sales URL", user(), requested(FIN, "INTEGRATION", attacker, named("int@contoso.test")), vec![], vec![SalesUrl]),
        ];
        for (name, account, req, fin, sales) in cases {
            let got = reuse(Some(&stored(account)), &req);
            assert_eq!(got.financials_key, Verdict::from(fin), "{name}: the web service key");
            assert_eq!(got.sales_secret, Verdict::from(sales), "{name}: the Sales secret");
        }
    }

    #[test]
    fn nothing_stored_means_every_secret_must_be_entered() {
        let got = reuse(None, &requested(FIN, "INTEGRATION", SALES, client(APP)));
        assert_eq!(got.financials_key, Verdict::EnterAgain(vec![Changed::NothingStored]));
        assert_eq!(got.sales_secret, Verdict::EnterAgain(vec![Changed::NothingStored]));
        assert!(!got.financials_key.may_reuse() && !got.sales_secret.may_reuse());
    }
}
