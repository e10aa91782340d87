//! Account operations against the vendor simulator and a real Redis: every vendor operation of
//! documents 001 and 002 reached through the gateway, lifecycle refusals without vendor calls,
//! chat-action spacing across a restart, QR images, NxCloud signing and secrets.

use std::time::Duration;

use crate::support::process::GatewayProcess;
use crate::support::sim::RunningSim;
use crate::support::{
    TestApp, expect_problem, random_prefix, redis_url, spawn_app_with, spawn_sibling, token,
};
use serde_json::{Value, json};
use vendor_sim::{SimConfig, dev};

const SCOPES: &str =
    "accounts:read accounts:write sessions:write actions:write business:read events:read";
const PRIVATE_KEY: &str = "PRIVATE-KEY-MATERIAL-a1b2c3";
const MSG_PRIVATE_KEY: &str = "MSG-PRIVATE-KEY-MATERIAL-d4e5f6";

async fn sim(spacing_ms: u64) -> RunningSim {
    let mut config = SimConfig::for_tests(7);
    config.accounts.action_spacing_ms = Some(spacing_ms);
    // Numbers that pass numbering-plan checks (the derived defaults do not).
    config.nxcloud.appkeys.insert(
        dev::NXCLOUD_APPKEY.to_owned(),
        vec![
            "8613800138024".into(),
            "14155550123".into(),
            "85291234567".into(),
        ],
    );
    crate::support::sim::start(config, "127.0.0.1:0")
        .await
        .expect("sim starts")
}

fn gateway_config(sim: &RunningSim, nx_secret: &str) -> Value {
    let base = sim.base_url();
    json!({
        "vendors": {
            "wscrm": {
                "bus_api_base_url": format!("{base}/wscrm-bus-api"),
                "dispatch_api_base_url": format!("{base}/group-dispatch-api"),
                "auth_headers": {dev::WSCRM_HEADER: dev::WSCRM_KEY}
            },
            "nxcloud": {
                "base_url": base,
                "access_key": dev::NXCLOUD_ACCESS_KEY,
                "access_secret": nx_secret,
                "appkey": dev::NXCLOUD_APPKEY
            }
        },
        "accounts": {
            "tenants": {"acme": {"wscrm_tenant_id": 7}, "globex": {"wscrm_tenant_id": 8}},
            "action_spacing": "1s",
            "action_spacing_margin": "100ms",
            "action_poll_interval": "50ms"
        }
    })
}

async fn setup(spacing_ms: u64) -> (RunningSim, TestApp) {
    let sim = sim(spacing_ms).await;
    let app = spawn_app_with(gateway_config(&sim, dev::NXCLOUD_ACCESS_SECRET)).await;
    (sim, app)
}

async fn call(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
    call_as(app, "acme", method, path, body).await
}

async fn call_as(
    app: &TestApp,
    tenant: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(token(tenant, SCOPES));
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.expect("request")
}

async fn ok_json(resp: reqwest::Response, status: u16) -> Value {
    let code = resp.status().as_u16();
    let url = resp.url().to_string();
    let text = resp.text().await.expect("body");
    assert_eq!(code, status, "{url}: {text}");
    serde_json::from_str(&text).expect("json")
}

