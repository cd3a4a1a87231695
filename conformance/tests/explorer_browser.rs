//! Explorer in a real browser: start `warmcheck explore --trace` on the `v6.5.1`
//! counterexample, drive headless Chromium through chromedriver (WebDriver), click the
//! counterexample's actions one by one in "Next Action Choices", and check that the page shows
//! each state and, at the end, the SVG timeline with the divergence marked and the "Current
//! state" panel showing the property violated there (holding at the start). Saves a screenshot
//! to `target/explorer-v6.5.1.png` (and to `docs/` with `WARMCHECK_UPDATE_DOCS=1`).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); other binaries
//! can be named with `WARMCHECK_CHROMIUM` and `WARMCHECK_CHROMEDRIVER`. Where either cannot be
//! run (or `WARMCHECK_SKIP_BROWSER=1` is set), the test is reported by `cargo test` as
//! `ignored, <why>`: never a silent pass. With `WARMCHECK_REQUIRE_BROWSER=1` (as `.ci/run`
//! sets) a missing browser fails the test instead.
//!
//! The file is its own test harness (libtest-mimic, `harness = false` in Cargo.toml) because
//! libtest cannot mark a test ignored at run time, with a reason.

use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port} within 30s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A minimal WebDriver client: just the calls this test needs.
struct Driver {
    base: String,
    session: String,
}

