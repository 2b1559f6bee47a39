//! `HttpSetupSides`: what connection setup asks of the two sides, over their public APIs. The
//! administrator's credentials are used for one token each call and kept nowhere.

use futures::future::BoxFuture;
use kontor_sync::connector::{ConnectorError, Side};
use kontor_sync::setup::{AdminCredentials, SetupSides};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{Grant, Secret, TokenSource};
use crate::client::{ODataConnector, urlencode};

/// Setup calls against a Financials and a Sales connector.
pub struct HttpSetupSides {
    pub financials: ODataConnector,
    pub sales: ODataConnector,
    /// Financials root (`http://host`), for `companies(<id>)`.
    pub financials_root: String,
    pub company_id: Uuid,
    /// Sales root (`http://host`), for the token endpoint and admin calls.
    pub sales_root: String,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl HttpSetupSides {
    fn admin_connector(&self, admin: &AdminCredentials) -> ODataConnector {
        let root = self.sales_root.trim_end_matches('/');
        let tokens = TokenSource::new(
            format!("{root}/oauth2/v2.0/token"),
            format!("{root}/.default"),
            Grant::Password {
                username: admin.user.clone(),
                password: Secret(admin.password.clone()),
            },
        );
        ODataConnector::dataverse(root, tokens)
    }

    fn rejected(message: String) -> ConnectorError {
        ConnectorError::Rejected { side: Side::Sales, message }
    }
}

impl SetupSides for HttpSetupSides {
    fn financials_experience(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        Box::pin(async move {
            let url = format!(
                "{}/api/v2.0/companies({})",
                self.financials_root.trim_end_matches('/'),
                self.company_id
            );
            let v = self.financials.get_json(&url, None).await?;
            Ok(v["experience"].as_str().unwrap_or("Essential").to_owned())
        })
    }

    fn financials_user_id<'a>(
        &'a self,
        user_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, ConnectorError>> {
        Box::pin(async move {
            let url = format!(
                "users?$filter={}",
                urlencode(&format!("userName eq {}", quote(user_name)))
            );
            let v = match self.financials.get_json(&url, None).await {
                Ok(v) => v,
                // Users may not be readable by the integration user: echo detection then relies
                // on the last synced values alone.
                Err(ConnectorError::Rejected { .. } | ConnectorError::Unauthorized { .. }) => {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            Ok(v["value"][0]["id"].as_str().map(str::to_ascii_lowercase))
        })
    }

    fn find_sales_user<'a>(
        &'a self,
        name: &'a str,
        admin: Option<&'a AdminCredentials>,
    ) -> BoxFuture<'a, Result<Option<Uuid>, ConnectorError>> {
        Box::pin(async move {
            let Some(admin) = admin else {
                // Without an administrator: the integration user can at least say who it is.
                let v = self.sales.get_json("WhoAmI", None).await?;
                return Ok(v["UserId"].as_str().and_then(|s| Uuid::parse_str(s).ok()));
            };
            let c = self.admin_connector(admin);
            let filter = match Uuid::parse_str(name) {
                Ok(id) => format!("systemuserid eq {id} or applicationid eq {id}"),
                Err(_) => {
                    format!("domainname eq {q} or internalemailaddress eq {q}", q = quote(name))
                }
            };
            let url = format!("systemusers?$select=systemuserid&$filter={}", urlencode(&filter));
            let v = c.get_json(&url, None).await?;
            Ok(v["value"][0]["systemuserid"].as_str().and_then(|s| Uuid::parse_str(s).ok()))
        })
    }

    fn import_solution<'a>(
        &'a self,
        admin: &'a AdminCredentials,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let c = self.admin_connector(admin);
            let (status, body) = c
                .send_json(
                    Method::POST,
                    "ImportSolution",
                    &json!({"SolutionName": "KontorIntegration"}),
                )
                .await?;
            if !status.is_success() {
                return Err(Self::rejected(format!(
                    "importing the solution failed: {}",
                    body["error"]["message"].as_str().unwrap_or(status.as_str())
                )));
            }
            Ok(())
        })
    }

    fn admin_roles<'a>(
        &'a self,
        admin: &'a AdminCredentials,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, ConnectorError>> {
        Box::pin(async move {
            let c = self.admin_connector(admin);
            let who = c.get_json("WhoAmI", None).await?;
            let Some(id) = who["UserId"].as_str().and_then(|s| Uuid::parse_str(s).ok()) else {
                return Ok(None);
            };
            let url = format!("systemusers({id})/systemuserroles_association");
            let v = match c.get_json(&url, None).await {
                Ok(v) => v,
                // Signed in, but not allowed to read roles: a System Administrator may read
                // everything, so the account holds none of the roles setup needs.
                Err(ConnectorError::Unauthorized { .. } | ConnectorError::Rejected { .. }) => {
                    return Ok(Some(Vec::new()));
                }
                Err(e) => return Err(e),
            };
            let names = v["value"].as_array().map(|roles| {
                roles.iter().filter_map(|r| r["name"].as_str().map(str::to_owned)).collect()
            });
            Ok(names)
        })
    }

    fn assign_role<'a>(
        &'a self,
        admin: &'a AdminCredentials,
        user: Uuid,
        role: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let c = self.admin_connector(admin);
            let url = format!(
                "roles?$select=roleid&$filter={}",
                urlencode(&format!("name eq {}", quote(role)))
            );
            let v = c.get_json(&url, None).await?;
            let Some(role_id) = v["value"][0]["roleid"].as_str().map(str::to_owned) else {
                return Err(Self::rejected(format!(
                    "the role '{role}' does not exist in Sales: import the integration solution first"
                )));
            };
            let (status, body) = c
                .send_json(
                    Method::POST,
                    &format!("systemusers({user})/systemuserroles_association/$ref"),
                    &json!({"@odata.id": format!("{}roles({role_id})", c.base())}),
                )
                .await?;
            let already = body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.to_lowercase().contains("already"));
            if !status.is_success() && !already {
                return Err(Self::rejected(format!(
                    "assigning the role '{role}' failed: {}",
                    body["error"]["message"].as_str().unwrap_or(status.as_str())
                )));
            }
            let _: Value = body;
            Ok(())
        })
    }
}
