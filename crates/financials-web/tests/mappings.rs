//! Integration Table Mappings on a fresh setup (SQLite): editing a table mapping and its field
//! mappings (bad input next to the field, what was typed kept, nothing written), Export to a
//! file and Import of one (validated as a whole; a bad file writes nothing and names the line),
//! and who may do what.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use kontor_sync::Direction;
use support::{ADMIN_PASSWORD, Answer, Client, PASSWORD, Setup, setup};

async fn fresh() -> (tempfile::TempDir, Setup) {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&kontor_testkit::sqlite_url(&dir)).await;
    (dir, s)
}

async fn signed_in(s: &Setup, user: &str, password: &str) -> Client {
    let mut c = Client::new(kontor_financials_web::router(s.state.clone()));
    let answer = c.sign_in(user, password).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{user} signs in: {}", answer.body);
    c
}

fn error_of(body: &str, id: &str) -> String {
    support::value_between(
        body,
        &format!("<span id=\"{id}-error\" class=\"error\" role=\"alert\">"),
        "</span>",
    )
}

/// Uploads `file` to Import as a browser does (`multipart/form-data`, the CSRF token a part).
async fn upload(c: &mut Client, file: Option<&str>) -> Answer {
    let b = "----kontor-test-boundary";
    let mut body =
        format!("--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n", c.csrf);
    let (name, text) = file.map_or(("", ""), |t| ("mappings.json", t));
    body.push_str(&format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/json\r\n\r\n{text}\r\n--{b}--\r\n"
    ));
    let cookies: Vec<String> = c.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let req = Request::builder()
        .method(Method::POST)
        .uri("/integration-table-mappings/import")
        .header(header::HOST, "erp.test")
        .header(header::ACCEPT, "text/html")
        .header("origin", "http://erp.test")
        .header(header::COOKIE, cookies.join("; "))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={b}"))
        .body(Body::from(body))
        .unwrap();
    c.send(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_table_mapping_shows_a_bad_filter_or_direction_next_to_its_field_and_saves_a_good_one()
 {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let list = c.get("/integration-table-mappings").await;
    assert!(list.body.contains("<a href=\"/integration-table-mappings/CUSTOMER/edit\">Edit"));
    let form = c.get("/integration-table-mappings/CUSTOMER/edit").await;
    assert_eq!(form.status, StatusCode::OK);
    insta::assert_snapshot!(
        "mapping_edit_customer",
        support::redact(&s, &c.csrf, &form.body).await
    );
    let before = s.integration.mapping("CUSTOMER").await.unwrap();

    type Fields = [(&'static str, &'static str); 3];
    let cases: [(&str, Fields, &str, &str); 3] = [
        (
            "a table filter that does not parse",
            [
                ("direction", "Bidirectional"),
                ("financials_filter", "number eq"),
                ("sales_filter", "name ne 'x'"),
            ],
            "financials_filter",
            "The table filter (financialsFilter) is invalid: invalid filter at position",
        ),
        (
            "an integration table filter that does not parse",
            [
                ("direction", "ToIntegrationTable"),
                ("financials_filter", ""),
                ("sales_filter", "name eq eq"),
            ],
            "sales_filter",
            "The integration table filter (salesFilter) is invalid: invalid filter at position",
        ),
        (
            "no such direction",
            [
                ("direction", "Sideways"),
                ("financials_filter", "number ne 'A'"),
                ("sales_filter", ""),
            ],
            "direction",
            "Choose the direction",
        ),
    ];
    for (what, fields, field, message) in cases {
        let answer = c.post_form("/integration-table-mappings/CUSTOMER/edit", &fields).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {}", answer.body);
        assert!(error_of(&answer.body, field).starts_with(message), "{what}: {}", answer.body);
        for (k, v) in fields.iter().filter(|(k, v)| *k != "direction" && !v.is_empty()) {
            let kept = format!("name=\"{k}\" type=\"text\" value=\"{}\"", v.replace('\'', "&#39;"));
            let kept_alt =
                format!("name=\"{k}\" type=\"text\" value=\"{}\"", v.replace('\'', "&#x27;"));
            assert!(
                answer.body.contains(&kept) || answer.body.contains(&kept_alt),
                "{what}: {k} kept: {}",
                answer.body
            );
        }
        assert_eq!(
            s.integration.mapping("CUSTOMER").await.unwrap(),
            before,
            "{what}: nothing written"
        );
    }

    let good = [
        ("direction", "ToIntegrationTable"),
        ("financials_filter", "number ne 'A'"),
        ("sales_filter", ""),
    ];
    let saved = c.post_form("/integration-table-mappings/CUSTOMER/edit", &good).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let m = s.integration.mapping("CUSTOMER").await.unwrap();
    assert_eq!(m.direction, Direction::ToIntegrationTable);
    assert_eq!(m.financials.filter.unwrap().to_string(), "number ne 'A'");
    assert!(!m.enabled, "the unchecked box disables it");
    assert!(m.fields.iter().all(|f| f.direction != Direction::Bidirectional), "fields narrowed");
    assert!(
        s.integration.store.customized_mappings().await.unwrap().contains(&"CUSTOMER".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_mappings_direction_constant_and_enabled_are_edited_with_the_mappings_rules() {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    let customer = s.integration.mapping("CUSTOMER").await.unwrap();
    let constant = customer
        .fields
        .iter()
        .position(|f| f.constant.as_ref().is_some_and(|v| v.is_number()) && f.financials.is_none())
        .expect("CUSTOMER has a numeric constant for Sales");
    let constant_id = format!("constant-{constant}");
    let page = c.get("/integration-table-mappings/CUSTOMER/fields").await;
    assert!(
        page.body
            .contains(&format!("id=\"{constant_id}\" name=\"constant\" type=\"text\" value=\"3\"")),
        "{}",
        page.body
    );
    let path = format!("/integration-table-mappings/CUSTOMER/fields/{constant}");
    let direction = customer.fields[constant].direction.as_str();

    let cases = [
        (
            "a constant that is no number",
            "seven",
            &constant_id,
            "The constant value (constant) must be a number, not &#39;seven&#39;.",
        ),
        ("no constant on a one-sided field", "", &constant_id, "Mapping CUSTOMER: field mapping"),
    ];
    for (what, typed, id, message) in cases {
        let answer = c
            .post_form(&path, &[("direction", direction), ("constant", typed), ("enabled", "on")])
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {}", answer.body);
        let got = error_of(&answer.body, id).replace("&#x27;", "&#39;");
        assert!(got.starts_with(message), "{what}: {got}: {}", answer.body);
        assert!(
            answer.body.contains(&format!(
                "id=\"{id}\" name=\"constant\" type=\"text\" value=\"{typed}\""
            )),
            "{what}: typed kept"
        );
        assert_eq!(
            s.integration.mapping("CUSTOMER").await.unwrap(),
            customer,
            "{what}: nothing written"
        );
    }
    let saved = c.post_form(&path, &[("direction", direction), ("constant", "4")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let f = &s.integration.mapping("CUSTOMER").await.unwrap().fields[constant];
    assert_eq!((f.constant.clone(), f.enabled), (Some(serde_json::json!(4)), false));

    // A one-way mapping's field cannot go the other way.
    let order = s.integration.mapping("SALESORDER-ORDER").await.unwrap();
    assert_eq!(order.direction, Direction::ToIntegrationTable);
    let path = "/integration-table-mappings/SALESORDER-ORDER/fields/0";
    let against = c
        .post_form(
            path,
            &[("direction", "FromIntegrationTable"), ("constant", ""), ("enabled", "on")],
        )
        .await;
    assert_eq!(against.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", against.body);
    assert!(
        error_of(&against.body, "direction-0")
            .contains("is FromIntegrationTable but the table mapping is ToIntegrationTable"),
        "{}",
        against.body
    );
    assert!(
        against.body.contains("<option value=\"FromIntegrationTable\" selected>"),
        "typed kept"
    );
    let missing = c
        .post_form(
            "/integration-table-mappings/SALESORDER-ORDER/fields/999",
            &[("direction", "ToIntegrationTable")],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Changing a field mapping's direction on a bidirectional mapping.
    let reset = c.post_form("/integration-table-mappings/CUSTOMER/reset", &[]).await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER);
    let one_way = c
        .post_form(
            "/integration-table-mappings/CUSTOMER/fields/0",
            &[("direction", "FromIntegrationTable"), ("enabled", "on")],
        )
        .await;
    assert_eq!(one_way.status, StatusCode::SEE_OTHER, "{}", one_way.body);
    let fields = c.get("/integration-table-mappings/CUSTOMER/fields").await;
    assert!(fields.body.contains("<select id=\"direction-0\" name=\"direction\" form=\"field-form-0\">\n<option value=\"Bidirectional\">Bidirectional</option>\n<option value=\"ToIntegrationTable\">To Integration Table</option>\n<option value=\"FromIntegrationTable\" selected>"), "{}", fields.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_downloads_every_mapping_and_import_takes_a_whole_valid_file_or_writes_nothing() {
    let (_dir, s) = fresh().await;
    let mut c = signed_in(&s, "ADMIN", ADMIN_PASSWORD).await;
    c.get("/integration-table-mappings").await;
    let export = c.get("/integration-table-mappings/export").await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(
        export.headers.get(header::CONTENT_DISPOSITION).unwrap(),
        "attachment; filename=\"integration-table-mappings.json\""
    );
    let file: serde_json::Value = serde_json::from_str(&export.body).unwrap();
    let count = file["mappings"].as_array().unwrap().len();
    assert_eq!(count, s.integration.mappings().await.unwrap().mappings.len());

    let broken_filter = export.body.replacen(
        "\"filter\": \"status eq 'Released'\"",
        "\"filter\": \"status eq eq\"",
        1,
    );
    assert_ne!(broken_filter, export.body, "the export has SALESORDER-ORDER's filter");
    let line =
        export.body.lines().position(|l| l.contains("\"name\": \"SALESORDER-ORDER\"")).unwrap() + 1;
    let mut disabled: serde_json::Value = file.clone();
    for m in disabled["mappings"].as_array_mut().unwrap() {
        if m["name"] == "CURRENCY" {
            m["enabled"] = serde_json::json!(false);
        }
        if m["name"] == "CONTACT" {
            m["fields"] = serde_json::json!([]);
        }
    }
    let incoherent = serde_json::to_string_pretty(&disabled).unwrap();
    let cases: [(&str, Option<&str>, String); 4] = [
        ("no file", None, "Choose the export file to import.".to_owned()),
        (
            "not JSON",
            Some("{ \"version\": 1,\n  nope"),
            "The file cannot be imported: the file is not a mapping export".to_owned(),
        ),
        (
            "a filter that does not parse",
            Some(&broken_filter),
            "the Financials table filter is invalid".to_owned(),
        ),
        (
            "a mapping with no fields",
            Some(&incoherent),
            "Mapping CONTACT: no enabled field mapping goes".to_owned(),
        ),
    ];
    for (what, file, message) in &cases {
        let answer = upload(&mut c, *file).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {}", answer.body);
        let got = error_of(&answer.body, "import-file");
        assert!(got.contains(message.as_str()), "{what}: {got}");
        assert_eq!(
            c.get("/integration-table-mappings/export").await.body,
            export.body,
            "{what}: nothing written"
        );
    }
    let got = error_of(&upload(&mut c, Some(&broken_filter)).await.body, "import-file");
    assert!(got.contains(&format!("(line {line})")) && got.contains("SALESORDER-ORDER"), "{got}");
    let not_json = error_of(&upload(&mut c, cases[1].1).await.body, "import-file");
    assert!(not_json.contains("line 2"), "{not_json}");

    let mut good = file.clone();
    for m in good["mappings"].as_array_mut().unwrap() {
        if m["name"] == "CURRENCY" {
            m["enabled"] = serde_json::json!(false);
        }
    }
    let answer = upload(&mut c, Some(&serde_json::to_string_pretty(&good).unwrap())).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert!(!s.integration.mapping("CURRENCY").await.unwrap().enabled);

    // A reader exports but may not import or edit.
    let mut reader = signed_in(&s, "ANNA", PASSWORD).await;
    assert_eq!(reader.get("/integration-table-mappings/export").await.status, StatusCode::OK);
    let page = reader.get("/integration-table-mappings").await;
    assert!(!page.body.contains("id=\"import-mappings\"") && !page.body.contains("/edit\">Edit"));
    assert_eq!(upload(&mut reader, Some(&export.body)).await.status, StatusCode::FORBIDDEN);
    let edit = reader
        .post_form("/integration-table-mappings/CUSTOMER/edit", &[("direction", "Bidirectional")])
        .await;
    assert_eq!(edit.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reader.get("/integration-table-mappings/CUSTOMER/edit").await.status,
        StatusCode::FORBIDDEN
    );
}
