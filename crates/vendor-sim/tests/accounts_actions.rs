//! Friend-chat actions: the document's examples, the spacing rule and the login rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts_support;

use std::time::Duration;

use accounts_support::{data, error, fast_config, keys};
use serde_json::{Value, json};
use vendor_sim::accounts::{AccountsConfig, AccountsSim, NOT_EXECUTED};

// Inside `accounts` so that `cargo test -p vendor-sim accounts` selects them.
mod accounts {
    use super::*;

    const ADD: &str = "/wscrm-bus-api/open/action/batchAdd";
    const RESULT: &str = "/wscrm-bus-api/open/action/callbackResult";

    fn action(agent: &str, whats_id: &str, friend: &str) -> Value {
        json!({"tenantId": 500766, "data": [{
            "agentAccount": agent, "whatsId": whats_id, "friendWhatsId": friend,
            "platformType": 1, "content": "hello", "type": 1
        }]})
    }

    fn is_vendor_time(s: &str) -> bool {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok()
    }

    #[actix_web::test]
    async fn documented_examples_are_accepted_and_answered_with_documented_fields() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        // The request example verbatim, `type` as the string "1".
        let example = json!({"tenantId": 500766, "data": [{
            "agentAccount": "test", "whatsId": "13633802288", "friendWhatsId": "8613633800088",
            "platformType": 1, "content": "hello", "type": "1"
        }]});
        let ids = data(&post!(app, ADD, example));
        let ids = ids.as_array().expect("list of ids");
        assert_eq!(ids.len(), 1);
        let id = ids[0].as_str().unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

        // The query example names an id this tenant never created: nothing comes back.
        let none = data(&post!(
            app,
            RESULT,
            json!({"tenantId": 500766, "data": ["ad518a4271fa43c8937612c5f60396f8"]})
        ));
        assert_eq!(none, json!([]));

        let rows = data(&post!(
            app,
            RESULT,
            json!({"tenantId": 500766, "data": [id]})
        ));
        let row = &rows[0];
        keys(
            row,
            &[
                "id",
                "tenantId",
                "agentAccount",
                "whatsId",
                "friendWhatsId",
                "type",
                "executeStatus",
                "executeTime",
            ],
        );
        assert_eq!(row["tenantId"], json!(500766));
        assert_eq!(row["type"], json!(1));
        // Account not logged in: queued, not executed.
        assert_eq!(row["executeStatus"], json!("0"));
        assert_eq!(row["executeTime"], json!(NOT_EXECUTED));

