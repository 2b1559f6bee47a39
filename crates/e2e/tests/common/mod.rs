//! The end-to-end world: a Financials server and a Sales server (each with its own database),
//! seeded through their APIs; setup, connectors, engine, job queue and worker as the product
//! wires them.

#![allow(dead_code)]

pub mod proxy;

use std::sync::Arc;
use std::time::Duration;

use kontor_connectors::setup::HttpSetupSides;
use kontor_connectors::{ClientOptions, Grant, ODataConnector, Secret};
use kontor_jobs::{Clock, Queue, SystemClock, Worker};
use kontor_sync::defaults::MappingOptions;
use kontor_sync::engine::Engine;
use kontor_sync::setup::{AdminCredentials, SetupRequest};
use kontor_sync::store::SyncStore;
use serde_json::{Value, json};
use uuid::Uuid;

pub struct World {
    pub fin: kontor_financials_server::testing::TestServer,
    pub sales: kontor_sales_server::testing::TestServer,
    /// Financials as ADMIN (for seeding and checks).
    pub fin_admin: Arc<ODataConnector>,
    /// Sales as admin.
    pub sales_admin: Arc<ODataConnector>,
    pub engine: Arc<Engine>,
    /// The engine's Sales connector (to look at its governor).
    pub sales_conn: Arc<ODataConnector>,
    pub queue: Queue,
    pub worker: Worker,
    pub store: SyncStore,
    pub clock: Arc<dyn Clock>,
    /// The integration user's Sales id.
    pub integration_user: Uuid,
    /// The integration's credentials as setup got them: the Financials user's web service key,
    /// the Sales application id and client secret.
    pub fin_key: String,
    pub sales_client_id: String,
    pub sales_client_secret: String,
    /// The Sales URL the integration was set up with and talks to: Sales itself, or the fault
    /// proxy in front of it ([`World::start_behind_proxy`]).
    pub sales_front: String,
    pub proxy: Option<proxy::FaultProxy>,
}

pub fn id(kind: &str, n: usize) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("kontor.e2e.{kind}.{n}").as_bytes())
}

#[allow(unused_imports)]
pub use kontor_e2e::{all, put, sales_tokens};

/// Size of the seeded data set.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub customers: usize,
    pub items: usize,
}

impl World {
    /// Starts both servers on `fin_url` / `sales_url` databases, with Sales service protection
    /// limits when given.
    pub async fn start(
        fin_url: &str,
        sales_url: &str,
        limits: Option<kontor_sales_server::Limits>,
    ) -> World {
        World::start_with(fin_url, sales_url, limits, MappingOptions::default()).await
    }

    /// [`World::start`] with the connection's mapping options (Unit Group Mapping).
    pub async fn start_with(
        fin_url: &str,
        sales_url: &str,
        limits: Option<kontor_sales_server::Limits>,
        options: MappingOptions,
    ) -> World {
        World::start_inner(fin_url, sales_url, limits, options, false).await
    }

    /// [`World::start`] with a [`proxy::FaultProxy`] in front of Sales: the integration is set up
    /// with the proxy's URL and all its Sales traffic (tokens included) goes through it; the
    /// test's own Sales admin talks to Sales directly.
    pub async fn start_behind_proxy(fin_url: &str, sales_url: &str) -> World {
        World::start_inner(fin_url, sales_url, None, MappingOptions::default(), true).await
    }

