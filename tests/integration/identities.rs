//! Identities end to end: the real `demoreel serve` and the sample app. An identity is
//! stored without ever being answered; a demonstration with one signs the browser in
//! before anyone opens the share link (strictly: fails `login_failed` with a wrong
//! password, and closes its browser); the task it makes signs in with that identity, and
//! a replay of it with no credential of its own signs in, answers the product's code and
//! succeeds; once the identity is deleted, the replay is refused naming the step.

use crate::demonstrations::{mails_sent, run_answering_code, status_until};
use crate::service::{Client, World, browsers_of};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const EMAIL: &str = "ada@orbit.test";

fn identity(app_url: &str, password: &str) -> Value {
    json!({"name": "Ada at Orbit", "source": app_url, "credentials": [{"type": "username_password", "username": EMAIL, "password": password}]})
}

/// The fields a 400 names, in order.
fn fields(answer: &Value) -> Vec<String> {
    answer["details"].as_array().map(|d| d.iter().map(|d| d["field"].as_str().unwrap_or("").to_string()).collect()).unwrap_or_default()
}

#[test]
fn an_identity_signs_a_demonstration_in_before_the_person_and_its_task_replays_with_it() {
    let _machine = crate::common::whole_machine();
    let world = World::new("identities", &[]);
    world.runtime.block_on(async {
        let client = Client::new(&world.server, &world.key);
        let post = |body: Value| client.call(reqwest::Method::POST, "/v1/identities", Some(body));

        // Refused, each naming its field.
        let login_page = world.app.url("/");
        let mut no_type = identity(&login_page, "pw");
        no_type["credentials"][0]["type"] = json!("totp");
        let mut no_password = identity(&login_page, "pw");
        no_password["credentials"][0].as_object_mut().unwrap().remove("password");
        for (body, field) in [
            (json!({"name": "x", "source": login_page}), "credentials"),
            (identity("https://com/login", "pw"), "source"),
            (identity("file:///etc/passwd", "pw"), "source"),
            (no_type, "credentials[0].type"),
            (no_password, "credentials[0].password"),
        ] {
            let (code, answer) = post(body).await;
            assert_eq!((code, fields(&answer)), (400, vec![field.to_string()]), "{answer}");
        }

        // Stored, answered without the login or the password.
        let (code, good) = post(identity(&login_page, demoreel::sample_app::PASSWORD)).await;
        assert_eq!(code, 201, "{good}");
        assert_eq!((good["name"].as_str(), good["status"].as_str()), (Some("Ada at Orbit"), Some("unverified")), "{good}");
        assert!(good["id"].is_string() && good["created_at"].is_string(), "{good}");
        let (code, wrong) = post(identity(&login_page, "not-the-password")).await;
        assert_eq!(code, 201, "{wrong}");
        let (good_id, wrong_id) = (good["id"].as_str().unwrap(), wrong["id"].as_str().unwrap());
        let (code, listed) = client.call(reqwest::Method::GET, "/v1/identities", None).await;
        assert_eq!((code, listed["data"].as_array().map(Vec::len)), (200, Some(2)), "{listed}");
        let (code, _) = client.call(reqwest::Method::GET, &format!("/v1/identities/{}", uuid::Uuid::new_v4()), None).await;
        assert_eq!(code, 404);

        let demonstrate = |identity_id: &str, skip: bool| {
            json!({"task_name": "Orbit projects", "task_description": "Open the projects", "identity_id": identity_id, "identity_skip_validation": skip,
                   "session_config": {"browser": {"start_url": login_page}}})
        };
        let (code, refused) = client.call(reqwest::Method::POST, "/v1/demonstrations/", Some(demonstrate(&uuid::Uuid::new_v4().to_string(), false))).await;
        assert_eq!((code, fields(&refused)), (400, vec!["identity_id".to_string()]), "{refused}");

        // Strict, with the wrong password: the session fails login_failed, its browser closed.
        let (code, created) = client.call(reqwest::Method::POST, "/v1/demonstrations/", Some(demonstrate(wrong_id, false))).await;
        assert_eq!(code, 201, "{created}");
        let failed = status_until(&client, created["session_id"].as_str().unwrap(), &["failed", "stopped", "completed"]).await;
        assert_eq!(failed["status"], json!("failed"), "{failed}");
        assert!(failed["error"].as_str().unwrap_or("").contains("login_failed"), "{failed}");
        let started = Instant::now();
        while browsers_of(world.server.pid()) > 0 {
            assert!(started.elapsed() < Duration::from_secs(10), "the failed session's browser is left");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (_, wrong) = client.call(reqwest::Method::GET, &format!("/v1/identities/{wrong_id}"), None).await;
        assert_eq!(wrong["status"], json!("login_failed"), "{wrong}");

        // With the right one, the browser is signed in before anyone opens the link: the
        // app mails its code (the person would type it) and the identity is verified.
        let sent = mails_sent(&world.app).await;
        let (code, created) = client.call(reqwest::Method::POST, "/v1/demonstrations/", Some(demonstrate(good_id, true))).await;
        assert_eq!(code, 201, "{created}");
        let id = created["session_id"].as_str().unwrap();
        let started = Instant::now();
        loop {
            let (_, good) = client.call(reqwest::Method::GET, &format!("/v1/identities/{good_id}"), None).await;
            if good["status"] == json!("verified") {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the identity did not sign in: {good}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(mails_sent(&world.app).await > sent, "the password was accepted (the app mailed a code)");
        let (code, finishing) = client.call(reqwest::Method::POST, &format!("/v1/demonstrations/{id}/recording/complete"), None).await;
        assert_eq!(code, 200, "{finishing}");
        let done = status_until(&client, id, &["completed", "failed", "stopped"]).await;
        assert_eq!(done["status"], json!("completed"), "{done}");
        let task_id = done["task_id"].as_str().unwrap();
        let (_, version) = client.call(reqwest::Method::GET, &format!("/v1/tasks/{task_id}/versions/{}", done["task_version_id"].as_str().unwrap()), None).await;
        assert_eq!(version["steps"], json!([{"action": "goto", "url": login_page}, {"action": "sign_in", "identity_id": good_id}]), "{version}");

        // A replay with no credential of its own signs in with the task's identity.
        let sent = mails_sent(&world.app).await;
        let replay = json!({"options": {"workflow": {"task_id": task_id}}});
        let run_id = client.create(replay.clone()).await;
        let (run, answered) = run_answering_code(&world.app, &client, &run_id, sent).await;
        assert_eq!(run["status"], json!("succeeded"), "{run}");
        assert!(answered, "the replay asked for the app's code");
        let (_, listed) = client.call(reqwest::Method::GET, &format!("/v1/agent/runs/{run_id}/artifacts"), None).await;
        let events = listed["data"].as_array().unwrap().iter().find(|a| a["name"] == json!("events.jsonl")).unwrap_or_else(|| panic!("no events.jsonl: {listed}"));
        let events = String::from_utf8(client.download(events["id"].as_str().unwrap()).await.1).unwrap();
        let planned = events.lines().find(|line| line.contains("login_planned")).unwrap_or_else(|| panic!("no login_planned event: {events}"));
        assert!(planned.contains("Ada at Orbit"), "the run signed in with the identity: {planned}");
        assert!(!events.contains(demoreel::sample_app::PASSWORD), "the password is not in the run's events");

        // Deleted, the identity can no longer sign a replay in.
        assert_eq!(client.call(reqwest::Method::DELETE, &format!("/v1/identities/{good_id}"), None).await.0, 204);
        let (code, refused) = client.call(reqwest::Method::POST, "/v1/agent/runs", Some(replay)).await;
        assert_eq!((code, fields(&refused)), (400, vec!["options.workflow.steps[1].identity_id".to_string()]), "{refused}");

        let answers = client.answers.lock().unwrap().join("\n");
        assert!(!answers.contains(demoreel::sample_app::PASSWORD) && !answers.contains("not-the-password") && !answers.contains(EMAIL), "no answer holds a login");
    });
}