        // Another company cannot read it.
        assert_eq!(
            data(&post!(app, RESULT, json!({"tenantId": 1, "data": [id]}))),
            json!([])
        );
    }

    #[actix_web::test]
    async fn bad_input_gets_error_envelopes() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        error(&post_raw!(app, ADD, "{not json"), 400);
        error(&post!(app, ADD, json!({"data": []})), 400);
        error(
            &post!(app, ADD, json!({"tenantId": 500766, "data": []})),
            400,
        );
        let mut bad_type = action("a", "8613633800001", "8613633800088");
        bad_type["data"][0]["type"] = json!(2);
        error(&post!(app, ADD, bad_type), 400);
        let mut bad_platform = action("a", "8613633800001", "8613633800088");
        bad_platform["data"][0]["platformType"] = json!("x");
        error(&post!(app, ADD, bad_platform), 400);
        let mut no_friend = action("a", "8613633800001", "8613633800088");
        no_friend["data"][0]
            .as_object_mut()
            .unwrap()
            .remove("friendWhatsId");
        error(&post!(app, ADD, no_friend), 400);
        error(
            &post!(app, RESULT, json!({"tenantId": 500766, "data": [{}]})),
            400,
        );
        error(
            &post!(app, RESULT, json!({"tenantId": "x", "data": []})),
            400,
        );
    }

    /// `callbackResult` rows of these ids, in the order asked.
    macro_rules! results {
    ($app:expr, $ids:expr) => {{
        let ids: Vec<&str> = $ids.to_vec();
        data(&post!($app, RESULT, json!({"tenantId": 500766, "data": ids})))
            .as_array()
            .cloned()
            .unwrap()
    }};
}

    fn add_one(v: &Value) -> String {
        data(v)[0].as_str().unwrap().to_owned()
    }

    #[actix_web::test]
    async fn second_action_three_seconds_later_fails_and_one_after_the_spacing_succeeds() {
        // The document's 10 s; the simulated clock is moved instead of sleeping.
        let sim = AccountsSim::new(AccountsConfig {
            action_spacing: Duration::from_secs(10),
            ..fast_config()
        });
        let app = service!(sim);
        login!(app, "8613633800001");
        let first = add_one(&post!(
            app,
            ADD,
            action("agent1", "8613633800001", "8613633800088")
        ));
        sim.advance_clock(Duration::from_secs(3));
        let second = add_one(&post!(
            app,
            ADD,
            action("agent1", "8613633800001", "8613633800099")
        ));
        sim.advance_clock(Duration::from_secs(8));
        let third = add_one(&post!(
            app,
            ADD,
            action("agent1", "8613633800001", "8613633800077")
        ));
        // Another agent on the same account is a different pair.
        let other = add_one(&post!(
            app,
            ADD,
            action("agent2", "8613633800001", "8613633800077")
        ));

        let rows = results!(
            app,
            [
                first.as_str(),
                second.as_str(),
                third.as_str(),
                other.as_str()
            ]
        );
        assert_eq!(rows[0]["executeStatus"], json!("1"), "{rows:?}");
        assert!(is_vendor_time(rows[0]["executeTime"].as_str().unwrap()));
        assert_ne!(rows[0]["executeTime"], json!(NOT_EXECUTED));
        assert_eq!(
            rows[1]["executeStatus"],
            json!("2"),
            "3 s after the first: {rows:?}"
        );
        assert_eq!(rows[1]["executeTime"], json!(NOT_EXECUTED));
        assert_eq!(
            rows[2]["executeStatus"],
            json!("1"),
            "11 s after the first: {rows:?}"
        );
        assert_eq!(rows[3]["executeStatus"], json!("1"), "{rows:?}");
    }

    #[actix_web::test]
    async fn actions_spaced_by_the_configured_spacing_both_succeed() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        login!(app, "8613633800002");
        let a = add_one(&post!(
            app,
            ADD,
            action("agent", "8613633800002", "8613633800088")
        ));
        actix_web::rt::time::sleep(Duration::from_millis(350)).await;
        let b = add_one(&post!(
            app,
            ADD,
            action("agent", "8613633800002", "8613633800099")
        ));
        // Same pair twice in one batch: the second is too close.
        let mut both = action("agent", "8613633800002", "8613633800055");
        let item = both["data"][0].clone();
        both["data"].as_array_mut().unwrap().push(item);
        actix_web::rt::time::sleep(Duration::from_millis(350)).await;
        let batch = data(&post!(app, ADD, both));
        let (c, d) = (batch[0].as_str().unwrap(), batch[1].as_str().unwrap());
        let rows = results!(app, [a.as_str(), b.as_str(), c, d]);
        let statuses: Vec<&Value> = rows.iter().map(|r| &r["executeStatus"]).collect();
        assert_eq!(
            statuses,
            [&json!("1"), &json!("1"), &json!("1"), &json!("2")],
            "{rows:?}"
        );
    }

    #[actix_web::test]
    async fn actions_wait_for_login_and_fail_after_the_login_wait() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let waits = add_one(&post!(
            app,
            ADD,
            action("agent", "8613633800003", "8613633800088")
        ));
        let gives_up = add_one(&post!(
            app,
            ADD,
            action("agent", "8613633800004", "8613633800088")
        ));
        sim.advance_clock(Duration::from_secs(30));
        let rows = results!(app, [waits.as_str()]);
        assert_eq!(rows[0]["executeStatus"], json!("0"));
        // Logged in within the minute: the queued action runs.
        login!(app, "8613633800003");
        sim.advance_clock(Duration::from_secs(31));
        let rows = results!(app, [waits.as_str(), gives_up.as_str()]);
        assert_eq!(rows[0]["executeStatus"], json!("1"), "{rows:?}");
        assert_eq!(rows[1]["executeStatus"], json!("2"), "{rows:?}");
        assert_eq!(rows[1]["executeTime"], json!(NOT_EXECUTED));
    }

    #[actix_web::test]
    async fn an_agent_logged_out_makes_its_actions_fail() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        login!(app, "8613633800005");
        let (status, _) = admin!(
            app,
            "/_sim/accounts/agents/agentX/online",
            json!({"online": false})
        );
        assert_eq!(status, 200);
        let id = add_one(&post!(
            app,
            ADD,
            action("agentX", "8613633800005", "8613633800088")
        ));
        sim.advance_clock(Duration::from_secs(61));
        assert_eq!(results!(app, [id.as_str()])[0]["executeStatus"], json!("2"));
    }

    #[actix_web::test]
    async fn missing_whats_id_uses_a_logged_in_account_and_example_types_print_numbers() {
        let sim = AccountsSim::new(AccountsConfig {
            example_types: true,
            ..fast_config()
        });
        let app = service!(sim);
        let mut req = action("agent", "", "8613633800088");
        req["data"][0].as_object_mut().unwrap().remove("whatsId");
        // Nobody logged in: nothing to act from.
        let lonely = add_one(&post!(app, ADD, req.clone()));
        login!(app, "8613633800006");
        let picked = add_one(&post!(app, ADD, req));
        let rows = results!(app, [lonely.as_str(), picked.as_str()]);
        assert_eq!(rows[0]["executeStatus"], json!(2));
        assert_eq!(rows[1]["whatsId"], json!("8613633800006"));
        assert_eq!(rows[1]["executeStatus"], json!(1));
    }
}
