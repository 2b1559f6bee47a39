//! Sales' public `GET /metrics`: the Prometheus text format with the HTTP requests' counters
//! and latency histograms by route and status.

#[allow(unused_imports)]
mod common;

use common::Api;
use kontor_sales_server::Config;
use kontor_sales_server::testing::spawn_with;
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::test]
async fn metrics_are_public_prometheus_text_with_requests_by_route_and_status() {
    let recorder =
        PrometheusBuilder::new().set_buckets(&[0.01, 0.1, 1.0]).unwrap().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this test binary");
    let dir = tempfile::tempdir().unwrap();
    let config = Config { metrics: Some(handle), ..Config::default() };
    let server = spawn_with(&kontor_testkit::sqlite_url(&dir), config).await.unwrap();
    let api = Api::admin(&server).await;
    assert_eq!(api.send(reqwest::Method::GET, "accounts", None, &[]).await.status, 200);
    let r = reqwest::get(format!("{}/metrics", server.base_url)).await.unwrap();
    assert_eq!(r.status(), 200, "public");
    let text = r.text().await.unwrap();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("name value");
        let name = series.split('{').next().unwrap();
        assert!(
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        assert!(
            series == name || (series.ends_with('}') && series[name.len()..].starts_with('{')),
            "{line}"
        );
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
    }
    let expected = "kontor_http_requests_total{service=\"sales\",route=\"/api/data/v9.2/{*rest}\",method=\"GET\",status=\"200\"} 1";
    assert!(text.lines().any(|l| l == expected), "{expected} missing from\n{text}");
    assert!(text.contains("# TYPE kontor_http_request_duration_seconds histogram"), "{text}");
}
