//! Auth, the change feed, `$batch`, `$metadata` and the item availability web service, on SQLite
//! and PostgreSQL.

mod common;

use common::start;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn every_route_needs_credentials_and_permission_sets_limit_what_users_do() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        let anon = api.http.get(api.url("customers")).send().await.unwrap();
        assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
        assert!(
            anon.headers()
                .get("www-authenticate")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("Basic realm=")
        );
        let body: Value = anon.json().await.unwrap();
        assert_eq!(body["error"]["code"], "Authentication_InvalidCredentials");
        for path in ["/api/v2.0/$metadata", "/api/v2.0/companies", "/ODataV4/$metadata"] {
            let r = api.http.get(api.url(path)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
        let wrong = api.as_user("ADMIN", "not the password");
        assert_eq!(wrong.get("customers").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(api.get("customers").await.status, StatusCode::OK);

        let reader = api.user_with("READER", "D365 READ").await;
        assert_eq!(reader.get("customers").await.status, StatusCode::OK);
        let r = reader.post("customers", json!({"displayName": "nope"})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(reader.get("users").await.status, StatusCode::FORBIDDEN);
        let writer = api.user_with("CLERK", "D365 BUS FULL ACCESS").await;
        let c = writer.create("customers", json!({"displayName": "by clerk"})).await;
        let clerk = api.get("users?$filter=userName eq 'CLERK'").await.values()[0]["id"].clone();
        assert_eq!(c["systemModifiedBy"], clerk, "who wrote it is recorded");
        assert_eq!(
            writer.post("users", json!({"userName": "X"})).await.status,
            StatusCode::FORBIDDEN
        );

        // the last SUPER cannot be demoted, disabled or deleted
        let admin = api.get("users?$filter=userName eq 'ADMIN'").await.values()[0].clone();
        let admin_url = format!("users({})", admin["id"].as_str().unwrap());
        let r = api
            .patch(
                &admin_url,
                admin["@odata.etag"].as_str().unwrap(),
                json!({"permissionSets": "D365 READ"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(r.error_message().contains("last enabled user with SUPER"), "{}", r.text);
        assert_eq!(api.delete(&admin_url, "*").await.status, StatusCode::BAD_REQUEST);
        api.user_with("SECOND", "SUPER").await;
        let r = api.patch(&admin_url, "*", json!({"permissionSets": "SUPER,D365 READ"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);

        // a disabled user is refused at once
        let u = api.get("users?$filter=userName eq 'READER'").await.values()[0].clone();
        let r = api
            .patch(
                &format!("users({})", u["id"].as_str().unwrap()),
                u["@odata.etag"].as_str().unwrap(),
                json!({"state": "Disabled"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(reader.get("customers").await.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn a_rotated_web_service_key_stops_working_at_once() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        api.user_with("INTEGRATION", "D365 BUS FULL ACCESS").await;
        let uid = api.get("users?$filter=userName eq 'INTEGRATION'").await.values()[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let first =
            api.post(&format!("users({uid})/Microsoft.NAV.changeWebServiceKey"), json!({})).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text);
        let key1 = first.body["value"].as_str().unwrap().to_owned();
        let with_key = api.as_user("INTEGRATION", &key1);
        assert_eq!(with_key.get("customers").await.status, StatusCode::OK);
        let user = api.get(&format!("users({uid})")).await;
        assert_eq!(user.body["hasWebServiceKey"], json!(true));
        assert!(!user.text.contains(&key1), "the key is never shown again");

        let second =
            api.post(&format!("users({uid})/Microsoft.NAV.changeWebServiceKey"), json!({})).await;
        let key2 = second.body["value"].as_str().unwrap().to_owned();
        assert_ne!(key1, key2);
        assert_eq!(with_key.get("customers").await.status, StatusCode::UNAUTHORIZED, "old key");
        assert_eq!(
            api.as_user("integration", &key2).get("customers").await.status,
            StatusCode::OK,
            "new key"
        );

        let expired = api
            .post(
                &format!("users({uid})/Microsoft.NAV.changeWebServiceKey"),
                json!({"expiryDateTime": "2020-01-01T00:00:00Z"}),
            )
            .await;
        let key3 = expired.body["value"].as_str().unwrap().to_owned();
        assert_eq!(
            api.as_user("INTEGRATION", &key3).get("customers").await.status,
            StatusCode::UNAUTHORIZED,
            "expired key"
        );
        assert_eq!(
            api.as_user("INTEGRATION", &key2).get("customers").await.status,
            StatusCode::UNAUTHORIZED,
            "replaced key"
        );

        // a password change invalidates the cached password at once
        let user = api.get(&format!("users({uid})")).await;
        let r = api
            .patch(
                &format!("users({uid})"),
                &user.etag(),
                json!({"password": "Another-Password-2"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            api.as_user("INTEGRATION", "INTEGRATION-Password-1").get("customers").await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            api.as_user("INTEGRATION", "Another-Password-2").get("customers").await.status,
            StatusCode::OK
        );
    })
    .await;
}

#[tokio::test]
async fn product_item_availability_is_served_to_permitted_users_only() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        api.create("unitsOfMeasure", json!({"code": "PCS"})).await;
        let item = api
            .create(
                "items",
                json!({"number": "1000", "displayName": "Bike", "baseUnitOfMeasureCode": "PCS"}),
            )
            .await;
        api.patch(
            &format!("items({})", item["id"].as_str().unwrap()),
            item["@odata.etag"].as_str().unwrap(),
            json!({"inventory": 12}),
        )
        .await;
        let reader = api.user_with("READER", "D365 READ").await;
        let avail = api.user_with("CRMINT", "D365 ITEM AVAILABILITY").await;
        let path =
            "/ODataV4/Company('KONTOR')/ProductItemAvailability?$filter=ItemNo%20eq%20'1000'";
        assert_eq!(reader.get(path).await.status, StatusCode::FORBIDDEN);
        let r = avail.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let row = &r.values()[0];
        assert_eq!(row["ItemNo"], "1000");
        assert_eq!(row["UOM"], "PCS");
        assert_eq!(row["Inventory"], json!(12));
        assert_eq!(row["CRM_ID"], Value::Null);
        assert_eq!(avail.get("customers").await.status, StatusCode::FORBIDDEN);
        assert_eq!(
            avail.get("/ODataV4/Company('NOPE')/ProductItemAvailability").await.status,
            StatusCode::NOT_FOUND
        );
        let meta = avail.get("/ODataV4/$metadata").await;
        assert!(meta.text.contains("ProductItemAvailability"));
    })
    .await;
}

#[tokio::test]
async fn the_change_feed_returns_exactly_the_rows_changed_and_deleted_since_the_token() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        let mut ids = Vec::new();
        for n in 0..5 {
            ids.push(
                api.create("customers", json!({"displayName": format!("C{n}")})).await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        // initial read, paged
        let track = [("Prefer", "odata.track-changes, odata.maxpagesize=2")];
        let mut r = api.send(Method::GET, "customers", None, &track).await;
        let mut seen = Vec::new();
        loop {
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            seen.extend(r.values().iter().map(|v| v["id"].as_str().unwrap().to_owned()));
            match r.body["@odata.nextLink"].as_str() {
                Some(next) => r = api.send(Method::GET, next, None, &track).await,
                None => break,
            }
        }
        assert_eq!(seen, ids, "all rows in version order");
        let delta =
            r.body["@odata.deltaLink"].as_str().expect("a delta link on the last page").to_owned();
        assert!(delta.contains("$deltatoken="));

        // nothing changed yet
        let r = api.get(&delta).await;
        assert_eq!(r.values().len(), 0, "{}", r.text);

        // change one, delete one, create one
        let c1 = api.get(&format!("customers({})", ids[1])).await;
        api.patch(&format!("customers({})", ids[1]), &c1.etag(), json!({"city": "Oslo"})).await;
        let c3 = api.get(&format!("customers({})", ids[3])).await;
        assert_eq!(
            api.delete(&format!("customers({})", ids[3]), &c3.etag()).await.status,
            StatusCode::NO_CONTENT
        );
        let new = api.create("customers", json!({"displayName": "C5"})).await["id"]
            .as_str()
            .unwrap()
            .to_owned();

        let r = api.get(&delta).await;
        assert_eq!(r.status, StatusCode::OK);
        let v = r.values();
        assert_eq!(v.len(), 3, "{}", r.text);
        assert_eq!(v[0]["id"], json!(ids[1]));
        assert_eq!(v[0]["city"], "Oslo");
        assert!(v[0]["@odata.etag"].is_string());
        assert_eq!(v[1]["id"], json!(ids[3]));
        assert_eq!(v[1]["reason"], "deleted");
        assert!(v[1]["@odata.context"].as_str().unwrap().ends_with("customers/$deletedEntity"));
        assert_eq!(v[2]["id"], json!(new));
        let next_delta = r.body["@odata.deltaLink"].as_str().unwrap().to_owned();
        assert_eq!(api.get(&next_delta).await.values().len(), 0, "nothing since");

        // other sets' changes do not show up; $select applies; paging of deltas
        api.create("salespeople", json!({"code": "X"})).await;
        assert_eq!(api.get(&next_delta).await.values().len(), 0);
        for n in 0..3 {
            api.create("customers", json!({"displayName": format!("D{n}")})).await;
        }
        let page = api
            .send(
                Method::GET,
                &format!("{next_delta}&$select=displayName"),
                None,
                &[("Prefer", "odata.maxpagesize=2")],
            )
            .await;
        assert_eq!(page.values().len(), 2, "{}", page.text);
        assert!(page.values()[0].get("city").is_none());
        let next = page.body["@odata.nextLink"].as_str().unwrap();
        let last = api.get(next).await;
        assert_eq!(last.values().len(), 1);
        assert!(last.body["@odata.deltaLink"].is_string());

        let r = api
            .send(
                Method::GET,
                "customers?$filter=displayName eq 'x'",
                None,
                &[("Prefer", "odata.track-changes")],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(api.get("customers?$deltatoken=abc").await.status, StatusCode::BAD_REQUEST);
    })
    .await;
}

fn part(method: &str, url: &str, content_id: &str, body: Option<Value>) -> String {
    let mut s = format!(
        "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {content_id}\r\n\r\n{method} {url} HTTP/1.1\r\n"
    );
    match body {
        Some(b) => {
            let text = b.to_string();
            s.push_str(&format!("Content-Type: application/json\r\nIf-Match: *\r\n\r\n{text}\r\n"));
        }
        None => s.push_str("\r\n"),
    }
    s
}

#[tokio::test]
async fn batch_change_sets_are_atomic_and_reference_earlier_results() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        let company = api.server.company_url();
        let c = format!("/api/v2.0/companies({})", api.server.company_id);
        // A change set: create a customer, then an order for it by $1… reference through a GET-less path.
        let cs_ok = format!(
            "--cs1\r\n{}--cs1\r\n{}--cs1--\r\n",
            part("POST", &format!("{c}/customers"), "1", Some(json!({"number": "B1", "displayName": "Batch one"}))),
            part("PATCH", "$1", "2", Some(json!({"city": "Rome"}))),
        );
        let cs_bad = format!(
            "--cs2\r\n{}--cs2\r\n{}--cs2--\r\n",
            part("POST", &format!("{c}/customers"), "3", Some(json!({"number": "B2", "displayName": "Batch two"}))),
            part("POST", &format!("{c}/customers"), "4", Some(json!({"number": "B3", "salespersonCode": "NOPE"}))),
        );
        let body = format!(
            "--b\r\nContent-Type: multipart/mixed; boundary=cs1\r\n\r\n{cs_ok}--b\r\nContent-Type: multipart/mixed; boundary=cs2\r\n\r\n{cs_bad}--b\r\n{}--b--\r\n",
            part("GET", &format!("{company}customers?$filter=number%20eq%20'B1'"), "5", None)
        );
        let r = api
            .http
            .post(api.url("/api/v2.0/$batch"))
            .basic_auth("ADMIN", Some(&api.secret))
            .header("Content-Type", "multipart/mixed; boundary=b")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let ct = r.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
        let bytes = r.bytes().await.unwrap();
        let parsed = kontor_odata::batch::parse_response(&ct, &bytes).unwrap();
        use kontor_odata::batch::ResponsePart;
        match &parsed.parts[0] {
            ResponsePart::ChangeSet(rs) => {
                assert_eq!(rs[0].status, 201);
                assert_eq!(rs[1].status, 200, "{}", String::from_utf8_lossy(&rs[1].body));
            }
            other => panic!("change set expected: {other:?}"),
        }
        match &parsed.parts[1] {
            ResponsePart::Response(r) => assert_eq!(r.status, 400, "the failing change set answers its error"),
            other => panic!("one error expected: {other:?}"),
        }
        match &parsed.parts[2] {
            ResponsePart::Response(r) => {
                let v: Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(v["value"][0]["city"], "Rome");
            }
            other => panic!("a response expected: {other:?}"),
        }
        let b2 = api.get("customers?$filter=number eq 'B2'").await;
        assert_eq!(b2.values().len(), 0, "the failed change set left nothing behind");

        // BC's JSON batch, atomic with Isolation: snapshot
        let r = api
            .send(
                Method::POST,
                "/api/v2.0/$batch",
                Some(json!({"requests": [
                    {"method": "POST", "id": "1", "url": format!("companies({})/salespeople", api.server.company_id), "headers": {"Content-Type": "application/json"}, "body": {"code": "J1"}},
                    {"method": "GET", "id": "2", "url": format!("companies({})/salespeople?$filter=code eq 'J1'", api.server.company_id)}
                ]})),
                &[("Isolation", "snapshot")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["responses"][0]["status"], json!(201));
        assert_eq!(r.body["responses"][1]["body"]["value"][0]["code"], "J1", "{}", r.text);

        // without Isolation, each operation stands alone: a failure undoes only itself
        let cid = api.server.company_id;
        let r = api
            .send(
                Method::POST,
                "/api/v2.0/$batch",
                Some(json!({"requests": [
                    {"method": "POST", "id": "a", "url": format!("companies({cid})/salespeople"), "body": {"code": "K1"}},
                    {"method": "POST", "id": "b", "url": format!("companies({cid})/salespeople"), "body": {"code": "K2", "blocked": "maybe"}},
                    {"method": "POST", "id": "c", "url": format!("companies({cid})/salespeople"), "body": {"code": "K3"}},
                    {"method": "POST", "id": "d", "url": format!("companies({cid})/salesOrders(00000000-0000-0000-0000-000000000000)/Microsoft.NAV.shipAndInvoice")}
                ]})),
                &[],
            )
            .await;
        let statuses: Vec<Value> = r.body["responses"].as_array().unwrap().iter().map(|x| x["status"].clone()).collect();
        assert_eq!(statuses, vec![json!(201), json!(400), json!(201), json!(404)], "{}", r.text);
        let codes = api.get("salespeople?$filter=startswith(code,'K')&$orderby=code").await;
        let codes: Vec<Value> = codes.values().iter().map(|x| x["code"].clone()).collect();
        assert_eq!(codes, vec![json!("K1"), json!("K3")]);

        // too many operations
        let many: Vec<Value> = (0..1001).map(|i| json!({"method": "GET", "id": i.to_string(), "url": "companies"})).collect();
        let r = api.send(Method::POST, "/api/v2.0/$batch", Some(json!({"requests": many})), &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    })
    .await;
}

/// A small XML reader: checks well-formedness and returns (element name, attributes) in order.
/// An element: its name and attributes.
type Element = (String, Vec<(String, String)>);

fn parse_xml(xml: &str) -> Result<Vec<Element>, String> {
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml.trim_start();
    if let Some(r) = rest.strip_prefix("<?xml") {
        rest = &r[r.find("?>").ok_or("unterminated declaration")? + 2..];
    }
    while let Some(open) = rest.find('<') {
        if !rest[..open].trim().is_empty() && stack.is_empty() {
            return Err("text outside the root".into());
        }
        let close = rest[open..].find('>').ok_or("unterminated tag")? + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack.pop().ok_or("close without open")?;
            if top != name.trim() {
                return Err(format!("</{name}> closes <{top}>"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let mut parts = tag.splitn(2, char::is_whitespace);
        let name = parts.next().ok_or("empty tag")?.to_owned();
        let mut attrs = Vec::new();
        let mut a = parts.next().unwrap_or("").trim();
        while !a.is_empty() {
            let eq = a.find('=').ok_or(format!("attribute without value in <{name}>"))?;
            let key = a[..eq].trim().to_owned();
            let v = a[eq + 1..].trim_start();
            let quote = v.chars().next().ok_or("missing value")?;
            if quote != '"' && quote != '\'' {
                return Err(format!("unquoted attribute {key}"));
            }
            let end = v[1..].find(quote).ok_or("unterminated attribute")? + 1;
            let value = v[1..end].to_owned();
            if value.contains('<') {
                return Err("'<' in an attribute".into());
            }
            attrs.push((key, value));
            a = v[end + 1..].trim_start();
        }
        if !self_closing {
            stack.push(name.clone());
        }
        out.push((name, attrs));
    }
    if !stack.is_empty() {
        return Err(format!("unclosed elements: {stack:?}"));
    }
    Ok(out)
}

#[tokio::test]
async fn metadata_is_well_formed_csdl_with_every_entity_set() {
    let dir = tempfile::tempdir().unwrap();
    let api = start(&kontor_testkit::sqlite_url(&dir)).await;
    let r = api.get("/api/v2.0/$metadata").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers.get("content-type").unwrap().to_str().unwrap().starts_with("application/xml")
    );
    let elements = parse_xml(&r.text).unwrap_or_else(|e| panic!("{e}\n{}", r.text));
    assert_eq!(elements[0].0, "edmx:Edmx");
    let attr = |e: &Element, k: &str| e.1.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let sets: Vec<String> =
        elements.iter().filter(|e| e.0 == "EntitySet").filter_map(|e| attr(e, "Name")).collect();
    for e in &kontor_financials::model().entity_types {
        assert!(sets.contains(&e.set_name), "entity set {} in $metadata", e.set_name);
    }
    let customer_props: Vec<String> = elements
        .iter()
        .skip_while(|e| !(e.0 == "EntityType" && attr(e, "Name").as_deref() == Some("customer")))
        .skip(1)
        .take_while(|e| e.0 != "EntityType")
        .filter(|e| e.0 == "Property")
        .filter_map(|e| attr(e, "Name"))
        .collect();
    for p in
        ["id", "number", "displayName", "balanceDue", "lastModifiedDateTime", "systemModifiedBy"]
    {
        assert!(customer_props.iter().any(|c| c == p), "customer.{p} in {customer_props:?}");
    }
    assert!(parse_xml("<a><b></a>").is_err());
    assert!(parse_xml("<a x=1/>").is_err());
}

#[tokio::test]
async fn a_delta_request_that_may_wait_returns_as_soon_as_something_changes() {
    kontor_testkit::for_each_backend(|url, _| async move {
        let api = start(&url).await;
        api.create("customers", json!({"displayName": "before"})).await;
        let r =
            api.send(Method::GET, "customers", None, &[("Prefer", "odata.track-changes")]).await;
        let delta = r.body["@odata.deltaLink"].as_str().unwrap().to_owned();

        let started = std::time::Instant::now();
        let r = api.send(Method::GET, &delta, None, &[("Prefer", "wait=1")]).await;
        assert_eq!(r.values().len(), 0);
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(900),
            "waited for the timeout"
        );

        let waiter = {
            let http = api.http.clone();
            let url = delta.clone();
            let secret = api.secret.clone();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let r = http
                    .get(url)
                    .basic_auth("ADMIN", Some(secret))
                    .header("Prefer", "wait=20")
                    .send()
                    .await
                    .unwrap();
                let body: Value = r.json().await.unwrap();
                (started.elapsed(), body)
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        api.create("customers", json!({"displayName": "after"})).await;
        let (elapsed, body) = waiter.await.unwrap();
        assert_eq!(body["value"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(body["value"][0]["displayName"], "after");
        assert!(
            elapsed < std::time::Duration::from_secs(10),
            "woken by the write, not the timeout: {elapsed:?}"
        );
    })
    .await;
}
