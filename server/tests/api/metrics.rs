//! `/metrics` keeps a bounded set of series whatever unauthenticated clients send (issue 16):
//! made-up paths and methods fall into one `other` route and one `OTHER` method.

use crate::harness::TestServer;
use reqwest::Method;

/// The label sets of the HTTP histogram (from its `_count` lines, without the value).
fn http_series(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("oneko_http_request_duration_seconds_count"))
        .map(|l| l.rsplit_once(' ').map_or(l, |(series, _)| series).to_owned())
        .collect()
}

#[tokio::test]
async fn random_paths_and_methods_add_no_series() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let metrics = || async {
        reqwest::get(format!("{}/metrics", server.base))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics body")
    };
    let send = |method: Method, path: String| {
        let request = client.request(method, format!("{}{path}", server.base));
        async move {
            // Some made-up methods are answered by closing the connection: fine either way.
            let _ = request.send().await;
        }
    };
    // One request of each kind first, so their series exist.
    send(Method::POST, "/api/warm_up".into()).await;
    send(Method::GET, "/warm/up".into()).await;
    send(Method::from_bytes(b"WARMUP").unwrap(), "/api/warm_up".into()).await;
    let before = http_series(&metrics().await);

    let mut tokens = vec![];
    for i in 0..50 {
        let token = format!("{:016x}", rand::random::<u64>());
        let path = match i % 3 {
            0 => format!("/api/{token}"),
            1 => format!("/{token}/{i}"),
            _ => format!("/api/login/{token}"),
        };
        let method = match i % 4 {
            0 => Method::GET,
            1 => Method::POST,
            _ => Method::from_bytes(format!("X{}", token.to_uppercase()).as_bytes()).unwrap(),
        };
        send(method, path).await;
        tokens.push(token);
    }

    let text = metrics().await;
    for token in &tokens {
        assert!(
            !text.to_lowercase().contains(token.as_str()),
            "a request's own path or method became a label: {token}"
        );
    }
    let after = http_series(&text);
    let new: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
    // Status classes may differ from the warm-up's (404, 405, 400): a few series at most.
    assert!(new.len() <= 6, "{} new series: {new:#?}", new.len());
    assert!(
        after.iter().any(|s| s.contains("route=\"other\"")),
        "unknown paths are counted under route=\"other\": {after:#?}"
    );
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .expect("server answers");
    assert_eq!(health.text().await.unwrap(), "ok");
}
