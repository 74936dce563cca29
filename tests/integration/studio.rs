//! The authoring page, `/studio`, in real Chromium against a real server: the form is
//! made from a template's schema, typing changes the preview (read back by OCR), a bad
//! colour shows its error at its field, and a studio link opens the page without a key
//! while opening nothing else.

use crate::common::TempDir;
use crate::service::{Client, World};
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Headless Chromium as root: its own profile, no sandbox (the page is ours, the server
/// local), and the flags the machine needs.
pub(crate) async fn browser(profile: &std::path::Path) -> (Browser, tokio::task::JoinHandle<()>) {
    let config = BrowserConfig::builder()
        .chrome_executable(demoreel::capture::browser::executable())
        .new_headless_mode()
        .no_sandbox()
        .user_data_dir(profile)
        .window_size(1400, 1000)
        .args(["disable-gpu", "disable-background-networking", "disable-component-update", "disable-sync", "no-first-run", "disable-popup-blocking"])
        .build()
        .unwrap();
    let (browser, mut handler) = Browser::launch(config).await.unwrap();
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    (browser, events)
}

pub(crate) async fn eval(page: &Page, expression: &str) -> Value {
    page.evaluate(expression).await.unwrap_or_else(|e| panic!("{expression}: {e}")).into_value::<Value>().unwrap_or(Value::Null)
}

/// Waits until `condition` (a JavaScript expression) is true on the page.
async fn until(page: &Page, condition: &str, what: &str) {
    let started = Instant::now();
    while eval(page, condition).await != json!(true) {
        assert!(started.elapsed() < Duration::from_secs(30), "{what}: not within 30 s; status: {}", eval(page, "document.querySelector('#status').textContent").await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every preview the page asked for has been answered, then a little more
/// for a debounced one to start, and again.
async fn settled(page: &Page) {
    for _ in 0..2 {
        until(page, "studio.asked === studio.answered", "previews answered").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    until(page, "studio.asked === studio.answered", "previews answered").await;
}

fn rendered(value: &Value) -> u64 {
    value.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The text OCR reads in the preview the page shows now.
async fn preview_text(page: &Page, dir: &std::path::Path) -> String {
    // Read through a canvas: the page's policy lets it fetch nothing but its server.
    let encoded = eval(page, "(() => { const i = document.querySelector('#preview'); const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight; c.getContext('2d').drawImage(i, 0, 0); return c.toDataURL('image/png').split(',')[1]; })()").await;
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap()).unwrap();
    let path = dir.join("preview.png");
    std::fs::write(&path, png).unwrap();
    let out = std::process::Command::new("tesseract").arg(&path).arg("stdout").output().expect("tesseract (scripts/setup.sh installs it)");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Selects the text of the field's input, then types `text` over it key by key.
async fn retype(page: &Page, selector: &str, text: &str) {
    eval(page, &format!("(() => {{ const e = document.querySelector({selector:?}); e.focus(); e.select(); return true; }})()")).await;
    page.find_element(selector).await.unwrap().type_str(text).await.unwrap();
}

#[test]
fn the_studio_previews_as_you_type_and_shows_a_bad_colour_at_its_field() {
    let _machine = crate::common::whole_machine();
    let world = World::new("studio", &[]);
    let dir = TempDir::new("studio-browser");
    world.runtime.block_on(async {
        let (mut browser, events) = browser(&dir.path().join("profile")).await;
        let page = browser.new_page(format!("{}/studio", world.server.url)).await.unwrap();
        page.find_element("#key").await.unwrap().click().await.unwrap().type_str(&world.key).await.unwrap();
        page.find_element("#connect").await.unwrap().click().await.unwrap();
        until(&page, "Number(document.querySelector('#preview').dataset.rendered) >= 1", "the first preview").await;
        assert_eq!(eval(&page, "document.querySelectorAll('#template option').length").await, json!(6));
        // The still is what shows: the player is out of the way until Play.
        assert_eq!(eval(&page, "getComputedStyle(document.querySelector('#player')).display").await, json!("none"));
        assert_eq!(eval(&page, "getComputedStyle(document.querySelector('#preview')).display").await, json!("block"));
        assert_eq!(eval(&page, "document.querySelector('#template').value").await, json!("simple@1"));
        // The form is the schema's: a text field for content.text, a colour for textColor.
        assert_eq!(eval(&page, "document.querySelector('[data-field=\"style.textColor\"] input[type=color]') !== null").await, json!(true));
        settled(&page).await;

        retype(&page, "[data-field='content.text'] textarea", "Hello Studio").await;
        settled(&page).await;
        let text = preview_text(&page, dir.path()).await;
        assert!(text.contains("Hello Studio"), "the preview after typing reads {text:?}");

        let shown = rendered(&eval(&page, "document.querySelector('#preview').dataset.rendered").await);
        retype(&page, "[data-field='style.textColor'] input[type=text]", "#12zz").await;
        settled(&page).await;
        let error = eval(&page, "document.querySelector('[data-field=\"style.textColor\"] .error').textContent").await;
        assert!(error.as_str().is_some_and(|e| e.contains("colour")), "the error at textColor: {error}");
        assert_eq!(eval(&page, "document.querySelector('[data-field=\"style.textColor\"]').classList.contains('invalid')").await, json!(true));
        assert_eq!(eval(&page, "document.querySelector('[data-field=\"content.text\"] .error').textContent").await, json!(""), "only the bad field is marked");
        assert_eq!(rendered(&eval(&page, "document.querySelector('#preview').dataset.rendered").await), shown, "the last good preview stays");

        retype(&page, "[data-field='style.textColor'] input[type=text]", "#FDE68A").await;
        settled(&page).await;
        assert_eq!(eval(&page, "document.querySelector('[data-field=\"style.textColor\"] .error').textContent").await, json!(""));
        assert!(rendered(&eval(&page, "document.querySelector('#preview').dataset.rendered").await) > shown);

        // Scrubbing the timeline previews that moment.
        eval(&page, "(() => { const r = document.querySelector('#at'); r.value = 300; r.dispatchEvent(new Event('input')); return true; })()").await;
        settled(&page).await;
        assert_eq!(eval(&page, "document.querySelector('#preview').dataset.at").await, json!("300"));

        browser.close().await.unwrap();
        let _ = browser.wait().await;
        events.abort();
    });
}

#[test]
fn a_studio_link_opens_the_page_without_a_key_and_opens_nothing_else() {
    let _machine = crate::common::whole_machine();
    let world = World::new("studio-link", &[]);
    let dir = TempDir::new("studio-link-browser");
    world.runtime.block_on(async {
        let client = Client::new(&world.server, &world.key);
        let (status, link) = client.call(reqwest::Method::POST, "/v1/templates/studio-link", Some(json!({"minutes": 5}))).await;
        assert_eq!(status, 200, "{link}");
        let url = link["url"].as_str().unwrap().to_string();
        let token = url.split_once("#token=").unwrap().1.to_string();
        let (status, refused) = client.call(reqwest::Method::POST, "/v1/templates/studio-link", Some(json!({"minutes": 5000}))).await;
        assert_eq!((status, &refused["details"][0]["field"]), (400, &json!("minutes")));

        // The token speaks for the key on the page's two endpoints, and nowhere else.
        let http = reqwest::Client::new();
        let with_token = |method: reqwest::Method, path: &str, token: &str| http.request(method, format!("{}{path}", world.server.url)).header("x-studio-token", token.to_string());
        assert_eq!(with_token(reqwest::Method::GET, "/v1/templates", &token).send().await.unwrap().status(), 200);
        for (method, path) in [(reqwest::Method::GET, "/v1/agent/runs"), (reqwest::Method::POST, "/v1/templates"), (reqwest::Method::POST, "/v1/templates/studio-link")] {
            assert_eq!(with_token(method, path, &token).send().await.unwrap().status(), 401, "{path} with a studio token");
        }
        let tampered = format!("{}0", &token);
        assert_eq!(with_token(reqwest::Method::GET, "/v1/templates", &tampered).send().await.unwrap().status(), 401);
        let (key_id, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let longer = format!("{key_id}.{}.{signature}", demoreel::secrets::now_unix() + 999_999);
        assert_eq!(with_token(reqwest::Method::GET, "/v1/templates", &longer).send().await.unwrap().status(), 401, "the expiry is signed");

        let (mut browser, events) = browser(&dir.path().join("profile")).await;
        let page = browser.new_page(url).await.unwrap();
        until(&page, "Number(document.querySelector('#preview').dataset.rendered) >= 1", "the first preview by link").await;
        assert_eq!(eval(&page, "getComputedStyle(document.querySelector('#sign-in')).display").await, json!("none"), "no key is asked for");
        browser.close().await.unwrap();
        let _ = browser.wait().await;
        events.abort();
    });
}
