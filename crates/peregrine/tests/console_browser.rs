//! The web console in a real browser: headless Chromium driven over WebDriver (Debian's
//! chromedriver on a loopback port) against the live agent with its alert store, after a real
//! `bash → python3 → cat` read a watched file. A browser without a session lands on the login
//! page; every page loads with no error in the browser's console log; the detail page draws the
//! process tree bash → python3 → cat; the alerts queue shows a new alert without a reload (the
//! server-sent events); a silence made from the detail page suppresses the next alert of that
//! rule (a second rule on the same behaviour shows the behaviour did happen); a read-only user
//! sees the buttons disabled and is refused by the server; the debug page shows a bad
//! condition's error at its column and a live sample of the watched read. Screenshots of each
//! page are kept in `target/console-screenshots/`.

mod e2e_harness;

use e2e_harness::{console_agent, fresh_db, run, scratch};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Generous, for a loaded machine: only decides when something counts as missing.
const DEADLINE: Duration = Duration::from_secs(20);
const ADMIN_PASSWORD: &str = "console-admin-pass";
const VIEWER_PASSWORD: &str = "console-viewer-pass";
const RULE: &str = "Secret read by cat";
const CONTROL: &str = "Secret read control";

/// chromedriver's log endpoint (`goog:loggingPrefs`): the browser's console entries since the
/// last call. Not part of W3C WebDriver, so fantoccini has no method for it.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// The console entries at level SEVERE (uncaught errors, failed requests, CSP refusals).
async fn console_errors(c: &Client) -> Vec<String> {
    let log = c.issue_cmd(BrowserLog).await.expect("browser log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("write screenshot");
}

/// Polls `f` until it gives a value or [`DEADLINE`] passes.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

/// Waits until the element `css` is on the page with a text for which `want` holds; the text.
async fn wait_text(c: &Client, what: &str, css: &str, want: impl Fn(&str) -> bool) -> String {
    until(what, || async { text_of(c, css).await.filter(|t| want(t)) }).await
}

/// Waits until the element with id `id` is on the page.
async fn wait_id(c: &Client, what: &str, id: &str) {
    until(what, || async { c.find(Locator::Id(id)).await.ok() }).await;
}

/// Clicks the element with id `id`.
async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .click()
        .await
        .expect("click");
}

