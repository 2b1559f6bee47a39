//! Users, the User Card and Change Web Service Key (the new key shown once, on the answer to
//! the POST, never again).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{NaiveDate, TimeZone, Utc};
use kontor_financials::service;
use kontor_financials::users::{self, UserSummary};
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::permission::Page;
use crate::render::{Signed, WebError, page, when};

/// A user as the pages show it.
struct UserView {
    href: String,
    user_name: String,
    full_name: String,
    state: String,
    permission_sets: String,
    key: String,
}

impl From<UserSummary> for UserView {
    fn from(u: UserSummary) -> Self {
        let key = match (u.has_web_service_key, u.web_service_key_expiry) {
            (false, _) => "None".to_owned(),
            (true, None) => "Set".to_owned(),
            (true, Some(t)) => format!("Set, expires {}", when(&t)),
        };
        UserView {
            href: format!("/users/{}", u.id),
            user_name: u.user_name,
            full_name: u.full_name,
            state: u.state,
            permission_sets: u.permissions.to_list().replace(',', ", "),
            key,
        }
    }
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    users: Vec<UserView>,
}

#[derive(Template)]
#[template(path = "user_card.html")]
struct UserCard<'a> {
    user: UserView,
    csrf: &'a str,
    new_key: Option<&'a str>,
    expiry: &'a str,
    expiry_error: Option<&'a str>,
}

pub async fn list(State(state): State<WebState>, s: Signed) -> Result<Response, WebError> {
    s.require(Page::Users)?;
    let users = users::list(&state.db).await?.into_iter().map(UserView::from).collect();
    page(&s.ctx, "Users", &UsersPage { users })
}

fn parse_id(id: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(id).map_err(|_| WebError::NotFound("The user does not exist.".into()))
}

async fn find(state: &WebState, id: Uuid) -> Result<UserView, WebError> {
    let user = users::find(&state.db, id).await?;
    Ok(user.ok_or_else(|| WebError::NotFound("The user does not exist.".into()))?.into())
}

pub async fn card(
    State(state): State<WebState>,
    s: Signed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    s.require(Page::Users)?;
    let user = find(&state, parse_id(&id)?).await?;
    let view = UserCard { user, csrf: s.csrf(), new_key: None, expiry: "", expiry_error: None };
    page(&s.ctx, "User Card", &view)
}

#[derive(Deserialize)]
struct ChangeKeyForm {
    #[serde(default)]
    expiry: String,
}

/// The end of the given day (UTC), or the message next to the field.
fn parse_expiry(text: &str) -> Result<Option<chrono::DateTime<Utc>>, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| "Enter the date as YYYY-MM-DD, for example 2027-12-31, or leave it empty.")?;
    let end = day.and_hms_opt(23, 59, 59).ok_or("Enter a valid date.")?;
    let end = Utc.from_utc_datetime(&end);
    if end <= Utc::now() {
        return Err("The expiry date must be in the future.");
    }
    Ok(Some(end))
}

/// *Change Web Service Key*: the domain's `users::change_web_service_key` (as the API's
/// action), the key shown on this answer only.
pub async fn change_key(
    State(state): State<WebState>,
    s: Signed,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    s.require(Page::ChangeWebServiceKey)?;
    let id = parse_id(&id)?;
    let form: ChangeKeyForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| WebError::BadRequest("The form could not be read.".into()))?;
    let expiry = match parse_expiry(&form.expiry) {
        Ok(e) => e,
        Err(message) => {
            let user = find(&state, id).await?;
            let view = UserCard {
                user,
                csrf: s.csrf(),
                new_key: None,
                expiry: &form.expiry,
                expiry_error: Some(message),
            };
            return page(&s.ctx, "User Card", &view);
        }
    };
    let mut tx = service::begin_write(&state.db).await?;
    let actor = Some(s.session.principal.user_id);
    let key = users::change_web_service_key(&mut tx, id, expiry, actor).await?;
    tx.commit().await?;
    let user = find(&state, id).await?;
    let view = UserCard {
        user,
        csrf: s.csrf(),
        new_key: Some(key.expose()),
        expiry: "",
        expiry_error: None,
    };
    page(&s.ctx, "User Card", &view)
}