async fn sim_admin(sim: &RunningSim, path: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("admin call");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

fn account(number: &str) -> Value {
    json!({
        "number": number,
        "account_type": "personal",
        "name": "Support",
        "account_id": "acc-1",
        "keys": {"public_key": "PUB", "private_key": PRIVATE_KEY, "msg_public_key": "MPUB", "msg_private_key": MSG_PRIVATE_KEY}
    })
}

/// Reserves a session, hands out a pair code for `number`, lets the simulated phone enter it, and
/// refreshes the session until the gateway sees it online.
async fn logged_in_session(sim: &RunningSim, app: &TestApp, number: &str) -> String {
    let s = ok_json(
        call(
            app,
            "POST",
            "/v1/sessions",
            Some(json!({"port_type": "pc"})),
        )
        .await,
        201,
    )
    .await;
    let id = s["id"].as_str().expect("id").to_owned();
    assert_eq!(s["state"], "reserved");
    let codes = ok_json(
        call(
            app,
            "POST",
            &format!("/v1/sessions/{id}/pair-code"),
            Some(json!({"number": number, "mode": "easy"})),
        )
        .await,
        200,
    )
    .await;
    assert!(
        codes["pair_code"].as_str().is_some_and(|c| c.len() == 9),
        "{codes}"
    );
    sim_admin(
        sim,
        &format!("/_sim/accounts/sessions/{id}/scan"),
        json!({"success": true, "userName": "agent01"}),
    )
    .await;
    let s = ok_json(
        call(app, "GET", &format!("/v1/sessions/{id}"), None).await,
        200,
    )
    .await;
    assert_eq!(s["state"], "online", "{s}");
    assert_eq!(s["number"], number);
    id
}

#[tokio::test]
async fn every_vendor_operation_is_reached_and_normalised() {
    let (sim, app) = setup(1000).await;

    // Accounts: import, list, bring online, avatar/nickname.
    let imported = call(
        &app,
        "POST",
        "/v1/accounts",
        Some(json!({"accounts": [account("+8613800138000")]})),
    )
    .await;
    let text = imported.text().await.expect("body");
    assert!(
        !text.contains(PRIVATE_KEY) && !text.contains(MSG_PRIVATE_KEY),
        "{text}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["numbers"][0],
        "+8613800138000"
    );
    let list = ok_json(call(&app, "GET", "/v1/accounts", None).await, 200).await;
    assert_eq!(list["items"][0]["number"], "+8613800138000", "{list}");
    assert_eq!(list["items"][0]["status"], "normal");
    assert_eq!(list["items"][0]["online_status"], "offline");
    ok_json(
        call(
            &app,
            "POST",
            "/v1/accounts/online",
            Some(json!({"override": true, "accounts": [account("+8613800138000")]})),
        )
        .await,
        202,
    )
    .await;
    ok_json(
        call(&app, "POST", "/v1/accounts/profile", Some(json!({"numbers": ["+8613800138000"], "channel": "device", "nickname": "Help desk", "avatar_url": "https://cdn.example.com/a.png"}))).await,
        200,
    )
    .await;
    let bad = call(
        &app,
        "POST",
        "/v1/accounts/profile",
        Some(json!({"numbers": ["+8613800138000"], "channel": "device", "avatar_url": "ftp://x"})),
    )
    .await;
    expect_problem(bad, 422, "validation_failed").await;

    // Registrations.
    let reg = ok_json(
        call(&app, "POST", "/v1/registrations", Some(json!({"phone": "13800138001", "area_code": "+86", "country_code": "CN", "verification": "sms"}))).await,
        201,
    )
    .await;
    assert_eq!(reg["status"], "code_requested");
    assert_eq!(reg["number"], "+8613800138001");
    let reg_id = reg["id"].as_str().expect("id");
    let reg = ok_json(
        call(
            &app,
            "POST",
            &format!("/v1/registrations/{reg_id}/verification-code"),
            Some(json!({"code": "123456"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(reg["status"], "code_submitted");
    let reg = ok_json(
        call(&app, "GET", &format!("/v1/registrations/{reg_id}"), None).await,
        200,
    )
    .await;
    assert!(reg.get("vendor").is_none(), "{reg}");
    let mismatch = call(&app, "POST", "/v1/registrations", Some(json!({"phone": "13800138001", "area_code": "+86", "country_code": "US", "verification": "sms"}))).await;
    expect_problem(mismatch, 422, "validation_failed").await;

    // Sessions: targets, reserve, QR, pair code, info, contacts, profile, offline/online, ports.
    let targets = ok_json(call(&app, "GET", "/v1/pairing-targets", None).await, 200).await;
    assert!(targets["items"][0]["id"].is_string(), "{targets}");
    let s = ok_json(
        call(
            &app,
            "POST",
            "/v1/sessions",
            Some(json!({"port_type": "pc"})),
        )
        .await,
        201,
    )
    .await;
    let qr_session = s["id"].as_str().expect("id").to_owned();
    let qr = ok_json(
        call(
            &app,
            "GET",
            &format!("/v1/sessions/{qr_session}/qr-code"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(
        qr["qr_code"].as_str().is_some_and(|q| q.starts_with("2@")),
        "{qr}"
    );
    let id = logged_in_session(&sim, &app, "+8613800138002").await;
    let contacts = ok_json(
        call(&app, "GET", &format!("/v1/sessions/{id}/contacts"), None).await,
        200,
    )
    .await;
    let first = contacts["items"][0].clone();
    assert!(
        first["number"].as_str().is_some_and(|n| n.starts_with('+')),
        "{contacts}"
    );
    // The vendor lists the address book whole; the gateway pages it by number.
    let mut paged: Vec<Value> = Vec::new();
    let mut query = "limit=3".to_owned();
    loop {
        let page = ok_json(
            call(
                &app,
                "GET",
                &format!("/v1/sessions/{id}/contacts?{query}"),
                None,
            )
            .await,
            200,
        )
        .await;
        paged.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let mut by_number = contacts["items"].as_array().expect("items").clone();
    by_number.sort_by_key(|c| c["number"].as_str().unwrap_or_default().to_owned());
    assert!(by_number.len() > 3, "more than one page: {contacts}");
    assert_eq!(paged, by_number);
    expect_problem(
        call(
            &app,
            "GET",
            &format!("/v1/sessions/{id}/contacts?cursor=bm90LWEtY3Vyc29y"),
            None,
        )
        .await,
        422,
        "invalid_cursor",
    )
    .await;
    assert!(first["is_friend"].is_boolean(), "{first}");
    let number = first["number"].as_str().expect("number");
    let one = ok_json(
        call(
            &app,
            "GET",
            &format!("/v1/sessions/{id}/contacts/{}", number.replace('+', "%2B")),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(one["number"], number);
    let profile = ok_json(
        call(&app, "GET", &format!("/v1/sessions/{id}/profile"), None).await,
        200,
    )
    .await;
    assert_eq!(profile["number"], "+8613800138002", "{profile}");
    let s = ok_json(
        call(&app, "POST", &format!("/v1/sessions/{id}/offline"), None).await,
        200,
    )
    .await;
    assert_eq!(s["state"], "offline");
    let s = ok_json(
        call(&app, "POST", &format!("/v1/sessions/{id}/online"), None).await,
        200,
    )
    .await;
    assert_eq!(s["state"], "online");
    let ports = ok_json(call(&app, "GET", "/v1/ports", None).await, 200).await;
    assert!(ports["used"].as_u64().is_some_and(|u| u >= 2), "{ports}");
    assert_eq!(ports["max"], 20);
    assert!(
        ports["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p["number"] == "+8613800138002" && p["id"].is_string()),
        "{ports}"
    );

    // Scan tasks.
    let task = ok_json(
        call(
            &app,
            "POST",
            "/v1/scan-tasks",
            Some(json!({"allocation": "random"})),
        )
        .await,
        201,
    )
    .await;
    let task_id = task["id"].as_str().expect("id");
    let qr = ok_json(
        call(
            &app,
            "GET",
            &format!("/v1/scan-tasks/{task_id}/qr-code"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(qr["qr_code"].is_string());
    let task = ok_json(
        call(&app, "GET", &format!("/v1/scan-tasks/{task_id}"), None).await,
        200,
    )
    .await;
    assert_eq!(task["state"], "waiting");

    // A chat action from the logged-in account, and its result.
    let accepted = ok_json(
        call(&app, "POST", "/v1/chat-actions", Some(json!({"actions": [{"agent_account": "agent01", "whatsapp": "+8613800138002", "friend": number, "message": "Hi"}]}))).await,
        202,
    )
    .await;
    let action = accepted["actions"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let done = wait_action(&app, &action, Duration::from_secs(10)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["executed_at"].is_string(), "{done}");
    // Its owner record is the one the ownership module (and so the events capability) reads.
    assert_eq!(
        gateway_api::ownership::owner(
            &app.store,
            gateway_api::ownership::OwnedKind::ChatAction,
            &action
        )
        .await
        .expect("owner"),
        Some("acme".to_owned())
    );

    // Log out, recycle.
    let s = ok_json(
        call(&app, "DELETE", &format!("/v1/sessions/{id}"), None).await,
        200,
    )
    .await;
    assert_eq!(s["state"], "logged_out");
    ok_json(
        call(
            &app,
            "POST",
            "/v1/accounts/recycle",
            Some(json!({"numbers": ["+8613800138000"]})),
        )
        .await,
        200,
    )
    .await;

    // Business phones (NxCloud, signed).
    let phones = ok_json(call(&app, "GET", "/v1/business-phones", None).await, 200).await;
    assert!(
        phones["items"][0]["number"]
            .as_str()
            .is_some_and(|n| n.starts_with('+')),
        "{phones}"
    );
    // Our words, as the OpenAPI document lists them, never the vendor's.
    for phone in phones["items"].as_array().expect("phones") {
        assert!(phone.get("display_phone_number").is_none(), "{phone}");
        for (field, schema) in [
            ("status", "BusinessPhoneStatus"),
            ("name_status", "NameStatus"),
            ("quality_rating", "QualityRating"),
            ("messaging_limit", "MessagingLimit"),
        ] {
            if field == "messaging_limit" && phone.get(field).is_none() {
                continue;
            }
            assert!(
                documented_enum(schema).contains(&phone[field]),
                "{field} of {phone} is not one of {schema}"
            );
        }
    }
    for port in ports["ports"].as_array().expect("ports") {
        assert!(
            documented_enum("PortStatus").contains(&port["status"]),
            "{port}"
        );
    }

    let ledger = sim.ledger();
    let ops = [
        "wscrm.action.batch_add",
        "wscrm.action.callback_result",
        "wscrm.whatsapp.batch_insert",
        "wscrm.whatsapp.query_whats_app_status",
        "wscrm.whatsapp.batch_online",
        "wscrm.whatsapp.batch_recycle",
        "wscrm.register.submit_phone",
        "wscrm.register.submit_verify_code",
        "wscrm.qr_code.select_pair_target",
        "wscrm.qr_code.pre_generate",
        "wscrm.qr_code.get_qr_code",
        "wscrm.qr_code.get_qr_code_v2",
        "wscrm.qr_code.get_qr_code_info",
        "wscrm.qr_code.on_line",
        "wscrm.qr_code.offline",
        "wscrm.qr_code.log_out",
        "wscrm.qr_code.select_cloud_port",
        "wscrm.qr_code.select_cloud_port_detail",
        "wscrm.qr_code.select_contact",
        "wscrm.contact.info",
        "wscrm.info.profile",
        "wscrm.channel_info.update_avatar_or_nickname",
        "wscrm.qr_code_task.create",
        "wscrm.qr_code_task.get_qr_code",
    ];
    for op in ops {
        assert!(ledger.requests("wscrm", op) >= 1, "{op} was never called");
    }
    assert!(ledger.requests("nxcloud", "nxcloud.get_phone") >= 1);
}

async fn wait_action(app: &TestApp, id: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let a = ok_json(
            call(app, "GET", &format!("/v1/chat-actions/{id}"), None).await,
            200,
        )
        .await;
        if a["status"] != "pending" || tokio::time::Instant::now() > deadline {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test]
async fn illegal_lifecycle_moves_are_refused_without_vendor_calls() {
    let (sim, app) = setup(1000).await;
    let id = logged_in_session(&sim, &app, "+8613800138010").await;
    let before = sim.ledger();
    let resp = call(
        &app,
        "POST",
        &format!("/v1/sessions/{id}/pair-code"),
        Some(json!({"number": "+8613800138010"})),
    )
    .await;
    let problem = expect_problem(resp, 409, "illegal_state").await;
    assert_eq!(problem["current_state"], "online");
    let resp = call(&app, "GET", &format!("/v1/sessions/{id}/qr-code.png"), None).await;
    expect_problem(resp, 409, "illegal_state").await;
    let resp = call(&app, "POST", &format!("/v1/sessions/{id}/online"), None).await;
    assert_eq!(resp.status(), 200, "online → online is allowed");
    let after = sim.ledger();
    assert_eq!(
        before.requests("wscrm", "wscrm.qr_code.get_qr_code_v2"),
        after.requests("wscrm", "wscrm.qr_code.get_qr_code_v2")
    );
    assert_eq!(
        before.requests("wscrm", "wscrm.qr_code.get_qr_code"),
        after.requests("wscrm", "wscrm.qr_code.get_qr_code")
    );

    // A banned account cannot be brought online.
    ok_json(
        call(
            &app,
            "POST",
            "/v1/accounts",
            Some(json!({"accounts": [account("+8613800138011")]})),
        )
        .await,
        201,
    )
    .await;
    sim_admin(
        &sim,
        "/_sim/accounts/accounts/8613800138011/ban",
        json!({"banned": true}),
    )
    .await;
    let list = ok_json(
        call(&app, "GET", "/v1/accounts?status=banned", None).await,
        200,
    )
    .await;
    assert_eq!(list["items"][0]["number"], "+8613800138011", "{list}");
    let before = sim
        .ledger()
        .requests("wscrm", "wscrm.whatsapp.batch_online");
    let resp = call(
        &app,
        "POST",
        "/v1/accounts/online",
        Some(json!({"accounts": [account("+8613800138011")]})),
    )
    .await;
    let problem = expect_problem(resp, 409, "illegal_state").await;
    assert_eq!(problem["current_state"], "banned");
    assert_eq!(
        sim.ledger()
            .requests("wscrm", "wscrm.whatsapp.batch_online"),
        before
    );

    // Another tenant sees none of it.
    let resp = call_as(&app, "globex", "GET", &format!("/v1/sessions/{id}"), None).await;
    expect_problem(resp, 404, "not_found").await;
    let list = ok_json(
        call_as(&app, "globex", "GET", "/v1/accounts", None).await,
        200,
    )
    .await;
    assert_eq!(list["items"], json!([]));
    let resp = call_as(&app, "initech", "GET", "/v1/accounts", None).await;
    expect_problem(resp, 403, "tenant_not_configured").await;
}

#[tokio::test]
async fn vendor_errors_become_stable_problems() {
    let (sim, app) = setup(1000).await;
    sim_admin(&sim, "/_sim/accounts/ports/quota", json!({"maxPort": 0})).await;
    let resp = call(
        &app,
        "POST",
        "/v1/sessions",
        Some(json!({"port_type": "pc"})),
    )
    .await;
    let problem = expect_problem(resp, 409, "port_quota_exhausted").await;
    assert!(
        problem.get("vendor_code").is_none(),
        "vendor vocabulary stays in the logs: {problem}"
    );
    let resp = call(
        &app,
        "POST",
        "/v1/sessions",
        Some(json!({"port_type": "cloud_pc"})),
    )
    .await;
    expect_problem(resp, 422, "pairing_target_required").await;
    sim_admin(&sim, "/_sim/accounts/ports/quota", json!({"maxPort": 20})).await;
    let s = ok_json(
        call(
            &app,
            "POST",
            "/v1/sessions",
            Some(json!({"port_type": "pc"})),
        )
        .await,
        201,
    )
    .await;
    let id = s["id"].as_str().expect("id");
    sim_admin(
        &sim,
        "/_sim/accounts/clock/advance",
        json!({"seconds": 3600}),
    )
    .await;
    let resp = call(&app, "GET", &format!("/v1/sessions/{id}/qr-code"), None).await;
    let problem = expect_problem(resp, 410, "session_released").await;
    assert!(
        problem.get("vendor_code").is_none(),
        "vendor vocabulary stays in the logs: {problem}"
    );
    let s = ok_json(
        call(&app, "GET", &format!("/v1/sessions/{id}"), None).await,
        200,
    )
    .await;
    assert_eq!(s["state"], "released");
}

#[tokio::test]
async fn qr_codes_are_scannable_images_of_the_vendor_payload() {
    let (sim, app) = setup(1000).await;
    let s = ok_json(
        call(
            &app,
            "POST",
            "/v1/sessions",
            Some(json!({"port_type": "pc"})),
        )
        .await,
        201,
    )
    .await;
    let id = s["id"].as_str().expect("id");
    let resp = call(&app, "GET", &format!("/v1/sessions/{id}/qr-code.png"), None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let png = resp.bytes().await.expect("png");
    let image = image::load_from_memory(&png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, decoded) = grids[0].decode().expect("decodes");
    let state = sim.accounts().state_json();
    assert_eq!(
        state["sessions"][id]["lastQr"],
        decoded.as_str(),
        "the vendor's latest QR"
    );
    let resp = call(&app, "GET", &format!("/v1/sessions/{id}/qr-code.svg"), None).await;
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");
    assert!(resp.text().await.expect("svg").contains("<svg"));
}

#[tokio::test]
async fn chat_actions_are_spaced_per_pair_and_survive_a_restart() {
    let (sim, app) = setup(1000).await;
    let _session = logged_in_session(&sim, &app, "+8613800138020").await;
    let friend = "+8613900139000";
    let mut items: Vec<Value> = (0..5)
        .map(|i| json!({"agent_account": "agent01", "whatsapp": "+8613800138020", "friend": friend, "message": format!("m{i}")}))
        .collect();
    items.push(json!({"agent_account": "agent02", "whatsapp": "+8613800138020", "friend": friend}));
    let accepted = ok_json(
        call(
            &app,
            "POST",
            "/v1/chat-actions",
            Some(json!({"actions": items})),
        )
        .await,
        202,
    )
    .await;
    let ids: Vec<String> = accepted["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 6);

    // Restart in the middle: the first instance drains, a second one takes over the schedule.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    app.stop().await;
    let sent_before_restart = sim.accounts().state_json()["actions"]
        .as_object()
        .map_or(0, serde_json::Map::len);
    assert!(
        (1..6).contains(&sent_before_restart),
        "the restart happens mid-schedule ({sent_before_restart} sent)"
    );
    let second = spawn_sibling(&app).await;

    let mut results = Vec::new();
    for id in &ids {
        results.push(wait_action(&second, id, Duration::from_secs(15)).await);
    }
    for r in &results {
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    // Each result is also a `chat_action.completed` event, once.
    let feed = ok_json(
        call(
            &second,
            "GET",
            "/v1/events?types=chat_action.completed&limit=100",
            None,
        )
        .await,
        200,
    )
    .await;
    let mut evented: Vec<&str> = feed["items"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["subject"]["id"].as_str())
        .collect();
    evented.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(evented, expected, "{feed}");
    let state = sim.accounts().state_json();
    let actions: Vec<&Value> = state["actions"]
        .as_object()
        .expect("actions")
        .values()
        .collect();
    assert_eq!(actions.len(), 6, "each action sent exactly once");
    let mut agent1: Vec<chrono::DateTime<chrono::Utc>> = actions
        .iter()
        .filter(|a| a["agentAccount"] == "agent01")
        .map(|a| {
            a["createdAt"]
                .as_str()
                .expect("createdAt")
                .parse()
                .expect("time")
        })
        .collect();
    agent1.sort();
    assert_eq!(agent1.len(), 5);
    for pair in agent1.windows(2) {
        assert!(
            pair[1] - pair[0] >= chrono::Duration::milliseconds(1000),
            "{pair:?}"
        );
    }
    let agent2: chrono::DateTime<chrono::Utc> = actions
        .iter()
        .find(|a| a["agentAccount"] == "agent02")
        .map(|a| {
            a["createdAt"]
                .as_str()
                .expect("createdAt")
                .parse()
                .expect("time")
        })
        .expect("agent02's action");
    assert!(
        agent2 - agent1[0] < chrono::Duration::milliseconds(800),
        "another pair is not delayed"
    );
    second.stop().await;
}

#[tokio::test]
async fn business_phones_are_signed_cached_and_auth_failures_are_clear() {
    let (sim, app) = setup(1000).await;
    let first = ok_json(call(&app, "GET", "/v1/business-phones", None).await, 200).await;
    let phones = first["items"].as_array().expect("phones");
    assert_eq!(phones.len(), 3, "{first}");
    let number = phones[0]["number"].as_str().expect("number").to_owned();
    let again = ok_json(call(&app, "GET", "/v1/business-phones", None).await, 200).await;
    assert_eq!(first, again);
    assert_eq!(
        sim.ledger().requests("nxcloud", "nxcloud.get_phone"),
        1,
        "served from the cache"
    );
    let one = ok_json(
        call(
            &app,
            "GET",
            &format!("/v1/business-phones?numbers={}", number.replace('+', "%2B")),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(one["items"].as_array().map(Vec::len), Some(1));
    let resp = call(
        &app,
        "GET",
        "/v1/business-phones?numbers=%2B8613800138099",
        None,
    )
    .await;
    let problem = expect_problem(resp, 422, "number_not_bound").await;
    assert!(
        problem.get("vendor_code").is_none(),
        "vendor vocabulary stays in the logs: {problem}"
    );

    let wrong = spawn_app_with(gateway_config(&sim, "not-the-secret")).await;
    let resp = call(&wrong, "GET", "/v1/business-phones", None).await;
    let text = {
        assert_eq!(resp.status(), 502);
        resp.text().await.expect("body")
    };
    let problem: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(problem["code"], "vendor_auth_failed", "{problem}");
    assert!(
        problem.get("vendor_code").is_none(),
        "vendor vocabulary stays in the logs: {problem}"
    );
    for secret in [
        "not-the-secret",
        dev::NXCLOUD_ACCESS_KEY,
        dev::NXCLOUD_ACCESS_SECRET,
    ] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[tokio::test]
async fn business_phones_with_caching_off_ask_the_vendor_every_time() {
    let sim = sim(1000).await;
    let mut config = gateway_config(&sim, dev::NXCLOUD_ACCESS_SECRET);
    config["accounts"]["business_phones_cache_ttl"] = json!("0s");
    let app = spawn_app_with(config).await;
    for _ in 0..3 {
        let list = ok_json(call(&app, "GET", "/v1/business-phones", None).await, 200).await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(3), "{list}");
    }
    assert_eq!(
        sim.ledger().requests("nxcloud", "nxcloud.get_phone"),
        3,
        "every request reaches the vendor"
    );
}

#[tokio::test]
async fn imported_keys_appear_in_no_log_line_and_no_response() {
    let mut config = SimConfig::for_tests(7);
    config.wscrm.headers.clear();
    let sim = crate::support::sim::start(config, "127.0.0.1:0")
        .await
        .expect("sim");
    let base = sim.base_url().to_owned();
    let gateway = GatewayProcess::start(
        None,
        &[
            ("GATEWAY_LOG__LEVEL", "trace".to_owned()),
            ("GATEWAY_AUTH__ALLOW_DEV_SECRET", "true".to_owned()),
            ("GATEWAY_STORE__REDIS_URL", redis_url()),
            ("GATEWAY_STORE__KEY_PREFIX", random_prefix()),
            (
                "GATEWAY_VENDORS__WSCRM__BUS_API_BASE_URL",
                format!("{base}/wscrm-bus-api"),
            ),
            (
                "GATEWAY_VENDORS__WSCRM__DISPATCH_API_BASE_URL",
                format!("{base}/group-dispatch-api"),
            ),
            (
                "GATEWAY_ACCOUNTS__TENANTS__ACME__WSCRM_TENANT_ID",
                "7".to_owned(),
            ),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let bearer = token("acme", SCOPES);
    let mut bodies = String::new();
    for (path, body) in [
        (
            "/v1/accounts",
            json!({"accounts": [account("+8613800138030")]}),
        ),
        (
            "/v1/accounts",
            json!({"accounts": [account("+8613800138030")]}),
        ),
        (
            "/v1/accounts/online",
            json!({"accounts": [account("+8613800138030")]}),
        ),
        (
            "/v1/accounts/online",
            json!({"accounts": [account("not a number")]}),
        ),
    ] {
        let resp = client
            .post(gateway.url(path))
            .bearer_auth(&bearer)
            .json(&body)
            .send()
            .await
            .expect("request");
        bodies.push_str(&resp.text().await.expect("body"));
    }
    assert!(bodies.contains("+8613800138030"), "{bodies}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    gateway.sigterm();
    assert_eq!(gateway.wait_exit(Duration::from_secs(15)).await, Some(0));
    let logs = gateway.output();
    assert!(logs.contains("request completed"), "{logs}");
    for secret in [PRIVATE_KEY, MSG_PRIVATE_KEY] {
        assert!(!logs.contains(secret), "a key in the logs");
        assert!(!bodies.contains(secret), "a key in a response: {bodies}");
    }
}

#[tokio::test]
async fn the_vendor_registration_webhook_completes_the_registration() {
    let sim = sim(300).await;
    let mut config = gateway_config(&sim, dev::NXCLOUD_ACCESS_SECRET);
    config["events"] = json!({"webhook_secret": "registration-webhook-secret-0123456789"});
    let app = spawn_app_with(config).await;
    let reg = ok_json(
        call(&app, "POST", "/v1/registrations", Some(json!({"phone": "13800138002", "area_code": "+86", "country_code": "CN", "verification": "sms"}))).await,
        201,
    )
    .await;
    let reg_id = reg["id"].as_str().expect("id").to_owned();
    let submitted = call(
        &app,
        "POST",
        &format!("/v1/registrations/{reg_id}/verification-code"),
        Some(json!({"code": "123456"})),
    )
    .await;
    assert_eq!(submitted.status(), 200);
    let before = ok_json(
        call(&app, "GET", &format!("/v1/registrations/{reg_id}"), None).await,
        200,
    )
    .await;
    assert_eq!(before["status"], "code_submitted");

    // The vendor's webhook, with its string-typed status, as the vendor sends it.
    let hook = app
        .client
        .post(app.url("/group-dispatch-api/register/syncStatus"))
        .header("X-Webhook-Secret", "registration-webhook-secret-0123456789")
        .json(&json!({"phone": "8613800138002", "status": "1"}))
        .send()
        .await
        .expect("webhook");
    assert_eq!(hook.status(), 200);
    let after = ok_json(
        call(&app, "GET", &format!("/v1/registrations/{reg_id}"), None).await,
        200,
    )
    .await;
    assert_eq!(after["status"], "succeeded", "{after}");
    let feed = ok_json(
        call(&app, "GET", "/v1/events?types=registration.completed", None).await,
        200,
    )
    .await;
    assert_eq!(feed["items"].as_array().map(Vec::len), Some(1), "{feed}");
    assert_eq!(feed["items"][0]["tenant"], "acme");
    // Another tenant neither sees the registration nor its event.
    let other = call_as(
        &app,
        "globex",
        "GET",
        &format!("/v1/registrations/{reg_id}"),
        None,
    )
    .await;
    assert_eq!(other.status(), 404);
}

/// Reserves a session, fetches its QR code and lets the simulated phone of `digits` scan it as
/// `agent`; the session as the gateway then reports it.
async fn scanned_session(sim: &RunningSim, app: &TestApp, digits: &str, agent: &str) -> Value {
    let s = ok_json(
        call(
            app,
            "POST",
            "/v1/sessions",
            Some(json!({"port_type": "pc"})),
        )
        .await,
        201,
    )
    .await;
    let id = s["id"].as_str().expect("id").to_owned();
    ok_json(
        call(app, "GET", &format!("/v1/sessions/{id}/qr-code"), None).await,
        200,
    )
    .await;
    sim_admin(
        sim,
        &format!("/_sim/accounts/sessions/{id}/scan"),
        json!({"success": true, "whatsapp": digits, "userName": agent}),
    )
    .await;
    ok_json(
        call(app, "GET", &format!("/v1/sessions/{id}"), None).await,
        200,
    )
    .await
}

#[tokio::test]
async fn cloud_pc_sessions_send_the_pairing_target_the_vendor_listed() {
    let (sim, app) = setup(1000).await;
    let targets = ok_json(call(&app, "GET", "/v1/pairing-targets", None).await, 200).await;
    let target = targets["items"][0]["id"].as_str().expect("target id");
    let s = ok_json(
        call(
            &app,
            "POST",
            "/v1/sessions",
            Some(json!({"port_type": "cloud_pc", "target": target})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(s["target"], target, "{s}");
    let id = s["id"].as_str().expect("id");
    assert_eq!(
        sim.accounts().state_json()["sessions"][id]["target"].as_i64(),
        target.parse::<i64>().ok(),
        "the vendor took the target as its int"
    );

    let before = sim.ledger().requests("wscrm", "wscrm.qr_code.pre_generate");
    let resp = call(
        &app,
        "POST",
        "/v1/sessions",
        Some(json!({"port_type": "cloud_pc", "target": "team-a"})),
    )
    .await;
    let problem = expect_problem(resp, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "target", "{problem}");
    assert_eq!(
        sim.ledger().requests("wscrm", "wscrm.qr_code.pre_generate"),
        before,
        "refused without a vendor call"
    );
}

#[tokio::test]
async fn a_socks5_proxy_reaches_the_vendor_without_its_scheme() {
    let (sim, app) = setup(1000).await;
    let s = ok_json(
        call(
            &app,
            "POST",
            "/v1/sessions",
            Some(json!({"port_type": "pc", "proxy": "socks5://1.2.3.4:1080"})),
        )
        .await,
        201,
    )
    .await;
    assert!(s.get("proxy").is_none(), "{s}");
    let id = s["id"].as_str().expect("id");
    ok_json(
        call(&app, "GET", &format!("/v1/sessions/{id}/qr-code"), None).await,
        200,
    )
    .await;
    ok_json(
        call(
            &app,
            "POST",
            &format!("/v1/sessions/{id}/pair-code"),
            Some(json!({"number": "+8613800138040"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        sim.accounts().state_json()["sessions"][id]["ipConfig"],
        "1.2.3.4:1080"
    );
    let resp = call(
        &app,
        "POST",
        "/v1/sessions",
        Some(json!({"port_type": "pc", "proxy": "http://1.2.3.4:1080"})),
    )
    .await;
    expect_problem(resp, 422, "validation_failed").await;
}

#[tokio::test]
async fn avatar_changes_on_a_cloud_port_need_the_number_online_on_one() {
    let (sim, app) = setup(1000).await;
    let updates = || {
        sim.ledger()
            .requests("wscrm", "wscrm.channel_info.update_avatar_or_nickname")
    };
    let cloud = |number: &str| json!({"numbers": [number], "channel": "cloud_port", "nickname": "Help desk"});

    // Online with its keys, but on no cloud port.
    ok_json(
        call(
            &app,
            "POST",
            "/v1/accounts",
            Some(json!({"accounts": [account("+8613800138050")]})),
        )
        .await,
        201,
    )
    .await;
    ok_json(
        call(
            &app,
            "POST",
            "/v1/accounts/online",
            Some(json!({"accounts": [account("+8613800138050")]})),
        )
        .await,
        202,
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let list = ok_json(
            call(&app, "GET", "/v1/accounts?online_status=online", None).await,
            200,
        )
        .await;
        if list["items"][0]["number"] == "+8613800138050" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = updates();
    let resp = call(
        &app,
        "POST",
        "/v1/accounts/profile",
        Some(cloud("+8613800138050")),
    )
    .await;
    let problem = expect_problem(resp, 409, "illegal_state").await;
    assert_eq!(problem["current_state"], "not_on_cloud_port", "{problem}");
    assert_eq!(updates(), before, "not sent to the vendor");

    // Logged in on a cloud port that is online: sent.
    let s = scanned_session(&sim, &app, "8613800138051", "agent01").await;
    let id = s["id"].as_str().expect("id").to_owned();
    ok_json(
        call(
            &app,
            "POST",
            "/v1/accounts/profile",
            Some(cloud("+8613800138051")),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(updates(), before + 1);
    assert_eq!(
        sim.accounts().state_json()["accounts"]["8613800138051"]["nickname"],
        "Help desk"
    );

    // The port taken offline: refused again.
    ok_json(
        call(&app, "POST", &format!("/v1/sessions/{id}/offline"), None).await,
        200,
    )
    .await;
    let resp = call(
        &app,
        "POST",
        "/v1/accounts/profile",
        Some(cloud("+8613800138051")),
    )
    .await;
    let problem = expect_problem(resp, 409, "illegal_state").await;
    assert_eq!(problem["current_state"], "cloud_port_disconnected");
    assert_eq!(updates(), before + 1);
}

#[tokio::test]
async fn an_action_without_an_account_keeps_the_gap_to_the_agents_other_actions() {
    let (sim, app) = setup(1000).await;
    let s = scanned_session(&sim, &app, "8613800138060", "agent01").await;
    assert_eq!(s["state"], "online", "{s}");
    let friend = "+8613900139001";
    let accepted = ok_json(
        call(
            &app,
            "POST",
            "/v1/chat-actions",
            Some(json!({"actions": [
                {"agent_account": "agent01", "friend": friend},
                {"agent_account": "agent01", "whatsapp": "+8613800138060", "friend": friend},
            ]})),
        )
        .await,
        202,
    )
    .await;
    let ids: Vec<String> = accepted["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    for id in &ids {
        let done = wait_action(&app, id, Duration::from_secs(10)).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
    let state = sim.accounts().state_json();
    let mut sent: Vec<chrono::DateTime<chrono::Utc>> = state["actions"]
        .as_object()
        .expect("actions")
        .values()
        .map(|a| {
            a["createdAt"]
                .as_str()
                .expect("time")
                .parse()
                .expect("time")
        })
        .collect();
    sent.sort();
    assert_eq!(sent.len(), 2);
    assert!(
        sent[1] - sent[0] >= chrono::Duration::milliseconds(1000),
        "the vendor picked the same account: {sent:?}"
    );
}

#[tokio::test]
async fn every_number_the_gateway_reports_is_accepted_back() {
    let (sim, app) = setup(1000).await;
    // A real account number that numbering-plan checks call invalid.
    let s = scanned_session(&sim, &app, "8612248863574", "agent01").await;
    assert_eq!(s["number"], "+8612248863574", "{s}");
    let id = s["id"].as_str().expect("id").to_owned();
    ok_json(
        call(
            &app,
            "POST",
            "/v1/accounts/profile",
            Some(
                json!({"numbers": ["+8612248863574"], "channel": "cloud_port", "nickname": "Desk"}),
            ),
        )
        .await,
        200,
    )
    .await;

    // Every number in every answer of the account routes.
    let mut reported = vec![s["number"].clone()];
    let accounts = ok_json(call(&app, "GET", "/v1/accounts", None).await, 200).await;
    reported.extend(
        accounts["items"]
            .as_array()
            .expect("accounts")
            .iter()
            .map(|a| a["number"].clone()),
    );
    let ports = ok_json(call(&app, "GET", "/v1/ports", None).await, 200).await;
    reported.extend(
        ports["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .map(|p| p["number"].clone()),
    );
    let contacts = ok_json(
        call(&app, "GET", &format!("/v1/sessions/{id}/contacts"), None).await,
        200,
    )
    .await;
    reported.extend(
        contacts["items"]
            .as_array()
            .expect("contacts")
            .iter()
            .map(|c| c["number"].clone()),
    );
    let profile = ok_json(
        call(&app, "GET", &format!("/v1/sessions/{id}/profile"), None).await,
        200,
    )
    .await;
    reported.push(profile["number"].clone());
    assert!(reported.len() > 5, "{reported:?}");
    for number in reported {
        let number = number.as_str().expect("a number").to_owned();
        // Not this tenant's account (404) or accepted (200), never refused as a number.
        let resp = call(
            &app,
            "POST",
            "/v1/accounts/profile",
            Some(json!({"numbers": [number], "channel": "device", "nickname": "Desk"})),
        )
        .await;
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        assert!(matches!(status, 200 | 404), "{number}: {status} {text}");
        let resp = call(
            &app,
            "POST",
            "/v1/chat-actions",
            Some(json!({"actions": [{"agent_account": "agent01", "whatsapp": number, "friend": number}]})),
        )
        .await;
        assert_eq!(resp.status(), 202, "{number}");
    }
}

// ---- circuit breakers ------------------------------------------------------------------------

fn failing(vendor: &str, operation: &str) -> vendor_sim::FaultSpec {
    vendor_sim::FaultSpec::new(vendor_sim::FaultKind::ServerError)
        .vendor(vendor)
        .operation(operation)
}

/// The `Retry-After` of a refusal by an open circuit, checked to be a cool-down in seconds.
async fn refused_by_circuit(resp: reqwest::Response, cooldown_s: u64) -> Value {
    let wait: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=cooldown_s).contains(&wait), "{wait}");
    let problem = expect_problem(resp, 503, "vendor_unavailable").await;
    assert_eq!(problem["retry_after"], wait, "{problem}");
    problem
}

#[tokio::test]
async fn an_open_wscrm_circuit_refuses_account_calls_without_vendor_calls() {
    const PAIR_TARGETS: &str = "wscrm.qr_code.select_pair_target";
    let sim = sim(1000).await;
    sim.set_fault(failing("wscrm", PAIR_TARGETS))
        .expect("fault");
    let mut config = gateway_config(&sim, dev::NXCLOUD_ACCESS_SECRET);
    config["accounts"]["circuit_failures"] = json!(2);
    let app = spawn_app_with(config).await;
    for _ in 0..2 {
        let resp = call(&app, "GET", "/v1/pairing-targets", None).await;
        expect_problem(resp, 503, "vendor_unavailable").await;
    }
    assert_eq!(sim.ledger().requests("wscrm", PAIR_TARGETS), 2);
    for _ in 0..5 {
        let resp = call(&app, "GET", "/v1/pairing-targets", None).await;
        let problem = refused_by_circuit(resp, 60).await;
        assert_eq!(problem["provider"], "wscrm_accounts", "{problem}");
    }
    // Every operation of the vendor is refused while its circuit is open.
    refused_by_circuit(call(&app, "GET", "/v1/ports", None).await, 60).await;
    refused_by_circuit(
        call(
            &app,
            "POST",
            "/v1/sessions",
            Some(json!({"port_type": "pc"})),
        )
        .await,
        60,
    )
    .await;
    let ledger = sim.ledger();
    assert_eq!(ledger.requests("wscrm", PAIR_TARGETS), 2);
    assert_eq!(
        ledger.requests("wscrm", "wscrm.qr_code.select_cloud_port"),
        0
    );
    assert_eq!(ledger.requests("wscrm", "wscrm.qr_code.pre_generate"), 0);
    // NxCloud has a breaker of its own.
    ok_json(call(&app, "GET", "/v1/business-phones", None).await, 200).await;
}

#[tokio::test]
async fn chat_actions_wait_for_an_open_circuit_instead_of_calling_the_vendor() {
    const SEND: &str = "wscrm.action.batch_add";
    let sim = sim(1000).await;
    sim.set_fault(failing("wscrm", "wscrm.qr_code.select_pair_target"))
        .expect("fault");
    let mut config = gateway_config(&sim, dev::NXCLOUD_ACCESS_SECRET);
    config["accounts"]["circuit_failures"] = json!(1);
    config["accounts"]["circuit_cooldown"] = json!("2s");
    let app = spawn_app_with(config).await;
    let resp = call(&app, "GET", "/v1/pairing-targets", None).await;
    expect_problem(resp, 503, "vendor_unavailable").await;

    let action = json!({"agent_account": "agent01", "whatsapp": "+8613800138020", "friend": "+8613900139000"});
    let accepted = ok_json(
        call(
            &app,
            "POST",
            "/v1/chat-actions",
            Some(json!({"actions": [action]})),
        )
        .await,
        202,
    )
    .await;
    let id = accepted["actions"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        sim.ledger().requests("wscrm", SEND),
        0,
        "not sent while open"
    );
    let pending = ok_json(
        call(&app, "GET", &format!("/v1/chat-actions/{id}"), None).await,
        200,
    )
    .await;
    assert_eq!(pending["status"], "pending", "{pending}");

    // After the cool-down the action itself is the probe, sent once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim.ledger().requests("wscrm", SEND) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.ledger().requests("wscrm", SEND), 1);
}

#[tokio::test]
async fn an_open_nxcloud_circuit_refuses_business_phones_until_a_probe_succeeds() {
    let sim = sim(1000).await;
    sim.set_fault(failing("nxcloud", "nxcloud.get_phone"))
        .expect("fault");
    let mut config = gateway_config(&sim, dev::NXCLOUD_ACCESS_SECRET);
    config["accounts"]["business_phones_cache_ttl"] = json!("0s");
    config["accounts"]["circuit_failures"] = json!(1);
    config["accounts"]["circuit_cooldown"] = json!("2s");
    let app = spawn_app_with(config).await;
    let resp = call(&app, "GET", "/v1/business-phones", None).await;
    expect_problem(resp, 503, "vendor_unavailable").await;
    for _ in 0..5 {
        let resp = call(&app, "GET", "/v1/business-phones", None).await;
        let problem = refused_by_circuit(resp, 2).await;
        assert_eq!(problem["provider"], "nxcloud", "{problem}");
    }
    assert_eq!(sim.ledger().requests("nxcloud", "nxcloud.get_phone"), 1);

    sim.clear_faults();
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    for _ in 0..2 {
        ok_json(call(&app, "GET", "/v1/business-phones", None).await, 200).await;
    }
    assert_eq!(sim.ledger().requests("nxcloud", "nxcloud.get_phone"), 3);
}

/// The values of an enum schema in the gateway's OpenAPI document.
fn documented_enum(schema: &str) -> Vec<Value> {
    let document = serde_json::to_value(gateway_api::openapi::document()).expect("openapi");
    document["components"]["schemas"][schema]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{schema} is an enum in the document"))
        .clone()
}

/// A vendor refusing the gateway's own request is the gateway's fault: 500
/// `vendor_rejected_request` with the request id to quote, never a 502 "vendor unavailable",
/// and no vendor code in the answer.
#[tokio::test]
async fn a_vendor_refusing_our_request_is_our_500_not_their_502() {
    let (sim, app) = setup(1000).await;
    let mut fault = vendor_sim::FaultSpec::new(vendor_sim::FaultKind::ServerError)
        .vendor("wscrm")
        .operation("wscrm.qr_code.select_pair_target");
    fault.status = Some(400);
    sim.set_fault(fault).expect("fault");
    let resp = call(&app, "GET", "/v1/pairing-targets", None).await;
    let problem = expect_problem(resp, 500, "vendor_rejected_request").await;
    assert!(problem["request_id"].is_string(), "{problem}");
    assert_eq!(problem["provider"], "wscrm_accounts", "{problem}");
    assert!(problem.get("vendor_code").is_none(), "{problem}");
}

/// JSON Schema counts `42.0` as an integer, so the gateway reads it as one; `42.5` is not.
#[tokio::test]
async fn a_scan_task_agent_id_with_a_zero_fraction_is_an_integer() {
    let (_sim, app) = setup(1000).await;
    let task = ok_json(
        call(
            &app,
            "POST",
            "/v1/scan-tasks",
            Some(json!({"allocation": "specified", "agent_id": 42.0})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(task["agent_id"], 42);
    let fractional = call(
        &app,
        "POST",
        "/v1/scan-tasks",
        Some(json!({"allocation": "specified", "agent_id": 42.5})),
    )
    .await;
    expect_problem(fractional, 422, "validation_failed").await;
}
