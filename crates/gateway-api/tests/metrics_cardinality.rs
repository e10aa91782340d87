//! Strangers cannot grow `/metrics`: unknown methods and unmatched paths share one series each.
//! In its own test binary so no other test adds series while this one counts them.

mod support;

use support::spawn_app;

fn http_series(metrics: &str) -> usize {
    metrics
        .lines()
        .filter(|line| line.starts_with("http_"))
        .count()
}

async fn scrape(app: &support::TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

async fn junk(app: &support::TestApp, i: usize) {
    let method = reqwest::Method::from_bytes(format!("M{i}X").as_bytes()).expect("method");
    let _ = app
        .client
        .request(method, app.url(&format!("/x{i}/{i}")))
        .send()
        .await
        .expect("junk request");
    let _ = app
        .client
        .get(app.url(&format!("/nothing/here/{i}")))
        .send()
        .await
        .expect("unmatched request");
}

#[tokio::test]
async fn junk_methods_and_paths_add_no_series() {
    let app = spawn_app().await;
    // One of each kind first, so the shared `other` / `unmatched` series exist, and one scrape
    // so the scrape's own series exists.
    junk(&app, 0).await;
    scrape(&app).await;
    let before = http_series(&scrape(&app).await);
    for i in 1..=100 {
        junk(&app, i).await;
    }
    let after = scrape(&app).await;
    assert_eq!(
        http_series(&after),
        before,
        "100 junk requests added series:\n{after}"
    );
    assert!(after.contains("method=\"other\""), "{after}");
    assert!(after.contains("route=\"unmatched\""), "{after}");
}