impl Driver {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        Self::raw(method, &url, body)
    }

    fn raw(method: &str, url: &str, body: Option<Value>) -> Value {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut resp = match (method, body) {
            ("GET", _) => agent.get(url).call(),
            ("DELETE", _) => agent.delete(url).call(),
            (_, Some(b)) => agent.post(url).send_json(b),
            (_, None) => agent.post(url).send_json(json!({})),
        }
        .unwrap_or_else(|e| panic!("webdriver {method} {url}: {e}"));
        let v: Value = resp.body_mut().read_json().expect("webdriver answers JSON");
        v["value"].clone()
    }

    fn find_all(&self, xpath: &str) -> Vec<String> {
        let v = self.call(
            "POST",
            "/elements",
            Some(json!({"using": "xpath", "value": xpath})),
        );
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_object()?.values().next()?.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Poll for an element matching `xpath`.
    fn wait_for(&self, xpath: &str, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(e) = self.find_all(xpath).into_iter().next() {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "page never showed {what} ({xpath})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn text(&self, element: &str) -> String {
        self.call("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn xpath_literal(s: &str) -> String {
    if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{s}'")
    }
}

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let trial = libtest_mimic::Trial::ignorable_test(
        "explorer_shows_the_v651_divergence_step_by_step_in_chromium",
        || match browser() {
            Ok((chromium, chromedriver)) => {
                explorer_shows_the_v651_divergence_step_by_step_in_chromium(
                    &chromium,
                    &chromedriver,
                );
                Ok(libtest_mimic::Completion::Completed)
            }
            Err(why) if std::env::var_os("WARMCHECK_REQUIRE_BROWSER").is_some() => Err(format!(
                "WARMCHECK_REQUIRE_BROWSER is set but the browser test cannot run: {why}"
            )
            .into()),
            Err(why) => Ok(libtest_mimic::Completion::ignored_with(format!(
                "SKIPPED, the browser test did not run: {why}"
            ))),
        },
    );
    libtest_mimic::run(&args, vec![trial]).exit();
}

/// The Chromium and chromedriver binaries to drive, or why the test cannot run here.
fn browser() -> Result<(PathBuf, PathBuf), String> {
    if std::env::var_os("WARMCHECK_SKIP_BROWSER").is_some() {
        return Err("WARMCHECK_SKIP_BROWSER is set".to_string());
    }
    let tool = |var: &str, default: &str| -> Result<PathBuf, String> {
        let name = std::env::var_os(var).unwrap_or_else(|| default.into());
        match Command::new(&name).arg("--version").output() {
            Ok(out) if out.status.success() => Ok(PathBuf::from(name)),
            Ok(out) => Err(format!(
                "`{} --version` failed ({}); set {var} to another binary",
                Path::new(&name).display(),
                out.status
            )),
            Err(e) => Err(format!(
                "cannot run `{}` ({e}): `apt-get install chromium chromium-driver` (as .ci/run \
                 does), or set {var}",
                Path::new(&name).display()
            )),
        }
    };
    Ok((
        tool("WARMCHECK_CHROMIUM", "chromium")?,
        tool("WARMCHECK_CHROMEDRIVER", "chromedriver")?,
    ))
}

// Long: one Chromium session walked through the v6.5.1 story, page by page.
#[allow(clippy::too_many_lines)]
fn explorer_shows_the_v651_divergence_step_by_step_in_chromium(
    chromium: &Path,
    chromedriver: &Path,
) {
    let bin = env!("CARGO_BIN_EXE_warmcheck");
    let work = tempfile::tempdir().unwrap();

    // 1. Find the counterexample the way a user does.
    let out = Command::new(bin)
        .args(["check", "--variant", "v6.5.1", "--quiet", "--trace-dir"])
        .arg(work.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "v6.5.1 must fail its check");
    let trace_path = work.path().join("v6.5.1-no-replica-diverges.trace.json");
    let trace: Value =
        serde_json::from_str(&std::fs::read_to_string(&trace_path).unwrap()).unwrap();
    let actions: Vec<Value> = trace["actions"].as_array().unwrap().clone();
    assert!(
        actions.len() >= 10,
        "a real counterexample has several steps"
    );

    // 2. Serve Explorer on it.
    let port = free_port();
    let explore = Command::new(bin)
        .args(["explore", "--addr", &format!("127.0.0.1:{port}"), "--trace"])
        .arg(&trace_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _explore = KillOnDrop(explore);
    wait_for_port(port, "warmcheck explore");

    // 3. Headless Chromium through chromedriver.
    let dport = free_port();
    let chromedriver = Command::new(chromedriver)
        .arg(format!("--port={dport}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _chromedriver = KillOnDrop(chromedriver);
    wait_for_port(dport, "chromedriver");
    let profile = tempfile::tempdir().unwrap();
    let base = format!("http://127.0.0.1:{dport}");
    // chromedriver wants a path: resolve a bare name through PATH, as `Command` did.
    let binary = which(chromium).display().to_string();
    let session = Driver::raw(
        "POST",
        &format!("{base}/session"),
        Some(json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--disable-quic", "--window-size=1280,800",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}})),
    );
    let session_id = session["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("chromedriver did not start a session: {session}"))
        .to_string();
    let d = Driver {
        base,
        session: session_id,
    };

    // 4. Start at the initial state and click each action of the counterexample.
    d.call(
        "POST",
        "/url",
        Some(json!({"url": format!("http://127.0.0.1:{port}/#/steps/0")})),
    );
    let next_choices = "//h2[normalize-space()='Next Action Choices']/following-sibling::ul[1]//a";
    let path_items = "//ol[contains(@class,'path-list')]/li";
    for (i, action) in actions.iter().enumerate() {
        let label = format_action(action);
        let link = d.wait_for(
            &format!(
                "{next_choices}[normalize-space()={}]",
                xpath_literal(&label)
            ),
            &format!("step {}'s action `{label}` among the next choices", i + 1),
        );
        d.call("POST", &format!("/element/{link}/click"), Some(json!({})));
        // The path list grows by one: the page moved to the next state. It lists "Pre-init"
        // and the initial state before the actions.
        let want = i + 3;
        let deadline = Instant::now() + Duration::from_secs(20);
        while d.find_all(path_items).len() != want {
            assert!(
                Instant::now() < deadline,
                "after clicking `{label}` the path did not grow to {want} steps"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // 5. The last state: the timeline marks the divergence, the state shows what changed.
    let svg = d.wait_for(
        "//*[local-name()='svg' and contains(@class,'warmcheck-timeline')]",
        "the SVG timeline",
    );
    let svg_text = d.text(&svg);
    assert!(
        svg_text.contains("DIVERGED: r1 holds seqno"),
        "the timeline names the divergence; it says: {svg_text}"
    );
    assert!(
        !d.find_all("//*[local-name()='rect' and @class='divergence']")
            .is_empty(),
        "the diverged replica lane is outlined"
    );
    assert!(
        !d.find_all("//*[local-name()='rect' and @class='crash-band']")
            .is_empty(),
        "the crash is drawn as a band"
    );
    // The picture tells the whole story: what the crash lost, what warmup decided, the
    // violated property, a legend, in the CLI's notation, within a 1280x800 window.
    for mark in [
        "lost seqno",
        "read clean",
        "no new entry",
        "VIOLATES: no replica diverges",
        "Legend:",
        "seqnos the crash lost",
    ] {
        assert!(
            svg_text.contains(mark),
            "the timeline shows `{mark}`; it says: {svg_text}"
        );
    }
    assert!(
        !svg_text.contains('@'),
        "entries are written (U1,0), as the CLI does: {svg_text}"
    );
    assert!(
        !d.find_all("//*[local-name()='rect' and @class='crash-lost']")
            .is_empty(),
        "the seqnos the crash lost are boxed"
    );
    let scrolled = d.call(
        "POST",
        "/execute/sync",
        Some(json!({
            "script": "const e = document.querySelector('svg.warmcheck-timeline'); \
                       e.scrollIntoView({block: 'center'}); \
                       return e.getBoundingClientRect().top;",
            "args": []
        })),
    );
    assert!(
        scrolled.is_number(),
        "the page scrolls to the timeline: {scrolled}"
    );
    let rect = d.call("GET", &format!("/element/{svg}/rect"), None);
    let (w, h) = (
        rect["width"].as_f64().unwrap(),
        rect["height"].as_f64().unwrap(),
    );
    assert!(
        w <= 1280.0 && h <= 800.0,
        "the timeline fits 1280x800: {w}x{h}"
    );
    let page = d.call("GET", "/source", None);
    let page = page.as_str().unwrap_or_default();
    assert!(
        page.contains("accepted, replica adopts"),
        "the current state's outcome says the replica was accepted"
    );

    // The landing page names the loaded trace and links to the story view; the path list
    // numbers the first action 1, as the story does.
    let trace_name = trace_path.display().to_string();
    assert!(
        page.contains(&trace_name) && page.contains("warmcheck-trace"),
        "the landing page names the loaded trace {trace_name}"
    );
    assert!(
        page.contains(r#"class="warmcheck-story-link""#) && page.contains(r#"href="/story""#),
        "the landing page links to the story view"
    );
    assert!(
        page.contains(r#"<ol class="path-list" start="-1""#),
        "the path list numbers the first action 1"
    );

    // 6. A screenshot a person can look at.
    let png = d.call("GET", "/screenshot", None);
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(png.as_str().unwrap())
        .unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target: PathBuf = root.join("target/explorer-v6.5.1.png");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, &bytes).unwrap();
    // The timeline alone, as the docs show it.
    let picture = d.call("GET", &format!("/element/{svg}/screenshot"), None);
    let picture = base64::engine::general_purpose::STANDARD
        .decode(picture.as_str().unwrap())
        .unwrap();
    assert!(picture.starts_with(b"\x89PNG"), "a PNG of the timeline");
    std::fs::write(root.join("target/explorer-v6.5.1-timeline.png"), &picture).unwrap();
    if std::env::var_os("WARMCHECK_UPDATE_DOCS").is_some() {
        std::fs::write(root.join("docs/explorer-v6.5.1.png"), &bytes).unwrap();
        std::fs::write(root.join("docs/explorer-v6.5.1-timeline.png"), &picture).unwrap();
    }

    // 6b. The "Current state" panel evaluates each property at the selected state: on the
    // diverged final state the safety property is violated, at the initial state it holds.
    let tick = d.wait_for(
        "//input[@data-bind='checked: showCurrentStateProperties']",
        "the Current state? checkbox",
    );
    d.call("POST", &format!("/element/{tick}/click"), Some(json!({})));
    let current =
        "//h3[starts-with(normalize-space(),'Current state')]/following-sibling::ul[1]/li";
    let status_of = |d: &Driver, property: &str| -> (String, String) {
        let item = d.wait_for(
            &format!(
                "{current}[contains(normalize-space(),{})]",
                xpath_literal(property)
            ),
            &format!("`{property}` in the Current state panel"),
        );
        (item.clone(), d.text(&item))
    };
    let (item, shown) = status_of(&d, "Always no replica diverges");
    assert!(
        shown.contains("Violated here") && !shown.contains("holds"),
        "on the diverged final state the panel shows the violation; it says: {shown}"
    );
    assert_eq!(
        d.call("GET", &format!("/element/{item}/displayed"), None),
        json!(true),
        "the violated status is displayed at 1280x800"
    );
    let px = d.call("GET", &format!("/element/{item}/css/font-size"), None);
    let px: f64 = px
        .as_str()
        .and_then(|v| v.trim_end_matches("px").parse().ok())
        .unwrap_or(0.0);
    assert!(px >= 11.0, "the status renders at 11 px or more: {px}");
    d.call(
        "POST",
        "/execute/sync",
        Some(json!({"script": "window.location.hash = '#/steps/0'; return 0;", "args": []})),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, shown) = status_of(&d, "Always no replica diverges");
        if shown.contains("Holds here") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "at the initial state the panel shows the property holding; it says: {shown}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // 7. The story view at 1280x800: the whole timeline at full size, text 11 px and up, no
    // text over another, the violated property named.
    d.call(
        "POST",
        "/url",
        Some(json!({"url": format!("http://127.0.0.1:{port}/story")})),
    );
    d.wait_for(
        "//*[local-name()='svg' and contains(@class,'warmcheck-timeline')]",
        "the story view's timeline",
    );
    let measured = d.call(
        "POST",
        "/execute/sync",
        Some(json!({
            "script": r#"
                const out = {texts: 0, small: [], overlaps: [], wider: [], violated: ''};
                for (const svg of document.querySelectorAll('svg.warmcheck-timeline')) {
                    const r = svg.getBoundingClientRect();
                    if (r.right > window.innerWidth) out.wider.push(r.width);
                    const boxes = [];
                    for (const t of svg.querySelectorAll('text')) {
                        out.texts++;
                        const px = parseFloat(t.getAttribute('font-size')) * t.getScreenCTM().a;
                        if (px < 11) out.small.push(t.textContent + ' ' + px);
                        const b = t.getBoundingClientRect();
                        for (const [o, ob] of boxes) {
                            const x = Math.min(b.right, ob.right) - Math.max(b.left, ob.left);
                            const y = Math.min(b.bottom, ob.bottom) - Math.max(b.top, ob.top);
                            if (x > 0.5 && y > 0.5) out.overlaps.push(o + ' / ' + t.textContent);
                        }
                        boxes.push([t.textContent, b]);
                    }
                    const v = svg.querySelector('.violated-property');
                    if (v) out.violated = v.textContent;
                }
                return out;"#,
            "args": []
        })),
    );
    assert!(
        measured["texts"].as_u64().unwrap_or(0) > 20,
        "the story view draws the timeline's text: {measured}"
    );
    assert_eq!(
        measured["small"],
        json!([]),
        "every text of the story view renders at 11 px or more at 1280x800"
    );
    assert_eq!(
        measured["overlaps"],
        json!([]),
        "no text of the story view overlaps another"
    );
    assert_eq!(
        measured["wider"],
        json!([]),
        "each row of the story fits a 1280-pixel window"
    );
    assert_eq!(
        measured["violated"],
        json!("VIOLATES: no replica diverges"),
        "the story view shows the violated property"
    );
    let story = d.call("GET", "/screenshot", None);
    let story = base64::engine::general_purpose::STANDARD
        .decode(story.as_str().unwrap())
        .unwrap();
    assert!(story.starts_with(b"\x89PNG"), "a PNG of the story view");
    std::fs::write(root.join("target/explorer-v6.5.1-story.png"), &story).unwrap();
    d.call("DELETE", "", None);
}

/// The action's `Debug` form, as `format_action` prints it, from its JSON form.
fn format_action(v: &Value) -> String {
    let action: warmcheck_model::Action = serde_json::from_value(v.clone()).unwrap();
    format!("{action:?}")
}

/// `name` itself when it names a path, else the first PATH entry holding it.
fn which(name: &Path) -> PathBuf {
    if name.components().count() > 1 {
        return name.to_path_buf();
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| name.to_path_buf())
}
