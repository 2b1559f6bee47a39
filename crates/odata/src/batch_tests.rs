use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

/// The shape of the Dataverse documentation's example: a change set with two POSTs (the second
/// binding to `$1`), then a GET. LF line breaks, as pasted from the docs.
const DOCS_EXAMPLE: &str = r#"--batch_AAA123
Content-Type: multipart/mixed; boundary=changeset_BBB456

--changeset_BBB456
Content-Type: application/http
Content-Transfer-Encoding:binary
Content-ID: 1

POST https://org.crm.dynamics.com/api/data/v9.2/accounts HTTP/1.1
Content-Type: application/json; type=entry

{"name":"Sample Account"}
--changeset_BBB456
Content-Type: application/http
Content-Transfer-Encoding:binary
Content-ID: 2

POST https://org.crm.dynamics.com/api/data/v9.2/contacts HTTP/1.1
Content-Type: application/json; type=entry

{"lastname":"Sample Contact","parentcustomerid_account@odata.bind":"$1"}
--changeset_BBB456--
--batch_AAA123
Content-Type: application/http
Content-Transfer-Encoding:binary

GET https://org.crm.dynamics.com/api/data/v9.2/accounts?$select=name HTTP/1.1
Accept: application/json

--batch_AAA123--
"#;

const CONTENT_TYPE: &str = "multipart/mixed; boundary=\"batch_AAA123\"";

fn render(batch: &Batch) -> String {
    let mut out = String::new();
    for part in &batch.parts {
        let (label, requests) = match part {
            BatchPart::Request(r) => ("request", std::slice::from_ref(r)),
            BatchPart::ChangeSet(rs) => ("change set", rs.as_slice()),
        };
        out.push_str(&format!("{label}:\n"));
        for r in requests {
            out.push_str(&format!(
                "  [{}] {} {}\n    headers: {:?}\n    body: {:?}\n",
                r.content_id.as_deref().unwrap_or("-"),
                r.method,
                r.url,
                r.headers,
                String::from_utf8_lossy(&r.body)
            ));
        }
    }
    out
}

#[test]
fn the_documentation_example_parses_into_a_change_set_and_a_get() {
    let batch = parse(CONTENT_TYPE, DOCS_EXAMPLE.as_bytes()).unwrap();
    assert_eq!(batch.operation_count(), 3);
    insta::assert_snapshot!(render(&batch));
}

#[test]
fn the_documentation_example_round_trips_through_the_writer() {
    let batch = parse(CONTENT_TYPE, DOCS_EXAMPLE.as_bytes()).unwrap();
    let (content_type, body) = write_request_with(&batch, "batch_X", || "changeset_Y".to_owned());
    assert_eq!(content_type, "multipart/mixed; boundary=batch_X");
    let again = parse(&content_type, &body).unwrap();
    assert_eq!(again, batch);
    let (_, random) = write_request(&batch);
    let (ct, _) = write_request(&batch);
    assert!(parse(&ct, &random).is_err(), "a different boundary does not match");
}

#[test]
fn crlf_and_lf_bodies_parse_the_same() {
    let crlf = DOCS_EXAMPLE.replace('\n', "\r\n");
    assert_eq!(
        parse(CONTENT_TYPE, crlf.as_bytes()).unwrap(),
        parse("multipart/mixed;boundary=batch_AAA123", DOCS_EXAMPLE.as_bytes()).unwrap()
    );
}