    async fn start_inner(
        fin_url: &str,
        sales_url: &str,
        limits: Option<kontor_sales_server::Limits>,
        options: MappingOptions,
        proxied: bool,
    ) -> World {
        let fin = kontor_financials_server::testing::spawn_for_test(fin_url).await;
        let config = kontor_sales_server::Config { limits, ..Default::default() };
        let sales = kontor_sales_server::testing::spawn_with(sales_url, config)
            .await
            .expect("sales server");
        let fin_admin = Arc::new(ODataConnector::financials(
            &fin.base_url,
            fin.company_id,
            "ADMIN",
            &fin.admin_password,
        ));
        let sales_admin = Arc::new(ODataConnector::dataverse(
            &sales.base_url,
            sales_tokens(
                &sales.base_url,
                Grant::Password {
                    username: "admin".into(),
                    password: Secret(sales.admin_password.clone()),
                },
            ),
        ));

        // The integration user in Financials, with a web service access key.
        let (status, user) = fin_admin
            .send_json(reqwest::Method::POST, "users", &json!({"userName": "INTEGRATION", "fullName": "Kontor Integration", "permissionSets": "D365 BUS FULL ACCESS", "state": "Enabled"}))
            .await
            .unwrap();
        assert!(status.is_success(), "creating the Financials integration user: {user}");
        let fin_user = user["id"].as_str().unwrap().to_owned();
        let (status, key) = fin_admin
            .send_json(
                reqwest::Method::POST,
                &format!("users({fin_user})/Microsoft.NAV.changeWebServiceKey"),
                &json!({}),
            )
            .await
            .unwrap();
        assert!(status.is_success(), "web service key: {key}");
        let key = key["value"].as_str().unwrap().to_owned();

        // The integration user in Sales: an application user with a client secret.
        let app_id = Uuid::new_v4();
        let integration_user = id("integration-user", 0);
        put(
            &sales_admin,
            "systemusers",
            "systemuserid",
            vec![(
                integration_user,
                json!({"applicationid": app_id, "firstname": "Kontor", "lastname": "Integration"}),
            )],
        )
        .await;
        let (status, secret) = sales_admin
            .send_json(
                reqwest::Method::POST,
                &format!(
                    "systemusers({integration_user})/Microsoft.Dynamics.CRM.kontor_SetClientSecret"
                ),
                &json!({}),
            )
            .await
            .unwrap();
        assert!(status.is_success(), "client secret: {secret}");
        let client_secret = secret["ClientSecret"].as_str().unwrap().to_owned();

        // Setup, as the guide does it, with the Sales URL the integration is to use.
        let proxy = match proxied {
            true => Some(proxy::FaultProxy::start(&sales.base_url).await),
            false => None,
        };
        let front = proxy.as_ref().map_or(sales.base_url.clone(), |p| p.url.clone());
        let fin_conn =
            ODataConnector::financials(&fin.base_url, fin.company_id, "INTEGRATION", &key);
        let sales_conn = ODataConnector::dataverse(
            &front,
            sales_tokens(
                &front,
                Grant::ClientCredentials {
                    client_id: app_id.to_string(),
                    client_secret: Secret(client_secret.clone()),
                },
            ),
        );
        let store = SyncStore::new(fin.db.clone());
        store.migrate().await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let sides = HttpSetupSides {
            financials: ODataConnector::financials(
                &fin.base_url,
                fin.company_id,
                "INTEGRATION",
                &key,
            ),
            sales: ODataConnector::dataverse(
                &front,
                sales_tokens(
                    &front,
                    Grant::ClientCredentials {
                        client_id: app_id.to_string(),
                        client_secret: Secret(client_secret.clone()),
                    },
                ),
            ),
            financials_root: fin.base_url.clone(),
            company_id: fin.company_id,
            sales_root: front.clone(),
        };
        let req = SetupRequest {
            financials_url: fin.base_url.clone(),
            company_id: fin.company_id,
            financials_user: "INTEGRATION".into(),
            sales_url: front.clone(),
            sales_user: app_id.to_string(),
            import_solution: true,
            admin: Some(AdminCredentials {
                user: "admin".into(),
                password: sales.admin_password.clone(),
            }),
            enable: None,
        };
        let report = kontor_sync::setup::setup_with(&store, &sides, req, options, clock.now())
            .await
            .expect("setup");
        assert!(report.role_assigned && report.solution_imported);
        let settings = store.connection().await.unwrap().unwrap();
        let opts =
            ClientOptions { max_retry_after: Duration::from_secs(2), ..ClientOptions::default() };
        let sales_conn = Arc::new(sales_conn.with_options(opts.clone()));
        let engine = Arc::new(Engine::new(
            store.clone(),
            Arc::new(fin_conn.with_options(opts)),
            sales_conn.clone(),
            settings,
            clock.clone(),
        ));
        let queue = Queue::with_clock(fin.db.clone(), clock.clone());
        let worker =
            Worker::new(queue.clone(), kontor_sync::jobs::handlers(engine.clone(), queue.clone()));
        World {
            fin,
            sales,
            fin_admin,
            sales_admin,
            engine,
            sales_conn,
            queue,
            worker,
            store,
            clock,
            integration_user,
            fin_key: key,
            sales_client_id: app_id.to_string(),
            sales_client_secret: client_secret,
            sales_front: front,
            proxy,
        }
    }

    /// Seeds Financials with salespeople, currencies, units, customers with contacts, items,
    /// resources, price groups and prices; and Sales with one user per salesperson.
    pub async fn seed(&self, scale: Scale) {
        self.seed_reference().await;
        self.seed_customers(scale.customers).await;
        self.seed_contacts_items_and_prices(scale).await;
    }

