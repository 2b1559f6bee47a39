//! Web API details: bad input, annotations, metadata, WhoAmI, bulk atomicity, upsert by alternate
//! key, $batch references and errors, service protection limits. On both backends.

mod common;

use std::time::Duration;

use common::Api;
use kontor_sales_server::{Config, Limits};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_a_400_in_the_dataverse_error_shape() {
    on_both_backends!(|server| {
        let api = Api::admin(&server).await;
        let r = api.post("accounts", json!({"name": "A", "foo": 1})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.code(), "0x80048d19");
        assert!(
            r.message().contains(
                "The property 'foo' does not exist on type 'Microsoft.Dynamics.CRM.account'"
            ),
            "{}",
            r.text
        );
        let r = api.post("accounts", json!({"name": 42})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.message().contains("Edm.String"), "{}", r.text);
        let r = api.post("accounts", json!({"name": "A", "creditlimit": "lots"})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api.post("accounts", json!({"name": "x".repeat(161)})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.message().contains("maximum allowed length of '160'"), "{}", r.text);
        let r = api.post("accounts", json!({"name": "A", "customertypecode": 99})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let ghost = uuid::Uuid::new_v4();
        let r = api.post("contacts", json!({"lastname": "X", "parentcustomerid_account@odata.bind": format!("/accounts({ghost})")})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(r.message().contains(&ghost.to_string()), "{}", r.text);
        let r = api
            .post(
                "contacts",
                json!({"lastname": "X", "parentcustomerid_account@odata.bind": "/contacts(1)"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api
            .post("accounts", json!({"name": "A", "nosuchnav@odata.bind": "/accounts(1)"}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api.send(reqwest::Method::POST, "accounts", None, &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r =
            api.post("salesorders", json!({"name": "O", "statecode": 4, "statuscode": 1})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        let r = api.get("nosuchset").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.message(), "Resource not found for the segment 'nosuchset'.");
        let r = api.get("accounts?$filter=name eq").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api.get("accounts?$bogus=1").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api.get("accounts(nosuchkey='x')").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api.batch("not a batch", "b").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.json()["error"]["code"].is_string());
        let r = api
            .batch(
                "--b\r\nContent-Type: application/http\r\n\r\nGET accounts HTTP/1.1\r\n\r\n",
                "b",
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "unterminated: {}", r.text);
        assert_eq!(
            api.get("accounts").await.json()["value"].as_array().unwrap().len(),
            0,
            "nothing was written"
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn annotations_metadata_who_am_i_and_sales_order_states_answer_like_dataverse() {
    on_both_backends!(|server| {
        let api = Api::admin(&server).await;
        let who = api.get("WhoAmI()").await.json();
        assert!(
            who["@odata.context"]
                .as_str()
                .unwrap()
                .ends_with("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse")
        );
        assert!(who["BusinessUnitId"].is_string() && who["OrganizationId"].is_string());
        let meta = api.get("$metadata").await;
        assert_eq!(meta.status, StatusCode::OK);
        assert!(
            meta.text.contains("<EntitySet Name=\"salesorders\" EntityType=\"mscrm.salesorder\">")
        );
        assert!(
            !meta.text.contains("kontor_financialsordernumber"),
            "solution columns hidden before import"
        );

        let acc = api.create("accounts", json!({"name": "Northwind", "customertypecode": 3, "creditonhold": false, "creditlimit": 1234.5})).await;
        let aid = acc["accountid"].as_str().unwrap();
        let c = api.create("contacts", json!({"firstname": "Nancy", "lastname": "Davolio", "parentcustomerid_account@odata.bind": format!("/accounts({aid})")})).await;
        assert_eq!(c["fullname"], "Nancy Davolio");
        assert_eq!(c["_parentcustomerid_value"], aid);
        assert_eq!(c["parentcustomeridtype"], "account");
        let r = api
            .get_with(
                "contacts?$select=fullname,statecode,_parentcustomerid_value&$count=true",
                &[("Prefer", "odata.include-annotations=\"*\"")],
            )
            .await;
        assert!(r.header("Preference-Applied").unwrap().contains("odata.include-annotations"));
        let j = r.json();
        assert_eq!(j["@odata.count"], 1);
        let row = &j["value"][0];
        assert_eq!(row["statecode@OData.Community.Display.V1.FormattedValue"], "Active");
        assert_eq!(
            row["_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"],
            "Northwind"
        );
        assert_eq!(
            row["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
            "account"
        );
        assert_eq!(
            row["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"],
            "parentcustomerid_account"
        );
        let a = api
            .get_with(
                &format!("accounts({aid})"),
                &[(
                    "Prefer",
                    "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"",
                )],
            )
            .await
            .json();
        assert_eq!(a["customertypecode@OData.Community.Display.V1.FormattedValue"], "Customer");
        assert_eq!(a["creditlimit@OData.Community.Display.V1.FormattedValue"], "1,234.50");
        assert_eq!(a["creditlimit"], 1234.5);

        // 304 on an unchanged row.
        let r = api.get(&format!("accounts({aid})")).await;
        let etag = r.header("ETag").unwrap();
        let r = api.get_with(&format!("accounts({aid})"), &[("If-None-Match", &etag)]).await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);

        // Sales order states: Active/New on create, Submitted takes its default status.
        let o = api.create("salesorders", json!({"name": "Order", "customerid_account@odata.bind": format!("/accounts({aid})")})).await;
        assert_eq!((o["statecode"].as_i64(), o["statuscode"].as_i64()), (Some(0), Some(1)));
        assert!(o["ordernumber"].as_str().unwrap().starts_with("ORD-"));
        let oid = o["salesorderid"].as_str().unwrap();
        let r = api
            .patch(
                &format!("salesorders({oid})"),
                json!({"statecode": 1}),
                &[("Prefer", "return=representation")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json()["statuscode"], 3);
        let r = api
            .patch(
                &format!("salesorders({oid})"),
                json!({"statecode": 4, "statuscode": 100003}),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);

        // Expand a collection-valued navigation.
        let lines = api.create("salesorderdetails", json!({"salesorderid@odata.bind": format!("/salesorders({oid})"), "quantity": 3, "priceperunit": 2.5, "isproductoverridden": true, "productdescription": "Write-in"})).await;
        assert_eq!(lines["quantity"], 3);
        let r = api
            .get(&format!(
                "salesorders({oid})?$select=name&$expand=order_details($select=quantity)"
            ))
            .await;
        assert_eq!(r.json()["order_details"].as_array().unwrap().len(), 1, "{}", r.text);
    });
}

fn batch_with_reference(account_body: &str) -> String {
    format!(
        "--batch_R\r\nContent-Type: multipart/mixed; boundary=changeset_R\r\n\r\n\
--changeset_R\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
POST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{account_body}\r\n\
--changeset_R\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n\
POST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{{\"lastname\":\"Ref\",\"parentcustomerid_account@odata.bind\":\"$1\"}}\r\n\
--changeset_R\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 3\r\n\r\n\
PATCH $1 HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{{\"telephone1\":\"555\"}}\r\n\
--changeset_R--\r\n\
--batch_R\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
GET /api/data/v9.2/contacts?$select=lastname,_parentcustomerid_value HTTP/1.1\r\nAccept: application/json\r\n\r\n\
--batch_R--\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_resolve_content_id_references_and_bulk_messages_are_all_or_nothing() {
    on_both_backends!(|server| {
        let api = Api::admin(&server).await;
        let r = api.batch(&batch_with_reference("{\"name\":\"Batch account\"}"), "batch_R").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("multipart/mixed; boundary=batchresponse_")
        );
        assert_eq!(r.text.matches("HTTP/1.1 204").count(), 3, "{}", r.text);
        assert!(r.text.contains("Content-ID: 2"));
        assert!(r.text.contains("HTTP/1.1 200 OK"));
        let acc = api.get("accounts?$select=telephone1,name").await.json();
        assert_eq!(acc["value"][0]["telephone1"], "555");
        let aid = acc["value"][0]["accountid"].as_str().unwrap().to_owned();
        let c = api.get("contacts?$select=_parentcustomerid_value").await.json();
        assert_eq!(c["value"][0]["_parentcustomerid_value"], aid.as_str());

        // CreateMultiple of 1,000 accounts in one transaction: one bad target, nothing written.
        let mut targets: Vec<Value> = (0..1000)
            .map(|i| json!({"@odata.type": "Microsoft.Dynamics.CRM.account", "name": format!("Bulk {i}"), "accountnumber": format!("B{i}")}))
            .collect();
        targets[998]["name"] = json!(5);
        let r = api
            .post(
                "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
                json!({"Targets": targets.clone()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        let all = api.get("accounts?$select=name&$count=true").await.json();
        assert_eq!(all["@odata.count"], 1, "the failed CreateMultiple left nothing behind");
        targets[998]["name"] = json!("Bulk 998");
        let r = api
            .post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json!({"Targets": targets}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let ids = r.json()["Ids"].as_array().unwrap().clone();
        assert_eq!(ids.len(), 1000);
        assert!(
            r.json()["@odata.context"]
                .as_str()
                .unwrap()
                .ends_with("#Microsoft.Dynamics.CRM.CreateMultipleResponse")
        );
        let r = api
            .post(
                "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
                json!({"Targets": [{"name": "no type"}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);

        // UpdateMultiple by key and by alternate key; UpsertMultiple creates what is missing.
        let upd = json!({"Targets": [
            {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": ids[0], "telephone1": "1"},
            {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountnumber": "B1", "telephone1": "2"}]});
        let r = api.post("accounts/Microsoft.Dynamics.CRM.UpdateMultiple", upd).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        assert_eq!(
            api.get("accounts(accountnumber='B1')?$select=telephone1").await.json()["telephone1"],
            "2"
        );
        let ups = json!({"Targets": [
            {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountnumber": "B2", "telephone1": "3"},
            {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountnumber": "NEW-1", "name": "New"}]});
        let r = api.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", ups).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json()["Results"][1]["RecordCreated"], true);
        assert_eq!(
            api.get("accounts(accountnumber='NEW-1')?$select=name").await.json()["name"],
            "New"
        );

        // PATCH by a missing alternate key creates the row with the key values.
        let r =
            api.patch("accounts(accountnumber='ALT-9')", json!({"name": "Upserted"}), &[]).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        assert_eq!(
            api.get("accounts(accountnumber='ALT-9')?$select=name").await.json()["name"],
            "Upserted"
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn service_protection_limits_answer_429_with_retry_after() {
    for db in kontor_testkit::backends().await {
        println!("running on {}", db.name);
        let limits =
            Limits { window: Duration::from_secs(60), max_requests: 5, ..Limits::default() };
        let server = kontor_sales_server::testing::spawn_with(
            &db.url,
            Config { limits: Some(limits), ..Config::default() },
        )
        .await
        .unwrap();
        let api = Api::admin(&server).await;
        for _ in 0..5 {
            assert_eq!(api.get("WhoAmI").await.status, StatusCode::OK);
        }
        let r = api.get("WhoAmI").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
        assert_eq!(r.code(), "0x80072322");
        let retry: u64 = r.header("Retry-After").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert!(r.message().contains(
            "Number of requests exceeded the limit of 5 over time window of 60 seconds."
        ));
        println!("passed on {}", db.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entity_definitions_and_bulk_message_probes_describe_the_tables() {
    on_both_backends!(|server| {
        let api = Api::admin(&server).await;
        let r = api.get("EntityDefinitions(LogicalName='account')?$select=EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let j = r.json();
        assert_eq!(j["EntitySetName"], "accounts");
        assert_eq!(j["PrimaryIdAttribute"], "accountid");
        assert_eq!(j["PrimaryNameAttribute"], "name");
        assert!(j["MetadataId"].is_string());
        assert!(j.get("ObjectTypeCode").is_none(), "$select applies");
        let attrs = api.get("EntityDefinitions(LogicalName='contact')/Attributes?$select=LogicalName,AttributeType").await.json();
        let parent = attrs["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["LogicalName"] == "parentcustomerid")
            .unwrap()
            .clone();
        assert_eq!(parent["AttributeType"], "Customer");
        let keys = api.get("EntityDefinitions(LogicalName='uom')/Keys").await.json();
        assert_eq!(keys["value"][0]["KeyAttributes"], json!(["name", "uomscheduleid"]));
        let rel =
            api.get("EntityDefinitions(LogicalName='contact')/ManyToOneRelationships").await.json();
        assert!(rel["value"].as_array().unwrap().iter().any(|r| r["ReferencingEntityNavigationPropertyName"] == "parentcustomerid_account"));
        assert_eq!(
            api.get("EntityDefinitions(LogicalName='nosuch')").await.status,
            StatusCode::NOT_FOUND
        );
        let probe = api
            .get("sdkmessagefilters?$select=sdkmessagefilterid&$expand=sdkmessageid($select=name)&$filter=(sdkmessageid/name eq 'CreateMultiple' or sdkmessageid/name eq 'UpdateMultiple') and primaryobjecttypecode eq 'salesorder'")
            .await
            .json();
        let names: Vec<&str> = probe["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["sdkmessageid"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["CreateMultiple", "UpdateMultiple"]);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_properties_references_and_counts_can_be_addressed() {
    on_both_backends!(|server| {
        let api = Api::admin(&server).await;
        let c = api.create("contacts", json!({"lastname": "Ref"})).await;
        let cid = c["contactid"].as_str().unwrap().to_owned();
        let a = api
            .create(
                "accounts",
                json!({"name": "Acme", "primarycontactid@odata.bind": format!("/contacts({cid})")}),
            )
            .await;
        let aid = a["accountid"].as_str().unwrap().to_owned();
        assert_eq!(a["_primarycontactid_value"], cid.as_str());

        let r = api.get(&format!("accounts({aid})/name")).await;
        assert_eq!(r.json()["value"], "Acme", "{}", r.text);
        let r = api
            .send(
                reqwest::Method::PUT,
                &format!("accounts({aid})/name"),
                Some(&json!({"value": "Acme Ltd"})),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        assert_eq!(api.get(&format!("accounts({aid})/name")).await.json()["value"], "Acme Ltd");

        let r = api.delete(&format!("accounts({aid})/primarycontactid/$ref"), &[]).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let a = api.get(&format!("accounts({aid})?$select=_primarycontactid_value")).await.json();
        assert!(a["_primarycontactid_value"].is_null(), "{a}");

        let r = api.get("accounts/$count").await;
        assert_eq!(r.text, "1");
        let r = api.get(&format!("accounts({aid})/nosuch")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_in_memory_sqlite_database_serves_every_request_on_its_single_connection() {
    let server = common::spawn_for_test("sqlite::memory:").await.unwrap();
    let api = Api::admin(&server).await;
    let me = api.who_am_i().await;
    let r = api.post("ImportSolution", json!({"SolutionName": "KontorIntegration"})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let roles = api.get(&format!("systemusers({me})/systemuserroles_association")).await;
    assert_eq!(roles.json()["value"].as_array().unwrap().len(), 2, "{}", roles.text);
    let r = api
        .post(
            "kontor_SetFinancialsConnection",
            json!({"ODataUrl": "http://f", "UserName": "u", "AccessKey": "k"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(api.get("kontor_GetFinancialsConnection()").await.json()["HasAccessKey"], true);
    let r = api.batch(&batch_with_reference("{\"name\":\"Memory\"}"), "batch_R").await;
    assert_eq!(r.text.matches("HTTP/1.1 204").count(), 3, "{}", r.text);
}
