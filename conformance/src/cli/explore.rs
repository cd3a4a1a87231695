//! `warmcheck explore`: stateright's Explorer on the model.

use super::args::{BoundsArgs, DesignArgs};
use crate::trace::Trace;
use stateright::{Checker, Model, Path};
use std::path::PathBuf;

/// Serve stateright's Explorer on the model, to browse behaviours step by step in a browser.
///
/// Each step shows what it changed, and a timeline picture of the path (one lane per node and
/// one for the active's disk). With --trace, prints the address that opens Explorer at the end
/// of a saved counterexample; the landing page names the trace, and /story shows its timeline
/// full size (rows that fit the window).
///
/// Runs until interrupted. Exit codes: 2 usage error or the address is taken.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    design: DesignArgs,
    #[command(flatten)]
    bounds: BoundsArgs,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
    /// A trace file (or `check --json` report) to open; its design and bounds are used.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
}

/// The trace `explore` opened: its file, the property it violates, its path encoded as
/// Explorer's address wants it, and the story view's rows.
struct Loaded {
    file: String,
    violates: Option<String>,
    steps: usize,
    encoded: String,
    story: Vec<String>,
}

pub fn run(a: Args) -> u8 {
    let addr = a.addr.as_str();
    let (model, loaded) = match a.trace {
        Some(path) => match Trace::load(&path) {
            Ok(t) => {
                if let Err(e) = t.states() {
                    eprintln!("warmcheck: {}: {e}", path.display());
                    return 2;
                }
                let model = t.model();
                let init = model.init_states().remove(0);
                let p = Path::from_actions(&model, init, t.actions.iter())
                    .expect("the trace replays on its model");
                let encoded = p.encode(&model);
                let story = warmcheck_model::svg::story(&model, &p.into_vec());
                let loaded = Loaded {
                    file: path.display().to_string(),
                    violates: t.property.clone(),
                    steps: t.actions.len(),
                    encoded,
                    story,
                };
                (model, Some(loaded))
            }
            Err(e) => {
                eprintln!("warmcheck: {e}");
                return 2;
            }
        },
        None => (a.bounds.bounds().into_model(a.design.design()), None),
    };
    let front = match tiny_http::Server::http(addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warmcheck: cannot listen on {addr}: {e}");
            return 2;
        }
    };
    // stateright's Explorer listens on a port of its own on the loopback; warmcheck's front
    // server at `addr` serves its own pages and passes every other request through.
    let inner = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("warmcheck: cannot find a loopback port for Explorer: {e}");
            return 2;
        }
    };
    println!(
        "Explorer for design `{}` within {} at http://{addr}/",
        model.variant, model.bounds
    );
    if let Some(l) = &loaded {
        match &l.violates {
            Some(p) => println!(
                "The saved counterexample for \"{p}\" ends at http://{addr}/#/steps/{}",
                l.encoded
            ),
            None => println!(
                "The saved trace ends at http://{addr}/#/steps/{}",
                l.encoded
            ),
        }
        println!("Its story, full size: http://{addr}/story");
    }
    println!("Press Ctrl-C to stop.");
    let variant = model.variant.to_string();
    std::thread::spawn(move || {
        let checker = model.checker().serve(inner);
        // serve() blocks while the web server runs; reaching here means it stopped.
        let _ = checker.unique_state_count();
    });
    for mut rq in front.incoming_requests() {
        let url = rq.url().to_string();
        let method = rq.method().clone();
        let response = match (&method, url.as_str()) {
            (tiny_http::Method::Get, "/story") => html(story_page(&variant, loaded.as_ref())),
            (method, _) => {
                let mut body = Vec::new();
                let _ = std::io::Read::read_to_end(rq.as_reader(), &mut body);
                match forward(inner, method.as_str(), &url, &body) {
                    Ok((status, _, data)) if url == "/" && status == 200 => {
                        let page = String::from_utf8_lossy(&data);
                        html(landing(&page, loaded.as_ref()))
                    }
                    Ok((status, ctype, data)) => {
                        let mut r = tiny_http::Response::from_data(data)
                            .with_status_code(status)
                            .boxed();
                        if let Some(ct) = ctype
                            .and_then(|c| tiny_http::Header::from_bytes("Content-Type", c).ok())
                        {
                            r.add_header(ct);
                        }
                        r
                    }
                    Err(e) => tiny_http::Response::from_string(format!(
                        "warmcheck: Explorer did not answer: {e}"
                    ))
                    .with_status_code(502)
                    .boxed(),
                }
            }
        };
        let _ = rq.respond(response);
    }
    0
}