    /// Salespeople (with their Sales users), currencies and units of measure.
    pub async fn seed_reference(&self) {
        let f = &self.fin_admin;
        put(f, "salespeople", "id", (0..5).map(|n| (id("sp", n), json!({"code": format!("SP{n}"), "displayName": format!("Seller {n}"), "email": format!("sp{n}@kontor.test")}))).collect()).await;
        put(
            &self.sales_admin,
            "systemusers",
            "systemuserid",
            (0..5).map(|n| (id("user", n), json!({"firstname": "Seller", "lastname": format!("{n}"), "domainname": format!("sp{n}@kontor.test"), "internalemailaddress": format!("sp{n}@kontor.test")}))).collect(),
        )
        .await;
        put(f, "currencies", "id", vec![
            (id("cur", 0), json!({"code": "EUR", "displayName": "Euro", "symbol": "€", "exchangeRate": 1.1})),
            (id("cur", 1), json!({"code": "GBP", "displayName": "Pound", "symbol": "£", "exchangeRate": 0.9})),
        ])
        .await;
        put(
            f,
            "unitsOfMeasure",
            "id",
            ["PCS", "BOX", "HOUR"]
                .iter()
                .enumerate()
                .map(|(n, c)| (id("uom", n), json!({"code": c, "displayName": c})))
                .collect(),
        )
        .await;
    }

    /// Customers `0..n` (after [`World::seed_reference`]).
    pub async fn seed_customers(&self, n: usize) {
        let customers: Vec<(Uuid, Value)> = (0..n)
            .map(|n| {
                let currency = match n % 3 { 0 => "EUR", 1 => "GBP", _ => "" };
                (id("cust", n), json!({"number": format!("C{n:05}"), "displayName": format!("Customer {n}"), "salespersonCode": format!("SP{}", n % 5),
                    "currencyCode": currency, "phoneNumber": format!("+47 {n:08}"), "email": format!("c{n}@example.com"), "city": "Oslo", "addressLine1": format!("Street {n}")}))
            })
            .collect();
        put(&self.fin_admin, "customers", "id", customers).await;
    }

    /// A company contact and a person per customer, items, resources, price groups and prices.
    async fn seed_contacts_items_and_prices(&self, scale: Scale) {
        let f = &self.fin_admin;
        let companies: Vec<(Uuid, Value)> =
            (0..scale.customers).map(|n| (id("company", n), json!({"number": format!("C{n:05}"), "type": "Company", "displayName": format!("Customer {n}")}))).collect();
        put(f, "contacts", "id", companies).await;
        let persons: Vec<(Uuid, Value)> = (0..scale.customers)
            .map(|n| (id("person", n), json!({"number": format!("P{n:05}"), "type": "Person", "displayName": format!("Person Number{n}"), "companyNumber": format!("C{n:05}"), "email": format!("p{n}@example.com"), "jobTitle": "Buyer"})))
            .collect();
        put(f, "contacts", "id", persons).await;
        let items: Vec<(Uuid, Value)> = (0..scale.items)
            .map(|n| (id("item", n), json!({"number": format!("I{n:05}"), "displayName": format!("Item {n}"), "baseUnitOfMeasureCode": if n % 2 == 0 { "PCS" } else { "BOX" }, "unitPrice": 10 + n, "unitCost": 5 + n})))
            .collect();
        put(f, "items", "id", items).await;
        put(f, "resources", "id", (0..3).map(|n| (id("res", n), json!({"number": format!("R{n:03}"), "displayName": format!("Consultant {n}"), "baseUnitOfMeasureCode": "HOUR", "unitPrice": 100, "unitCost": 60}))).collect()).await;
        put(
            f,
            "customerPriceGroups",
            "id",
            vec![
                (id("cpg", 0), json!({"code": "RETAIL", "displayName": "Retail"})),
                (id("cpg", 1), json!({"code": "WHOLESALE", "displayName": "Wholesale"})),
            ],
        )
        .await;
        let prices: Vec<(Uuid, Value)> = (0..scale.items.min(100))
            .map(|n| (id("price", n), json!({"itemNumber": format!("I{n:05}"), "customerPriceGroupCode": if n % 2 == 0 { "RETAIL" } else { "WHOLESALE" }, "unitOfMeasureCode": if n % 2 == 0 { "PCS" } else { "BOX" }, "minimumQuantity": 0, "unitPrice": 9 + n})))
            .collect();
        put(f, "salesPrices", "id", prices).await;
    }

    /// Runs the full synchronization through the review and the job queue until it is done.
    pub async fn full_sync(&self) {
        self.engine.prepare_full_sync().await.unwrap();
        self.engine.advance_full_sync(&self.queue).await.unwrap();
        loop {
            let ran = self.worker.run_once(self.clock.now()).await.unwrap();
            if ran.is_none() {
                let status = self.engine.review_status().await.unwrap();
                if status.iter().all(|s| {
                    s.job_queue_entry_status == "Finished" || s.job_queue_entry_status == "Error"
                }) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Every error of every synch job, for failure messages.
    pub async fn errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        for j in self.store.jobs(None, 1000).await.unwrap() {
            for e in self.store.job_errors(j.id).await.unwrap() {
                out.push(format!(
                    "{} {}: {} ({} → {})",
                    j.mapping, j.direction, e.message, e.source, e.destination
                ));
            }
        }
        out
    }
}