/// Replaces the text of the field with id `id`.
async fn fill(c: &Client, id: &str, text: &str) {
    let field = c
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

/// Asserts that the browser's console holds no error since the last look, but for requests
/// to `path` refused with `status` (the ones a step caused on purpose).
async fn only_errors_from(c: &Client, what: &str, allowed: Option<(&str, &str)>) {
    let errors = console_errors(c).await;
    let expected = |e: &String| allowed.is_some_and(|(p, s)| e.contains(p) && e.contains(s));
    assert!(
        errors.iter().all(expected),
        "{what}: console errors: {errors:#?}"
    );
}

/// Loads `path`, waits for `ready` (a CSS selector), screenshots it and asserts no error
/// reached the browser's console.
async fn visit(c: &Client, base: &str, path: &str, ready: &str, name: &str) {
    c.goto(&format!("{base}{path}")).await.expect("goto");
    until(&format!("{ready} on {path}"), || async {
        c.find(Locator::Css(ready)).await.ok()
    })
    .await;
    shot(c, name).await;
    only_errors_from(c, path, None).await;
}

async fn login(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/console/alerts"))
        .await
        .expect("goto");
    // No session: the page's 401 carries the login form, at the address asked for.
    wait_id(c, "the login form", "login").await;
    assert_eq!(
        c.current_url().await.expect("url").path(),
        "/console/alerts"
    );
    only_errors_from(c, "the login form", Some(("/console/alerts", "401"))).await;
    fill(c, "user", user).await;
    fill(c, "password", password).await;
    click(c, "submit").await;
    // Logged in, the browser comes back to the page it asked for.
    wait_id(c, "the alerts page after login", "filters").await;
}

/// bash → python3 → cat reading `secret`.
fn behaviour(secret: &Path) {
    let script = format!(
        "import subprocess; subprocess.run(['cat', '{}'], stdout=subprocess.DEVNULL)",
        secret.display()
    );
    run(
        "bash",
        &["-c", &format!("/usr/bin/python3 -c \"{script}\"; true")],
    );
}

/// The executables of the process tree, from the oldest ancestor down.
async fn tree_exes(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for n in c
        .find_all(Locator::Css("#process-tree .node"))
        .await
        .unwrap_or_default()
    {
        if let Ok(Some(exe)) = n.attr("data-exe").await {
            out.push(exe);
        }
    }
    out
}

fn base_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

#[test]
fn console_pages_in_chromium_against_a_live_agent() {
    if !peregrine_testkit::e2e_root("console_pages_in_chromium_against_a_live_agent") {
        return;
    }
    let dir = scratch("console-browser");
    let db = fresh_db(&dir);
    let secret = dir.join("shadow");
    std::fs::write(&secret, "root:x:0:\n").expect("secret");
    let rules = dir.join("rules.yaml");
    let condition = format!(
        "evt.type in (open, openat, openat2) and fd.name = {} and proc.name = cat",
        secret.display()
    );
    std::fs::write(
        &rules,
        format!(
            "
- rule: {RULE}
  desc: a test file read by cat under python3
  condition: {condition}
  output: secret read (file=%fd.name cmdline=%proc.cmdline parent=%proc.pname)
  priority: CRITICAL
  tags: [T1003, test]
- rule: {CONTROL}
  desc: the same read, never silenced
  condition: {condition}
  output: control read (file=%fd.name)
  priority: NOTICE
"
        ),
    )
    .expect("rules");
    let state_dir = dir.join("state");
    let config = format!(
        "webserver: {{enabled: true, listen_address: 127.0.0.1, listen_port: 0}}\n\
             json_output: true\n\
             rule_matching: all\n\
             silences_api: {{enabled: true}}\nstate_dir: {}\n\
             console: {{enabled: true, users: [\
               {{name: admin, password: {ADMIN_PASSWORD}, role: admin}}, \
               {{name: viewer, password: {VIEWER_PASSWORD}, role: read_only}}]}}\n\
             alert_store: {{enabled: true, path: {}, ancestry_depth: 8}}\n",
        state_dir.display(),
        db.display()
    );
    let mut agent = console_agent(&dir, &rules, &config, &[]);
    let base = format!("http://{}", agent.web_addr());
    behaviour(&secret);
    assert!(
        agent
            .expect_alert(DEADLINE, |v| v["rule"] == RULE)
            .is_some(),
        "no alert on stdout"
    );

    let driver = peregrine_testkit::services::chromedriver().expect("chromedriver starts");
    let profile = driver.dir().join("profile");
    let caps = json!({
        "goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                     format!("--user-data-dir={}", profile.display())],
        },
        "goog:loggingPrefs": {"browser": "ALL"},
    });
    let caps = caps.as_object().cloned().expect("object");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://{}", driver.addr()))
            .await
            .expect("webdriver session");
        login(&c, &base, "admin", ADMIN_PASSWORD).await;
        visit(&c, &base, "/console/", "#chart", "overview").await;
        visit(&c, &base, "/console/?window=1h", "#chart", "overview-1h").await;
        visit(&c, &base, "/console/rules", "#rules tr[data-rule]", "rules").await;
        let hits = text_of(&c, &format!("#rules tr[data-rule='{RULE}'] td.num")).await;
        assert_eq!(hits.as_deref(), Some("1"));
        visit(&c, &base, "/console/debug", "#metadata-summary", "debug").await;
        assert!(
            c.find(Locator::Css("#drops tr td")).await.is_ok(),
            "no per-CPU drops"
        );
        // A condition that does not compile: its error under the column the server names.
        fill(&c, "debug-filter", "evt.type = open and and").await;
        click(&c, "sample").await;
        let shown = wait_text(&c, "the filter error", "#filter-error", |_| true).await;
        assert!(shown.contains('^'), "{shown}");
        // The 400 is the one console entry that is expected here.
        only_errors_from(&c, "bad filter", Some(("/api/v1/debug/events", "400"))).await;
        // A live sample: the read of the watched file, decoded.
        fill(&c, "debug-filter", &condition).await;
        fill(&c, "debug-limit", "1").await;
        click(&c, "sample").await;
        wait_text(&c, "the sample request", "#debug-events", |t| {
            t.starts_with("Sampling")
        })
        .await;
        behaviour(&secret);
        let secret_name = secret.display().to_string();
        wait_text(&c, "the sampled event", "#events", |t| {
            t.contains(&secret_name)
        })
        .await;
        shot(&c, "debug-sample").await;
        only_errors_from(&c, "debug sample", None).await;
        // The behaviour's alerts are read here so the queue's count below starts after them.
        assert!(agent
            .expect_alert(DEADLINE, |v| v["rule"] == RULE)
            .is_some());

        // The queue, then a new alert arriving while it is open (no reload: the marker set
        // on the page survives).
        visit(
            &c,
            &base,
            "/console/alerts",
            "#queue tr[data-rule]",
            "alerts",
        )
        .await;
        wait_text(&c, "the live stream", "#live-status", |t| t == "live").await;
        c.execute("window.__sameView = true;", vec![])
            .await
            .expect("mark");
        let rows = |c: &Client| {
            let c = c.clone();
            async move {
                c.find_all(Locator::Css(&format!("#queue tr[data-rule='{RULE}']")))
                    .await
                    .map(|v| v.len())
                    .unwrap_or(0)
            }
        };
        let before = rows(&c).await;
        behaviour(&secret);
        let on_stdout = agent
            .expect_alert(DEADLINE, |v| v["rule"] == RULE)
            .map(|_| Instant::now());
        assert!(on_stdout.is_some(), "no second alert on stdout");
        until("the new alert in the open queue", || async {
            (rows(&c).await > before).then_some(())
        })
        .await;
        let shown = Instant::now();
        println!(
            "live queue: the new row appeared {:?} after the agent printed the alert",
            shown.saturating_duration_since(on_stdout.unwrap_or(shown))
        );
        let same = c
            .execute("return window.__sameView === true;", vec![])
            .await;
        assert_eq!(same.ok(), Some(Value::Bool(true)), "the page was reloaded");
        shot(&c, "alerts-live").await;

        // The newest alert's detail: the process tree, then a silence of its rule.
        c.find(Locator::Css(&format!("#queue tr[data-rule='{RULE}'] a")))
            .await
            .expect("row link")
            .click()
            .await
            .expect("click");
        wait_id(&c, "the process tree", "process-tree").await;
        let exes = tree_exes(&c).await;
        let names: Vec<&str> = exes.iter().map(|e| base_name(e)).collect();
        let tail = &names[names.len().saturating_sub(3)..];
        assert!(
            tail.len() == 3
                && tail[0] == "bash"
                && tail[1].starts_with("python3")
                && tail[2] == "cat",
            "tree: {exes:?}"
        );
        assert!(text_of(&c, "#condition")
            .await
            .is_some_and(|t| t.contains("proc.name = cat")));
        shot(&c, "alert-detail").await;
        only_errors_from(&c, "detail", None).await;
        click(&c, "silence").await;
        wait_text(&c, "the silence", "#action-status", |t| t.ends_with("done")).await;
        shot(&c, "alert-silenced").await;

        // The next read: the control rule fires, the silenced one does not.
        behaviour(&secret);
        assert!(
            agent
                .expect_alert(DEADLINE, |v| v["rule"] == CONTROL)
                .is_some(),
            "the behaviour did not happen again"
        );
        let late = agent.drain(Duration::from_secs(2));
        assert!(
            !late.iter().any(|v| v["rule"] == RULE),
            "silenced rule still alerted: {late:?}"
        );
        let detail_url = c.current_url().await.expect("url").to_string();

        // A read-only user: the buttons are disabled and the server refuses a silence.
        click(&c, "logout").await;
        wait_id(&c, "the login page after logout", "login").await;
        login(&c, &base, "viewer", VIEWER_PASSWORD).await;
        c.goto(&detail_url).await.expect("goto");
        wait_id(&c, "the detail as viewer", "process-tree").await;
        for id in ["ack", "resolve", "silence"] {
            let disabled = c
                .find(Locator::Id(id))
                .await
                .expect("button")
                .attr("disabled")
                .await
                .expect("attr");
            assert!(disabled.is_some(), "{id} is enabled for a read-only user");
        }
        shot(&c, "alert-detail-read-only").await;
        // The page's own session and CSRF token, so only the role can refuse it.
        let status = c
            .execute_async(
                "const done = arguments[0];
                 fetch('/api/v1/session').then(r => r.json()).then(s =>
                   fetch('/api/v1/silences', {method: 'POST',
                     headers: {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf_token},
                     body: JSON.stringify({matchers: ['rule=x'], duration_seconds: 60})}))
                   .then(r => done(r.status), e => done(String(e)));",
                vec![],
            )
            .await
            .expect("fetch");
        assert_eq!(status, json!(403));
        // That refusal is the one console entry the test caused on purpose.
        only_errors_from(&c, "read-only silence", Some(("/api/v1/silences", "403"))).await;
        c.close().await.expect("close");
    });
    assert!(agent.stop().success());
    println!("screenshots in {}", screenshots().display());
}
