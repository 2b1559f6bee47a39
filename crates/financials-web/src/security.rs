//! The session cookie, the CSRF token and the cross-site check, in one middleware
//! ([`guard`]) in front of every page:
//!
//! - every request: the session of the `kontor_session` cookie is resumed (the domain's
//!   `sessions::resume`: expiry, user state and permission sets checked) and handed to the page;
//! - every POST: refused with a 403 page when `Sec-Fetch-Site` says `cross-site` /
//!   `same-site`, or `Origin` is not this server's; then it must carry the CSRF token of the
//!   session (`X-CSRF-Token` header from htmx, or the form's hidden `csrf` field) or, for the
//!   sign-in form, the token of its `kontor_signin` cookie. The body is read up to a small
//!   limit ([`SIGN_IN_BODY_LIMIT`] on sign-in, [`FORM_BODY_LIMIT`] elsewhere).

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kontor_financials::credentials::Secret;
use kontor_financials::sessions;

use crate::WebState;
use crate::render::{CurrentSession, WebError};

/// The session cookie.
pub const SESSION_COOKIE: &str = "kontor_session";
/// The sign-in form's own token (double-submit: the cookie and the form field must agree).
pub const SIGN_IN_COOKIE: &str = "kontor_signin";
/// The header htmx sends the CSRF token in (`hx-headers` on `<body>`).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The largest sign-in form body.
pub const SIGN_IN_BODY_LIMIT: usize = 4 * 1024;
/// The largest body of any other form.
pub const FORM_BODY_LIMIT: usize = 64 * 1024;

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Whether the request came over TLS (as a proxy in front says).
pub fn over_tls(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|f| f.to_ascii_lowercase().contains("proto=https"));
    forwarded_proto || forwarded
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Secure` when `secure`; `None` as value
/// clears the cookie.
pub fn set_cookie(name: &str, value: Option<&str>, path: &str, secure: bool) -> HeaderValue {
    let mut c = match value {
        Some(v) => format!("{name}={v}; Path={path}; HttpOnly; SameSite=Lax"),
        None => format!("{name}=; Path={path}; HttpOnly; SameSite=Lax; Max-Age=0"),
    };
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether the cookies of an answer to these headers are `Secure`.
pub fn secure(state: &WebState, headers: &HeaderMap) -> bool {
    state.always_secure || over_tls(headers)
}

/// Whether a POST with these headers comes from another site: `Sec-Fetch-Site` other than
/// `same-origin` / `none`, or an `Origin` that is not this server's (`scheme://Host`). A
/// request with neither header (not a browser) passes; it still needs the CSRF token.
pub fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return false };
    let Ok(origin) = origin.to_str() else { return true };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let scheme = if over_tls(headers) { "https" } else { "http" };
    !origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
}

fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The largest body of a form that uploads a file (Import of the mappings' export file).
pub const UPLOAD_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The `csrf` field of a form body (URL-encoded, or `multipart/form-data` with a file).
fn form_token(headers: &HeaderMap, body: &Bytes) -> Option<String> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if let Some(boundary) = content_type.and_then(crate::upload::boundary) {
        let parts = crate::upload::parts(body, &boundary)?;
        let part = parts.into_iter().find(|p| p.name == "csrf" && p.filename.is_none())?;
        return String::from_utf8(part.data).ok();
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v)
}

/// The middleware in front of every page (see the module).
pub async fn guard(State(state): State<WebState>, req: Request, next: Next) -> Response {
    match check(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn check(state: &WebState, req: Request) -> Result<Request, WebError> {
    let static_file = req.uri().path().starts_with("/static/");
    let session = match cookie(req.headers(), SESSION_COOKIE) {
        Some(token) if !static_file && !token.is_empty() => {
            sessions::resume(&state.db, &Secret::new(token), chrono::Utc::now()).await?
        }
        _ => None,
    };
    let (mut parts, body) = req.into_parts();
    if parts.method == Method::GET || parts.method == Method::HEAD {
        parts.extensions.insert(CurrentSession(session));
        return Ok(Request::from_parts(parts, body));
    }
    if cross_site(&parts.headers) {
        return Err(WebError::CrossSite);
    }
    let sign_in = parts.uri.path() == "/signin";
    let upload = parts.uri.path() == crate::mappings::IMPORT_PATH;
    let limit = match (sign_in, upload) {
        (true, _) => SIGN_IN_BODY_LIMIT,
        (_, true) => UPLOAD_BODY_LIMIT,
        _ => FORM_BODY_LIMIT,
    };
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| WebError::TooLarge)?;
    let header_token =
        parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let given = header_token.or_else(|| form_token(&parts.headers, &bytes)).unwrap_or_default();
    let expected = if sign_in {
        cookie(&parts.headers, SIGN_IN_COOKIE).unwrap_or_default()
    } else {
        match &session {
            Some(s) => s.csrf_token.clone(),
            None => return Err(WebError::SignIn),
        }
    };
    if expected.is_empty() || !same_token(&expected, &given) {
        return Err(WebError::CrossSite);
    }
    parts.extensions.insert(CurrentSession(session));
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    /// (what, request headers, cross-site?)
    type Case<'a> = (&'a str, &'a [(&'static str, &'static str)], bool);

    #[test]
    fn a_post_is_cross_site_unless_its_origin_and_fetch_site_are_this_server() {
        let cases: [Case; 7] = [
            ("no browser headers", &[("host", "erp:8080")], false),
            ("same origin", &[("host", "erp:8080"), ("origin", "http://erp:8080")], false),
            ("another origin", &[("host", "erp:8080"), ("origin", "http://evil.example")], true),
            ("another port", &[("host", "erp:8080"), ("origin", "http://erp:9090")], true),
            ("fetch site cross-site", &[("host", "erp"), ("sec-fetch-site", "cross-site")], true),
            ("fetch site same-site", &[("host", "erp"), ("sec-fetch-site", "same-site")], true),
            (
                "https behind a proxy",
                &[("host", "erp"), ("origin", "https://erp"), ("x-forwarded-proto", "https")],
                false,
            ),
        ];
        for (name, h, expected) in cases {
            assert_eq!(cross_site(&headers(h)), expected, "{name}");
        }
    }

    #[test]
    fn cookies_are_read_by_name_and_set_http_only_lax_and_secure_over_tls() {
        let h = headers(&[("cookie", "a=1; kontor_session=abc"), ("cookie", "b=2")]);
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b").as_deref(), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
        let c = set_cookie(SESSION_COOKIE, Some("t"), "/", true);
        assert_eq!(c, "kontor_session=t; Path=/; HttpOnly; SameSite=Lax; Secure");
        let cleared = set_cookie(SESSION_COOKIE, None, "/", false);
        assert_eq!(cleared, "kontor_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
        assert!(over_tls(&headers(&[("x-forwarded-proto", "https")])));
        assert!(over_tls(&headers(&[("forwarded", "for=1.2.3.4;proto=https")])));
        assert!(!over_tls(&headers(&[])));
    }
}
