//! Sign In and Sign Out.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use kontor_financials::credentials::{self, Secret};
use kontor_financials::sessions;
use serde::Deserialize;

use crate::WebState;
use crate::render::{Ctx, WebError, page};
use crate::security::{SESSION_COOKIE, SIGN_IN_COOKIE, cookie, secure, set_cookie};

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    user_name: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    user_name: String,
    #[serde(default)]
    password: String,
}

/// The message next to the password when sign-in fails (the same for every reason).
pub const WRONG_CREDENTIALS: &str = "The user name or password is not correct.";

/// The form (a signed-in user goes Home). Its token goes in a cookie and a hidden field.
pub async fn form(State(state): State<WebState>, ctx: Ctx, headers: HeaderMap) -> Response {
    if ctx.session.is_some() {
        return Redirect::to("/").into_response();
    }
    let token = credentials::generate_access_key();
    let cookie =
        set_cookie(SIGN_IN_COOKIE, Some(token.expose()), "/signin", secure(&state, &headers));
    match page(&ctx, "Sign In", &SignInPage { csrf: token.expose(), user_name: "", error: None }) {
        Ok(mut resp) => {
            resp.headers_mut().append(header::SET_COOKIE, cookie);
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// Checks the user name and password; on success a new session and its cookie, then Home.
/// On failure the form again, the user name kept, the error next to the password.
pub async fn sign_in(
    State(state): State<WebState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let form: SignInForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The sign-in form could not be read.".into()))?;
    let password = Secret::new(form.password);
    let principal = match form.user_name.trim() {
        "" => None,
        name => state.auth.authenticate_password(name, &password).await?,
    };
    let Some(principal) = principal else {
        let csrf = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
        let again =
            SignInPage { csrf: &csrf, user_name: &form.user_name, error: Some(WRONG_CREDENTIALS) };
        return page(&ctx, "Sign In", &again);
    };
    let now = chrono::Utc::now();
    // A session this browser had before ends: each sign-in gets a new token.
    if let Some(old) = cookie(&headers, SESSION_COOKIE) {
        sessions::end(&state.db, &Secret::new(old)).await?;
    }
    // Ended sessions are swept at each sign-in (the table stays the size of the live ones).
    sessions::purge_expired(&state.db, now).await?;
    let token = sessions::start(&state.db, principal.user_id, now).await?;
    let secure = secure(&state, &headers);
    let mut resp = Redirect::to("/").into_response();
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, Some(token.expose()), "/", secure));
    h.append(header::SET_COOKIE, set_cookie(SIGN_IN_COOKIE, None, "/signin", secure));
    Ok(resp)
}

/// Ends the session (its row is deleted) and clears the cookie.
pub async fn sign_out(
    State(state): State<WebState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        sessions::end(&state.db, &Secret::new(token)).await?;
    }
    let mut resp = Redirect::to("/signin").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, None, "/", secure(&state, &headers)),
    );
    Ok(resp)
}
