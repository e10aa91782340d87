use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::Value;
use vendor_sim::{SimConfig, dev, truth, xlsx};

use crate::common::{self, SEED};

const TASKS: &str = "/wa/api/detail/tasks";

fn form(user: &str, file: String) -> Form {
    Form::new().text("user_id", user.to_owned()).part(
        "file",
        Part::bytes(file.into_bytes()).file_name("input.txt"),
    )
}

fn e164(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+4179{i:07}")).collect()
}

async fn upload(
    c: &reqwest::Client,
    sim: &vendor_sim::RunningSim,
    key: &str,
    form: Form,
) -> (u16, Value) {
    let res = c
        .post(format!("{}{TASKS}", sim.base_url()))
        .header("X-API-Key", key)
        .multipart(form)
        .send()
        .await
        .expect("answer");
    (res.status().as_u16(), res.json().await.expect("JSON"))
}

async fn task(
    c: &reqwest::Client,
    sim: &vendor_sim::RunningSim,
    id: &str,
    user: &str,
) -> (u16, Value) {
    let res = c
        .get(format!("{}{TASKS}/{id}", sim.base_url()))
        .query(&[("user_id", user)])
        .header("X-API-Key", dev::EKYCPRO_API_KEY)
        .send()
        .await
        .expect("answer");
    (res.status().as_u16(), res.json().await.expect("JSON"))
}

#[tokio::test]
async fn a_task_goes_from_pending_to_exported_and_its_url_expires() {
    let mut config = SimConfig::for_tests(SEED);
    config.speed.ekycpro_pending_ms = 400;
    config.speed.ekycpro_numbers_per_second = 1_000.0;
    config.speed.ekycpro_export_ms = 400;
    config.result_ttl_ms = 400;
    let sim = common::start(config).await;
    let c = common::client();
    let numbers = e164(500);
    let (status, created) = upload(
        &c,
        &sim,
        dev::EKYCPRO_API_KEY,
        form(dev::EKYCPRO_USER_ID, numbers.join("\n")),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], "pending");
    assert_eq!(
        sim.ledger().numbers_billed("ekycpro"),
        500,
        "billed when the task is accepted"
    );
    let id = created["task_id"].as_str().expect("task id").to_owned();

    let mut seen: Vec<String> = Vec::new();
    let mut last = Value::Null;
    for _ in 0..200 {
        let (status, v) = task(&c, &sim, &id, dev::EKYCPRO_USER_ID).await;
        assert_eq!(status, 200);
        let s = v["status"].as_str().expect("status").to_owned();
        if s == "processing" {
            let success = v["success"].as_u64().expect("success");
            assert!(success <= 500 && v["total"] == 500);
        }
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        last = v;
        if s == "exported" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A slow machine may miss a short phase between two polls, never see phases out of order.
    let order = ["pending", "processing", "completed", "exported"];
    let ranks: Vec<usize> = seen
        .iter()
        .map(|s| {
            order
                .iter()
                .position(|o| o == s)
                .expect("a documented status")
        })
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(
        seen.len() >= 3 && seen.last().map(String::as_str) == Some("exported"),
        "{seen:?}"
    );
    assert_eq!(last["success"], 500);
    let url = last["result_url"].as_str().expect("result_url").to_owned();

    let res = c.get(&url).send().await.expect("download");
    assert_eq!(res.status(), 200);
    let rows = common::sheet_rows(&res.bytes().await.expect("bytes"));
    assert_eq!(rows[0], xlsx::EKYCPRO_COLUMNS.map(String::from).to_vec());
    assert_eq!(rows.len(), 501);
    for (row, n) in rows.iter().skip(1).zip(&numbers).take(30) {
        assert_eq!(row, &xlsx::ekycpro_row(&truth::profile(SEED, n)).to_vec());
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.get(&url).send().await.expect("answer").status(), 410);
    let (_, again) = task(&c, &sim, &id, dev::EKYCPRO_USER_ID).await;
    let fresh = again["result_url"].as_str().expect("a new result_url");
    assert_ne!(fresh, url);
    assert_eq!(c.get(fresh).send().await.expect("download").status(), 200);
    assert_eq!(
        sim.ledger().numbers_billed("ekycpro"),
        500,
        "polls are free"
    );
}

#[tokio::test]
async fn bad_uploads_are_400_and_free() {
    let sim = common::sim().await;
    let c = common::client();
    let cases = [
        "+41798284651\n41798284652\n".to_owned(),
        "+41798284651\nhello\n".to_owned(),
        "\n\n".to_owned(),
    ];
    for file in cases {
        let (status, v) = upload(
            &c,
            &sim,
            dev::EKYCPRO_API_KEY,
            form(dev::EKYCPRO_USER_ID, file.clone()),
        )
        .await;
        assert_eq!(status, 400, "{file:?}: {v}");
        assert!(v["error"].is_string());
    }
    let no_file = Form::new().text("user_id", dev::EKYCPRO_USER_ID);
    assert_eq!(upload(&c, &sim, dev::EKYCPRO_API_KEY, no_file).await.0, 400);
    let not_multipart = c
        .post(format!("{}{TASKS}", sim.base_url()))
        .header("X-API-Key", dev::EKYCPRO_API_KEY)
        .body("+41798284651")
        .send()
        .await
        .expect("answer");
    assert_eq!(not_multipart.status(), 400);
    assert_eq!(sim.ledger().numbers_billed("ekycpro"), 0);
    assert_eq!(sim.ledger().requests("ekycpro", "ekycpro.create_task"), 5);
}

#[tokio::test]
async fn keys_users_and_unknown_tasks() {
    let sim = common::sim().await;
    let c = common::client();
    let file = e164(3).join("\n");
    assert_eq!(
        upload(&c, &sim, "wrong", form(dev::EKYCPRO_USER_ID, file.clone()))
            .await
            .0,
        401
    );
    assert_eq!(
        upload(
            &c,
            &sim,
            dev::EKYCPRO_API_KEY,
            form("someone-else", file.clone())
        )
        .await
        .0,
        403
    );
    let (_, created) = upload(
        &c,
        &sim,
        dev::EKYCPRO_API_KEY,
        form(dev::EKYCPRO_USER_ID, file),
    )
    .await;
    let id = created["task_id"].as_str().expect("task id");
    assert_eq!(
        task(&c, &sim, "cs9viu7i61pkfs4oavvg", dev::EKYCPRO_USER_ID)
            .await
            .0,
        404
    );
    assert_eq!(task(&c, &sim, id, "someone-else").await.0, 403);
    let no_key = c
        .get(format!(
            "{}{TASKS}/{id}?user_id={}",
            sim.base_url(),
            dev::EKYCPRO_USER_ID
        ))
        .send()
        .await
        .expect("answer");
    assert_eq!(no_key.status(), 401);
    let no_user = c
        .get(format!("{}{TASKS}/{id}", sim.base_url()))
        .header("X-API-Key", dev::EKYCPRO_API_KEY)
        .send()
        .await
        .expect("answer");
    assert_eq!(no_user.status(), 400);
}
