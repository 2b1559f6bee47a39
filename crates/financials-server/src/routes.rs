//! The route table: every route of the Financials listener (its own and the integration's merged
//! into it) is one [`Route`] with its method, path, the [`Permission`] it needs and its handler,
//! and [`build`] makes the axum router from the table only, so a route cannot exist without a
//! permission. The permission is checked by a layer in front of each handler (authenticate, then
//! check the permission set), never in the handler.

use axum::Router;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
pub use kontor_financials::credentials::PermissionSet;
use kontor_financials::credentials::Secret;
use kontor_financials::users::Principal;

use crate::AppState;
use crate::auth::parse_basic;
use crate::error::ApiError;

/// What a route needs from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Nothing: no credentials needed.
    Public,
    /// Any signed-in user; the handler checks the permission sets further, per resource and
    /// operation, as `inside` says.
    SignedIn { inside: &'static str },
    /// A signed-in user holding this permission set or one that implies it
    /// ([`PermissionSet::implies`]).
    Set(PermissionSet),
}

/// The method a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    /// Every method (the handler answers 405 itself where one does not apply).
    Any,
}

impl Verb {
    /// The HTTP method, `None` for [`Verb::Any`].
    pub fn method(self) -> Option<Method> {
        Some(match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Patch => Method::PATCH,
            Verb::Delete => Method::DELETE,
            Verb::Any => return None,
        })
    }
}

/// Every method of RFC 9110.
fn every_method() -> MethodFilter {
    [
        MethodFilter::DELETE,
        MethodFilter::HEAD,
        MethodFilter::OPTIONS,
        MethodFilter::PATCH,
        MethodFilter::POST,
        MethodFilter::PUT,
        MethodFilter::TRACE,
        MethodFilter::CONNECT,
    ]
    .into_iter()
    .fold(MethodFilter::GET, MethodFilter::or)
}

/// One entry of the route table.
pub struct Route<S = ()> {
    pub verb: Verb,
    /// The axum path (`/integration/v1/mappings/{name}`).
    pub path: &'static str,
    pub permission: Permission,
    handler: MethodRouter<S>,
}

impl<S> std::fmt::Debug for Route<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {} ({:?})", self.verb, self.path, self.permission)
    }
}

impl<S: Clone + Send + Sync + 'static> Route<S> {
    /// `handler` answers `verb` on `path` for callers with `permission`.
    pub fn new<H, T>(verb: Verb, path: &'static str, permission: Permission, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let handler = match verb {
            // Not `routing::any`: that is a fallback, which `route_layer` does not guard.
            Verb::Any => axum::routing::on(every_method(), handler),
            Verb::Get => axum::routing::on(MethodFilter::GET, handler),
            Verb::Post => axum::routing::on(MethodFilter::POST, handler),
            Verb::Put => axum::routing::on(MethodFilter::PUT, handler),
            Verb::Patch => axum::routing::on(MethodFilter::PATCH, handler),
            Verb::Delete => axum::routing::on(MethodFilter::DELETE, handler),
        };
        Route { verb, path, permission, handler }
    }

    /// The same route with its handlers' state given.
    pub fn with_state<S2>(self, state: S) -> Route<S2> {
        Route {
            verb: self.verb,
            path: self.path,
            permission: self.permission,
            handler: self.handler.with_state(state),
        }
    }
}

/// The router of `table`: each route behind the check of its permission (authentication by
/// HTTP Basic with `state`'s users unless [`Permission::Public`]). Panics when two entries
/// share a method and path (a bug in the table).
pub fn build(state: &AppState, table: Vec<Route>) -> Router {
    table.into_iter().fold(Router::new(), |router, route| {
        let guard = axum::middleware::from_fn_with_state(
            (state.clone(), route.permission),
            require_permission,
        );
        router.route(route.path, route.handler.route_layer(guard))
    })
}

/// The layer in front of every handler: 401 without valid credentials, 403 naming the missing
/// permission set; otherwise the [`Principal`] goes into the request's extensions.
async fn require_permission(
    State((state, permission)): State<(AppState, Permission)>,
    mut req: Request,
    next: Next,
) -> Response {
    if permission == Permission::Public {
        return next.run(req).await;
    }
    let credentials = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_basic);
    let principal = match authenticate(&state, credentials).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Permission::Set(set) = permission
        && !principal.permissions.grants(set)
    {
        return ApiError::missing_permission_set(set.name()).into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// The caller with these `Authorization: Basic …` credentials (user name + password or web
/// service key).
async fn authenticate(
    state: &AppState,
    credentials: Option<(String, Secret)>,
) -> Result<Principal, ApiError> {
    let (user, secret) = credentials.ok_or_else(ApiError::unauthorized)?;
    match state.auth.authenticate(&user, &secret).await? {
        Some(principal) => Ok(principal),
        None => Err(ApiError::unauthorized()),
    }
}
