//! kontor-sales-server: the Sales service, answering like the Dataverse Web API.
//!
//! Routes (all under `/api/data/v9.2/` need `Authorization: Bearer <token>`):
//!
//! | route | what |
//! |---|---|
//! | `POST /oauth2/v2.0/token` (also `/{tenant}/oauth2/v2.0/token`) | `client_credentials` (application users) and `password` grants |
//! | `GET <set>`, `POST <set>` | query (`$filter $select $orderby $top $count $expand`, `odata.maxpagesize`, `odata.track-changes`, `$deltatoken`), create |
//! | `GET/PATCH/DELETE <set>(<guid>)` or `<set>(<altkey>=…)` | retrieve, update/upsert (`If-Match`, `If-None-Match`), delete |
//! | `POST <set>/Microsoft.Dynamics.CRM.CreateMultiple` / `UpdateMultiple` / `UpsertMultiple` | bulk, one transaction |
//! | `POST $batch` | multipart batches, atomic change sets, `Content-ID` / `$n` |
//! | `GET $metadata`, `GET WhoAmI` | CSDL, caller |
//! | `POST ImportSolution` `{"SolutionName":"KontorIntegration","Version":"1.0.0.0"}` | needs System Administrator **and** Solution Customizer |
//! | `GET solutions` | installed solutions |
//! | `GET EntityDefinitions(LogicalName='x')[/Attributes\|/Keys\|/ManyToOneRelationships]`, `GET sdkmessagefilters` | metadata and bulk-message probing |
//! | `POST systemusers(<id>)/systemuserroles_association/$ref`, `DELETE …/systemuserroles_association(<roleid>)/$ref`, `GET …/systemuserroles_association` | role assignment (System Administrator) |
//! | `POST systemusers(<id>)/Microsoft.Dynamics.CRM.kontor_SetClientSecret` `{"ClientSecret"?}` → `{"ClientId","ClientSecret"}` | application user secret (System Administrator) |
//! | `POST systemusers(<id>)/Microsoft.Dynamics.CRM.kontor_SetPassword` `{"Password"}` | interactive user password |
//! | `POST kontor_SetFinancialsConnection` / `GET kontor_GetFinancialsConnection()` | Financials OData connection for item availability (solution installed) |
//!
//! Creating an application user: `POST systemusers {"applicationid":"<guid>","firstname":"…","lastname":"…"}`,
//! then `kontor_SetClientSecret`, assign roles with `systemuserroles_association/$ref`, and get
//! tokens with `grant_type=client_credentials&client_id=<applicationid>&client_secret=<secret>`.

mod actions;
mod auth;
mod batch;
mod bulk;
mod definitions;
mod dispatch;
mod entity;
pub mod error;
mod http;
pub mod limits;
mod metadata;
mod payload;
mod request;
mod shape;
mod state;
pub mod testing;

use std::future::Future;

use kontor_store::Db;

pub use http::{API_PREFIX, router};
pub use limits::Limits;
pub use shape::dataverse_errors;
pub use state::{AppState, Config};

/// Errors of starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("database: {0}")]
    Store(#[from] kontor_store::StoreError),
    #[error("bootstrap: {0}")]
    Bootstrap(#[from] kontor_sales::SalesError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Migrates and bootstraps `db` (see [`kontor_sales::bootstrap`]) and serves Sales on `listener`
/// until `shutdown` completes. Returns the generated admin password through `on_bootstrap`
/// before serving, so the caller can print it once.
pub async fn serve(
    db: Db,
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = AppState::new(db, config);
    let app = router(state);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

/// Prepares a database for Sales: migrations, then [`kontor_sales::bootstrap`]. Returns the
/// generated admin password on the first start (print it once), `None` afterwards.
pub async fn prepare(
    db: &Db,
    admin_password: Option<String>,
) -> Result<Option<String>, ServeError> {
    db.migrate(&kontor_sales::MIGRATIONS).await?;
    Ok(kontor_sales::bootstrap(db, admin_password).await?)
}