#[test]
fn content_id_references_resolve_in_urls_and_bodies() {
    let ids: HashMap<&str, &str> = [
        ("1", "/accounts(7eb682f1-ca75-e511-80d4-00155d2a68d1)"),
        ("10", "/contacts(00000000-0000-0000-0000-00000000000a)"),
    ]
    .into();
    let lookup = |id: &str| ids.get(id).map(|s| s.to_string());
    assert_eq!(
        resolve_references(r#"{"parentcustomerid_account@odata.bind":"$1","x":"$10"}"#, lookup),
        r#"{"parentcustomerid_account@odata.bind":"/accounts(7eb682f1-ca75-e511-80d4-00155d2a68d1)","x":"/contacts(00000000-0000-0000-0000-00000000000a)"}"#
    );
    assert_eq!(
        resolve_references("$1/primarycontactid/$ref", lookup),
        "/accounts(7eb682f1-ca75-e511-80d4-00155d2a68d1)/primarycontactid/$ref"
    );
    assert_eq!(
        resolve_references("accounts?$filter=x eq 1&$1", lookup),
        "accounts?$filter=x eq 1&$1"
    );
    assert_eq!(resolve_references("price is $1.5 or $2", lookup), "price is $1.5 or $2");
    assert_eq!(resolve_references("$$1 $", lookup), "$$1 $");
}

#[test]
fn a_response_is_written_with_batchresponse_and_changesetresponse_boundaries() {
    let response = BatchResponse {
        parts: vec![
            ResponsePart::ChangeSet(vec![
                Response::new(204)
                    .with_content_id(Some("1".into()))
                    .with_header("OData-Version", "4.0")
                    .with_header(
                        "OData-EntityId",
                        "https://org/api/data/v9.2/tasks(e73ffc82-e292-ed11-aad1-000d3a9933c9)",
                    ),
            ]),
            ResponsePart::Response(Response::json(200, &serde_json::json!({"value": []}))),
            ResponsePart::Response(Response::error(&ODataError::not_found(
                "Entity 'account' With Id = 1 Does Not Exist",
            ))),
        ],
    };
    let (content_type, body) = write_response_with(
        &response,
        "batchresponse_f27ef42d-51b0-4685-bac9-f468f844de2f",
        || "changesetresponse_64cc3fff-023a-45b0-b29d-df21583ffa15".to_owned(),
    );
    assert_eq!(
        content_type,
        "multipart/mixed; boundary=batchresponse_f27ef42d-51b0-4685-bac9-f468f844de2f"
    );
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(text.contains("\r\n"));
    insta::assert_snapshot!(text.replace("\r\n", "⏎\n"));
    assert_eq!(parse_response(&content_type, &body).unwrap(), response);
    let (ct, random) = write_response(&response);
    assert!(ct.starts_with("multipart/mixed; boundary=batchresponse_"));
    assert_eq!(parse_response(&ct, &random).unwrap(), response);
}

#[test]
fn a_thousand_operations_are_fine_and_one_more_is_an_error() {
    let get = Request {
        content_id: None,
        method: "GET".into(),
        url: "accounts".into(),
        headers: vec![],
        body: vec![],
    };
    let batch = |n: usize| Batch { parts: vec![BatchPart::Request(get.clone()); n] };
    let (ct, body) = write_request_with(&batch(MAX_OPERATIONS), "b", || "c".into());
    assert_eq!(parse(&ct, &body).unwrap().operation_count(), MAX_OPERATIONS);
    let (ct, body) = write_request_with(&batch(MAX_OPERATIONS + 1), "b", || "c".into());
    let e = parse(&ct, &body).unwrap_err();
    assert_eq!(
        e.message,
        "The batch has more than 1000 operations; split it into several batches."
    );
    assert_eq!((e.status, e.code.as_str()), (400, TOO_MANY_OPERATIONS));
    let e = parse(&ct, b"not a batch").unwrap_err();
    assert_eq!(e.code, crate::error::codes::INVALID_BATCH, "other errors keep their code");
}

#[test]
fn malformed_batches_are_rejected_with_a_reason() {
    let part =
        |inner: &str| format!("--b\r\nContent-Type: application/http\r\n\r\n{inner}\r\n--b--\r\n");
    let cases: Vec<(&str, String)> = vec![
        ("application/json", part("GET /x HTTP/1.1\r\n")),
        ("multipart/mixed", part("GET /x HTTP/1.1\r\n")),
        ("multipart/mixed; boundary=\"\"", part("GET /x HTTP/1.1\r\n")),
        ("multipart/mixed; boundary=b", "no parts at all".into()),
        ("multipart/mixed; boundary=b", "--b\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\n".into()),
        ("multipart/mixed; boundary=b", "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--".into()),
        ("multipart/mixed; boundary=b", part("NOT A REQUEST")),
        ("multipart/mixed; boundary=b", part("GET /x")),
        ("multipart/mixed; boundary=b", part("GET /x HTTP/1.1\r\nbad header line\r\n")),
        (
            "multipart/mixed; boundary=b",
            "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\n\r\n--c--\r\n--b--\r\n".into(),
        ),
        (
            "multipart/mixed; boundary=b",
            "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: multipart/mixed; boundary=d\r\n\r\n--d--\r\n--c--\r\n--b--\r\n".into(),
        ),
        ("multipart/mixed; boundary=b", "--b\r\nno colon here\r\n\r\nGET /x HTTP/1.1\r\n--b--\r\n".into()),
    ];
    let mut out = String::new();
    for (ct, body) in cases {
        let e = parse(ct, body.as_bytes()).unwrap_err();
        assert_eq!(e.status, 400);
        out.push_str(&format!(
            "{ct} | {:?}\n  {}\n",
            body.chars().take(40).collect::<String>(),
            e.message
        ));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn an_empty_batch_is_allowed() {
    assert_eq!(parse("multipart/mixed; boundary=b", b"--b--\r\n").unwrap(), Batch::default());
}

#[test]
fn a_content_id_in_the_inner_headers_is_accepted() {
    let body = "--b\r\nContent-Type: application/http\r\n\r\nPOST /accounts HTTP/1.1\r\nContent-ID: 7\r\n\r\n{}\r\n--b--\r\n";
    let batch = parse("multipart/mixed; boundary=b", body.as_bytes()).unwrap();
    let BatchPart::Request(r) = &batch.parts[0] else { panic!() };
    assert_eq!(r.content_id.as_deref(), Some("7"));
    assert!(r.headers.is_empty());
    assert_eq!(r.body_str(), Some("{}"));
}

fn request() -> impl Strategy<Value = Request> {
    (
        proptest::option::of("[0-9a-z]{1,4}"),
        prop::sample::select(vec!["POST", "PATCH", "DELETE", "PUT"]),
        "/[a-z0-9()$/?=&-]{0,30}",
        prop::collection::vec(("[A-Za-z][A-Za-z-]{0,10}", "[ -~]{0,20}"), 0..4),
        "([ -~\n]{0,60}[!-~])?",
    )
        .prop_filter("no Content-ID header", |(_, _, _, h, _)| {
            h.iter().all(|(k, _)| !k.eq_ignore_ascii_case("content-id"))
        })
        .prop_map(|(content_id, method, url, headers, body)| Request {
            content_id,
            method: method.into(),
            url,
            headers: headers.into_iter().map(|(k, v)| (k, v.trim().to_owned())).collect(),
            body: body.into_bytes(),
        })
}

proptest! {
    #[test]
    fn any_written_batch_parses_back_to_itself(
        parts in prop::collection::vec(
            prop_oneof![
                request().prop_map(BatchPart::Request),
                prop::collection::vec(request(), 0..3).prop_map(BatchPart::ChangeSet),
            ],
            0..5,
        )
    ) {
        let batch = Batch { parts };
        let (ct, body) = write_request_with(&batch, "batch_p", || "changeset_q".into());
        prop_assert_eq!(parse(&ct, &body).unwrap(), batch);
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics(body in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse("multipart/mixed; boundary=b", &body);
        let _ = parse_response("multipart/mixed; boundary=b", &body);
    }
}

#[test]
fn the_random_boundaries_never_occur_in_a_body() {
    let r = Response { body: b"--batchresponse_x\r\nmore".to_vec(), ..Response::new(200) };
    let response = BatchResponse { parts: vec![ResponsePart::Response(r)] };
    let (ct, body) = write_response(&response);
    assert_eq!(parse_response(&ct, &body).unwrap(), response);
    assert!(occurs(b"abc--bxyz", b"--b"));
    assert!(!occurs(b"abc", b""));
}