fn html(page: String) -> tiny_http::ResponseBox {
    let mut r = tiny_http::Response::from_string(page).boxed();
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", "text/html; charset=utf-8") {
        r.add_header(h);
    }
    r
}

/// One request passed to Explorer (HTTP/1.0, so it closes the connection after answering):
/// its status, content type and body. Retries the connection for a few seconds while Explorer
/// starts.
fn forward(
    inner: std::net::SocketAddr,
    method: &str,
    url: &str,
    body: &[u8],
) -> std::io::Result<(u16, Option<String>, Vec<u8>)> {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut conn = loop {
        match std::net::TcpStream::connect(inner) {
            Ok(c) => break c,
            Err(e) if std::time::Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    write!(
        conn,
        "{method} {url} HTTP/1.0\r\nHost: {inner}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    conn.write_all(body)?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let ctype = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_string());
    Ok((status, ctype, raw[split + 4..].to_vec()))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Explorer's landing page with a banner naming the loaded trace (with links to its last step
/// and to the story view), the path list numbered as the story is (the first action is 1), and
/// the per-state property list said for what it is (each property evaluated at the selected
/// state: the patched Explorer's `holds`, vendor/README.md).
fn landing(page: &str, loaded: Option<&Loaded>) -> String {
    let banner = match loaded {
        Some(l) => format!(
            r#"<div class="warmcheck-trace" style="background:#fff7ed;color:#111;padding:6px 12px;font-size:15px">Trace loaded: <code class="warmcheck-trace-file">{}</code>{} ({} steps). <a style="color:#1d4ed8" href="/#/steps/{}">Open it at its last step</a> &middot; <a class="warmcheck-story-link" style="color:#1d4ed8" href="/story">open the timeline full size (the story)</a></div>"#,
            esc(&l.file),
            l.violates
                .as_ref()
                .map(|p| format!(", a counterexample to <b>{}</b>", esc(p)))
                .unwrap_or_default(),
            l.steps,
            esc(&l.encoded),
        ),
        None => r#"<div class="warmcheck-trace" style="background:#f3f4f6;color:#111;padding:6px 12px;font-size:15px">No trace loaded: the model from its initial states (<code>warmcheck explore --trace FILE</code> opens a saved counterexample).</div>"#.to_string(),
    };
    page.replacen("</header>", &format!("</header>\n{banner}"), 1)
        // Explorer lists a start item and the initial state before the first action: numbered
        // -1 and 0, the first action is 1, as in the story and the timeline's columns.
        .replacen(r#"<ol class="path-list""#, r#"<ol class="path-list" start="-1""#, 1)
        .replacen(
            "<h2>Current State</h2>",
            r#"<h2>Current State</h2> <a class="warmcheck-story-link" style="color:#fde68a" href="/story">open the timeline full size</a>"#,
            1,
        )
        .replacen(
            "<h3>Current state</h3>",
            r#"<h3 title="Each property's condition evaluated at the selected state (the Global list above is Explorer's own search).">Current state (each property at the selected state)</h3>"#,
            1,
        )
}

/// `/story`: the loaded trace's timeline at full size, in rows that fit the window.
fn story_page(variant: &str, loaded: Option<&Loaded>) -> String {
    let body = match loaded {
        Some(l) => format!(
            r#"<p>Trace <code>{}</code>{}: {} steps. Step N here is item N in Explorer's path list and column N of its timeline. <a href="/#/steps/{}">Back to Explorer at the last step</a></p>
{}"#,
            esc(&l.file),
            l.violates
                .as_ref()
                .map(|p| format!(", a counterexample to <b>{}</b>", esc(p)))
                .unwrap_or_default(),
            l.steps,
            esc(&l.encoded),
            l.story
                .iter()
                .map(|svg| format!("<div class=\"story-row\">{svg}</div>"))
                .collect::<String>()
        ),
        None => "<p>No trace loaded: start <code>warmcheck explore --trace FILE</code> to see a saved counterexample's story here. <a href=\"/\">Explorer</a></p>".to_string(),
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>warmcheck story: design {}</title>
<style>body{{font-family:"DejaVu Sans",sans-serif;margin:8px 12px;font-size:15px}} .story-row{{margin:6px 0}} .story-row svg{{display:block}}</style>
</head><body><h1 style="font-size:20px;margin:4px 0">The story of design {}</h1>
{body}
</body></html>"#,
        esc(variant),
        esc(variant)
    )
}
