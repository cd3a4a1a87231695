//! The protocol's client: a child process (`sh -c CMD`) driven one request at a time, with a
//! per-call timeout, and [`ProtocolSut`], the [`Sut`] that `conform --sut` and `replay --sut`
//! drive. Whatever the child does (exits, hangs, answers garbage or another request's id),
//! the caller gets an error naming the step, the request and what was wrong; nothing here
//! blocks past the timeout or panics on the child's output.

use super::protocol::{self, Call, Designs, Reply, Request};
use crate::conform::Sut;
use crate::mapping::{self, ApplyError};
use crate::signals;
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warmcheck_model::{Action, State, Warmup};

/// How many of the child's last stderr lines an error quotes.
const STDERR_TAIL: usize = 10;
/// How long a child may take to exit once its stdin is closed.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How long a child's process group has between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How long a SIGKILLed process group may take to end before its temporary directory is left
/// in place (a process waiting on the kernel ends only when the kernel is done).
const KILL_WAIT: Duration = Duration::from_secs(10);
/// The environment variable that names the child's temporary directory (docs/sut-protocol.md,
/// "Jobs").
pub const TMPDIR_VAR: &str = "WARMCHECK_TMPDIR";
/// The longest reply line accepted (a view of the largest bounds is far smaller).
const MAX_LINE: usize = 64 << 20;
/// The longest stderr line kept and passed through; the rest of a longer line is skipped.
const MAX_STDERR_LINE: usize = 4096;

enum Line {
    Text(String),
    Eof,
    Failed(String),
}

/// A child process speaking the protocol on its stdin and stdout.
pub struct Child {
    command: String,
    process: std::process::Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Line>,
    /// The end of the child's stdout (or a failure reading it), seen before it was asked for.
    pending: Option<Line>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    timeout: Duration,
    next_id: u64,
    /// Set once the child broke the protocol: every later call fails with it.
    broken: Option<String>,
    /// Set once the child's group was ended and the shell reaped: its pid (the group's id) may
    /// belong to another process from then on, so nothing is signalled again.
    ended: bool,
    /// The child's temporary directory ([`TMPDIR_VAR`]): removed, with whatever the child left
    /// in it, once its whole process group has ended, however it ended (SIGKILL included).
    tmp: Option<signals::TempDir>,
}

impl Child {
    /// Start `sh -c command`. Its stderr is passed through (each line prefixed with `sut: `)
    /// and its last lines kept for error messages.
    pub fn spawn(command: &str, timeout: Duration) -> Result<Child, String> {
        Child::spawn_job(command, 0, timeout)
    }

    /// [`Child::spawn`] for conform's job `job`: the child's environment has
    /// `WARMCHECK_JOB_INDEX=job`, and `WARMCHECK_TMPDIR` names an empty directory of its own,
    /// removed with everything in it once the child has ended (docs/sut-protocol.md, "Jobs").
    pub fn spawn_job(command: &str, job: usize, timeout: Duration) -> Result<Child, String> {
        let prefix = format!("warmcheck-job{job}-{}-", std::process::id());
        let tmp = signals::temp_dir(&prefix, Some(&signals::tmpfs_or_temp()))
            .map_err(|e| format!("cannot make the SUT's temporary directory: {e}"))?;
        // Its own process group, so that a kill reaches whatever the shell started.
        let mut process = Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("WARMCHECK_JOB_INDEX", job.to_string())
            .env(TMPDIR_VAR, tmp.path())
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the SUT `{command}`: {e}"))?;
        if let Ok(pgid) = i32::try_from(process.id()) {
            signals::register_group(pgid);
        }
        let stdout = process.stdout.take().expect("stdout is piped");
        let stderr_pipe = process.stderr.take().expect("stderr is piped");
        // At most one line waits in the channel: a child writing lines no request asked for
        // blocks on its stdout rather than queueing them here without limit (and the next call
        // reports the line it was not asked for).
        let (tx, lines) = mpsc::sync_channel(1);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut buf = Vec::new();
                let got = reader
                    .by_ref()
                    .take(MAX_LINE as u64 + 1)
                    .read_until(b'\n', &mut buf);
                let line = match got {
                    Ok(0) => Line::Eof,
                    Ok(_) if buf.len() > MAX_LINE => {
                        Line::Failed(format!("a reply line longer than {MAX_LINE} bytes"))
                    }
                    Ok(_) => match String::from_utf8(buf) {
                        Ok(s) => Line::Text(s.trim_end_matches(['\n', '\r']).to_string()),
                        Err(_) => Line::Failed("a reply line that is not UTF-8".into()),
                    },
                    Err(e) => Line::Failed(format!("reading its stdout: {e}")),
                };
                let last = !matches!(line, Line::Text(_));
                if tx.send(line).is_err() || last {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr);
        std::thread::spawn(move || {
            // Bytes, not `lines()`: a line that is not UTF-8 is passed through with its bad
            // bytes replaced (not an end of the reader), and a line without end costs at most
            // MAX_STDERR_LINE bytes, the rest skipped.
            let mut reader = BufReader::new(stderr_pipe);
            let mut buf = Vec::new();
            loop {
                let (line, cut) = match read_capped_line(&mut reader, &mut buf, MAX_STDERR_LINE) {
                    Ok(Some(cut)) => (String::from_utf8_lossy(&buf).into_owned(), cut),
                    Ok(None) | Err(_) => return,
                };
                let line = if cut {
                    format!("{line}... (cut at {MAX_STDERR_LINE} bytes)")
                } else {
                    line
                };
                eprintln!("sut: {line}");
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == STDERR_TAIL {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        let stdin = process.stdin.take();
        Ok(Child {
            command: command.to_string(),
            process,
            stdin,
            lines,
            pending: None,
            stderr,
            timeout,
            next_id: 0,
            broken: None,
            ended: false,
            tmp: Some(tmp),
        })
    }

    /// Send one request and wait for its reply. `step` names the step in errors. A reply with
    /// `"ok":false` is returned as it is (the caller tells a refusal from an error).
    pub fn call(&mut self, step: u64, action: Option<String>, call: Call) -> Result<Reply, String> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let request = Request {
            id: self.next_id,
            action,
            call,
        };
        self.next_id += 1;
        let text = serde_json::to_string(&request).expect("requests serialise");
        let shown = shorten(&text);
        let result = self.exchange(&request, &text);
        result.map_err(|what| {
            let e = format!("step {step}: {what} (request {shown})");
            let e = match self.stderr_tail() {
                Some(t) => format!("{e}\n  the SUT's last stderr lines:\n{t}"),
                None => e,
            };
            self.kill();
            self.broken = Some(e.clone());
            e
        })
    }

    fn exchange(&mut self, request: &Request, text: &str) -> Result<Reply, String> {
        // Strictly one request in flight: a line waiting now was asked for by no request.
        match self.lines.try_recv() {
            Ok(Line::Text(l)) => {
                return Err(format!(
                    "a line no request asked for, before this request: {}",
                    serde_json::to_string(&shorten(&l)).expect("strings serialise")
                ))
            }
            Ok(end) => self.pending = Some(end),
            Err(_) => {}
        }
        let Some(stdin) = self.stdin.as_mut() else {
            return Err("the SUT's stdin is closed".into());
        };
        if let Err(e) = stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush())
        {
            return Err(match self.exit_status(Duration::from_secs(1)) {
                Some(s) => format!("the SUT exited ({s}) before reading the request"),
                None => format!("cannot write to the SUT: {e}"),
            });
        }
        let got = match self.pending.take() {
            Some(end) => Ok(end),
            None => self.lines.recv_timeout(self.timeout),
        };
        let line = match got {
            Ok(Line::Text(l)) => l,
            Ok(Line::Eof) | Err(RecvTimeoutError::Disconnected) => {
                return Err(match self.exit_status(Duration::from_secs(1)) {
                    Some(s) => format!("the SUT exited ({s}) before answering"),
                    None => "the SUT closed its stdout before answering".into(),
                })
            }
            Ok(Line::Failed(what)) => return Err(format!("the SUT sent {what}")),
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "no reply within {} s (--sut-timeout)",
                    self.timeout.as_secs_f64()
                ))
            }
        };
        let reply: Reply = serde_json::from_str(&line).map_err(|e| {
            format!(
                "malformed reply line {}: {e}",
                serde_json::to_string(&shorten(&line)).expect("strings serialise")
            )
        })?;
        if reply.id != request.id {
            return Err(format!(
                "a reply for request {} where request {} was asked",
                reply.id, request.id
            ));
        }
        if !reply.ok && reply.refused.is_none() && reply.error.is_none() {
            return Err("a reply with \"ok\":false and neither \"refused\" nor \"error\"".into());
        }
        Ok(reply)
    }

    /// The child's exit status if it exits within `wait`.
    fn exit_status(&mut self, wait: Duration) -> Option<String> {
        let until = Instant::now() + wait;
        loop {
            match self.process.try_wait() {
                Ok(Some(s)) => return Some(s.to_string()),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
                _ => return None,
            }
        }
    }

    fn stderr_tail(&self) -> Option<String> {
        // Give the stderr thread a moment to catch the child's last words.
        std::thread::sleep(Duration::from_millis(50));
        let t = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        (!t.is_empty()).then(|| {
            t.iter()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    /// End the child's process group (the shell and whatever it started, background processes
    /// included): SIGTERM first, so that a SUT can remove its files (`warmcheck sut` removes
    /// its temporary directory on SIGTERM), then SIGKILL to what still runs [`TERM_GRACE`]
    /// later; then, once no process of the group runs, remove the child's temporary directory
    /// (what a SIGKILLed child could not remove itself) and reap the shell.
    fn kill(&mut self) {
        self.stdin = None;
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let mut ended = true;
        if let Ok(pgid) = i32::try_from(self.process.id()) {
            if signals::group_alive(pgid) {
                signals::signal_group(pgid, libc::SIGTERM);
                let until = Instant::now() + TERM_GRACE;
                while signals::group_alive(pgid) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if signals::group_alive(pgid) {
                    signals::signal_group(pgid, libc::SIGKILL);
                    let until = Instant::now() + KILL_WAIT;
                    while signals::group_alive(pgid) && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    ended = !signals::group_alive(pgid);
                }
            }
            signals::unregister_group(pgid);
        }
        if let Some(tmp) = self.tmp.take() {
            if ended {
                drop(tmp);
            } else {
                // Never removed while a process may still hold it.
                eprintln!(
                    "warmcheck: a process of the SUT's group did not end {} s after SIGKILL: \
                     its temporary directory {} is left in place",
                    KILL_WAIT.as_secs(),
                    tmp.keep().display()
                );
            }
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }

    /// The command the child runs.
    pub fn command(&self) -> &str {
        &self.command
    }
}

impl Drop for Child {
    /// Close stdin, give the child's process group [`EXIT_GRACE`] to exit (the SUT behind a
    /// wrapper too: a signal racing its own clean-up is not needed), then end whatever of it
    /// still runs (what the command left in the background too) and remove its temporary
    /// directory.
    fn drop(&mut self) {
        self.stdin = None;
        if self.ended {
            return;
        }
        // Wait without reaping the shell: while it is a zombie its pid, the group's id, is
        // not given to another process.
        if let Ok(pgid) = i32::try_from(self.process.id()) {
            let until = Instant::now() + EXIT_GRACE;
            while signals::group_alive(pgid) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.kill();
    }
}

/// Read one line of at most `max` bytes (without its `\n`) into `buf`, skipping the rest of a
/// longer line: `Some(cut)` (`cut` when bytes were skipped), `None` at the end of the input.
fn read_capped_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let n = reader.take(max as u64).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Some(false));
    }
    // Cut (or the last line, without `\n`): skip to the end of the line, a buffer at a time.
    let mut cut = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(Some(cut));
        }
        cut = true;
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(Some(true));
            }
            None => {
                let len = chunk.len();
                reader.consume(len);
            }
        }
    }
}

/// A request or reply line as an error quotes it: at most 300 characters.
fn shorten(s: &str) -> String {
    const MAX: usize = 300;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(MAX).collect::<String>())
    }
}

/// What the SUT said about itself in the handshake.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Hello {
    pub name: String,
    pub protocol: u32,
    pub capabilities: Vec<String>,
    pub omits: Vec<String>,
}

/// Where a [`ProtocolSut`] can go back to: a snapshot handle the SUT keeps, or (without the
/// capability) the path of actions from `reset`.
pub enum SutImage {
    Handle(Handle),
    Path(Vec<Action>),
}

/// A snapshot handle; dropping it queues a `release`.
pub struct Handle {
    name: String,
    release: Arc<Mutex<Vec<String>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.release
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(std::mem::take(&mut self.name));
    }
}

/// A system under test behind the protocol, as conform and replay drive it.
pub struct ProtocolSut {
    child: Child,
    pub hello: Hello,
    model: Warmup,
    snapshots: bool,
    /// Model actions sent (path replays included): the step errors name.
    steps: u64,
    /// `reset`s sent, the first included.
    pub resets: u64,
    /// Actions sent to replay a path after a `reset` (no snapshot capability).
    pub replayed: u64,
    /// The actions since the last `reset`, while they are known to have taken the SUT where
    /// the model went (`None` after a failed step).
    path: Option<Vec<Action>>,
    release: Arc<Mutex<Vec<String>>>,
    absent: BTreeSet<&'static str>,
}

impl ProtocolSut {
    /// Start `command`, shake hands and reset it to `model`'s initial state.
    /// `use_snapshots: false` ignores the capability (path replay from `reset`).
    pub fn start(
        command: &str,
        model: &Warmup,
        timeout: Duration,
        use_snapshots: bool,
    ) -> Result<ProtocolSut, String> {
        ProtocolSut::start_job(command, 0, model, timeout, use_snapshots)
    }

    /// [`ProtocolSut::start`] as conform's job `job` (`--jobs`): `{job}` in `command` is
    /// replaced by the index, and the child's environment has `WARMCHECK_JOB_INDEX=job`, so
    /// that the children of one run can keep their files apart (docs/sut-protocol.md, "Jobs").
    pub fn start_job(
        command: &str,
        job: usize,
        model: &Warmup,
        timeout: Duration,
        use_snapshots: bool,
    ) -> Result<ProtocolSut, String> {
        let command = &command.replace("{job}", &job.to_string());
        let mut child = Child::spawn_job(command, job, timeout)?;
        let reply = child.call(
            0,
            None,
            Call::Hello {
                protocol: protocol::VERSIONS.to_vec(),
            },
        )?;
        let refused = |r: &Reply| r.error.clone().or(r.refused.clone()).unwrap_or_default();
        if !reply.ok {
            return Err(format!(
                "the SUT `{command}` refused the handshake: {}",
                refused(&reply)
            ));
        }
        let field = |name: &str| format!("the SUT `{command}`'s hello reply has no \"{name}\"");
        let version = reply.protocol.ok_or_else(|| field("protocol"))?;
        if !protocol::VERSIONS.contains(&version) {
            return Err(format!(
                "the SUT `{command}` speaks protocol {version}; this warmcheck speaks {:?}",
                protocol::VERSIONS
            ));
        }
        if model.bounds.failovers > 0 && version < protocol::FAILOVER_VERSION {
            return Err(format!(
                "the SUT `{command}` speaks protocol {version}, which has no failover or \
                 add-back (version {} has: docs/sut-protocol.md); give it failovers=0",
                protocol::FAILOVER_VERSION
            ));
        }
        let name = reply.name.clone().ok_or_else(|| field("name"))?;
        let designs = reply.designs.clone().ok_or_else(|| field("designs"))?;
        if !designs
            .includes(&model.variant)
            .map_err(|e| format!("the SUT `{command}`: {e}"))?
        {
            let list = match &designs {
                Designs::Some(l) => l.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
                Designs::All(_) => vec![],
            };
            return Err(format!(
                "the SUT {name} does not implement design `{}` (it implements: {})",
                model.variant,
                list.join("; ")
            ));
        }
        let capabilities = reply.capabilities.clone().unwrap_or_default();
        let omits = reply.omits.clone().unwrap_or_default();
        if let Some(bad) = omits
            .iter()
            .find(|o| !protocol::OMITTABLE.contains(&o.as_str()))
        {
            return Err(format!(
                "the SUT {name} declares it omits {bad:?}, which may not be omitted (the fields \
                 that may: {})",
                protocol::OMITTABLE.join(", ")
            ));
        }
        let has = |c: &str| capabilities.iter().any(|x| x == c);
        let snapshots = use_snapshots && has(protocol::SNAPSHOT) && has(protocol::RESTORE);
        let mut sut = ProtocolSut {
            child,
            hello: Hello {
                name,
                protocol: version,
                capabilities,
                omits,
            },
            model: model.clone(),
            snapshots,
            steps: 0,
            resets: 0,
            replayed: 0,
            path: None,
            release: Arc::new(Mutex::new(Vec::new())),
            absent: BTreeSet::new(),
        };
        sut.reset()?;
        Ok(sut)
    }

    /// Whether conform restores snapshots (else it replays paths from `reset`).
    pub fn uses_snapshots(&self) -> bool {
        self.snapshots
    }

    /// The command the SUT runs.
    pub fn command(&self) -> &str {
        self.child.command()
    }

    /// Send a request that is not a model action; an `"ok":false` reply is an error.
    fn request(&mut self, call: Call) -> Result<Reply, String> {
        let shown = serde_json::to_string(&call).expect("calls serialise");
        let reply = self.child.call(self.steps, None, call)?;
        if reply.ok {
            Ok(reply)
        } else {
            Err(format!(
                "step {}: the SUT answered an error to {shown}: {}",
                self.steps,
                reply
                    .error
                    .or(reply.refused)
                    .unwrap_or_else(|| "(no reason)".into())
            ))
        }
    }

    fn reset(&mut self) -> Result<(), String> {
        let b = self.model.bounds;
        self.request(Call::Reset {
            design: self.model.variant,
            vbuckets: b.vbuckets,
            replicas: b.replicas,
            keys: b.keys,
        })?;
        self.resets += 1;
        self.path = Some(Vec::new());
        Ok(())
    }

    /// Send one model action and check the reply, without touching `path`.
    fn send(&mut self, before: &State, action: &Action, after: &State) -> Result<(), ApplyError> {
        self.steps += 1;
        let call = mapping::call_of(before, action);
        let reply = self
            .child
            .call(self.steps, Some(format!("{action:?}")), call)
            .map_err(ApplyError::Broken)?;
        if !reply.ok {
            return match (reply.refused, reply.error) {
                (_, Some(e)) => Err(ApplyError::Broken(format!(
                    "step {}: the SUT answered an error to {action:?}: {e}",
                    self.steps
                ))),
                (Some(r), None) => Err(ApplyError::Refused(r)),
                (None, None) => unreachable!("Child::call checks ok:false replies"),
            };
        }
        let absent = &mut self.absent;
        mapping::check_answer(before, action, after, &reply, &mut |name| {
            absent.insert(name);
        })
        .map_err(ApplyError::Unexpected)
    }

    /// The results and view fields the SUT did not give, so not compared.
    pub fn not_compared(&self) -> Vec<String> {
        self.hello
            .omits
            .iter()
            .cloned()
            .chain(self.absent.iter().map(|s| s.to_string()))
            .collect()
    }

    fn send_releases(&mut self) -> Result<(), String> {
        let handles = std::mem::take(&mut *self.release.lock().unwrap_or_else(|p| p.into_inner()));
        if handles.is_empty() {
            return Ok(());
        }
        self.request(Call::Release { handles }).map(|_| ())
    }
}

impl Sut for ProtocolSut {
    type Image = SutImage;

    fn save_image(&mut self) -> Result<SutImage, String> {
        if !self.snapshots {
            return self
                .path
                .clone()
                .map(SutImage::Path)
                .ok_or_else(|| "no image of a state the SUT did not reach".to_string());
        }
        self.send_releases()?;
        let reply = self.request(Call::Snapshot)?;
        let name = reply.handle.ok_or_else(|| {
            format!(
                "step {}: the SUT's reply to snapshot has no \"handle\"",
                self.steps
            )
        })?;
        Ok(SutImage::Handle(Handle {
            name,
            release: Arc::clone(&self.release),
        }))
    }

    fn restore_image(&mut self, image: &SutImage) -> Result<(), String> {
        match image {
            SutImage::Handle(h) => {
                let handle = h.name.clone();
                self.request(Call::Restore { handle }).map(|_| ())
            }
            // Already there (the walk's previous transition came back to its source).
            SutImage::Path(p) if self.path.as_ref() == Some(p) => Ok(()),
            SutImage::Path(p) => {
                self.reset()?;
                let model = self.model.clone();
                let mut state = stateright::Model::init_states(&model).remove(0);
                for action in p {
                    let next = stateright::Model::next_state(&model, &state, action.clone())
                        .ok_or_else(|| format!("{action:?} is not enabled on the path"))?;
                    self.replayed += 1;
                    self.send(&state, action, &next).map_err(|e| match e {
                        ApplyError::Broken(m) => m,
                        other => format!(
                            "step {}: replaying the path from reset, the SUT answered {action:?} \
                             differently from the first time: {other}",
                            self.steps
                        ),
                    })?;
                    state = next;
                }
                self.path = Some(p.clone());
                Ok(())
            }
        }
    }

    fn apply(&mut self, before: &State, action: &Action, after: &State) -> Result<(), ApplyError> {
        let result = self.send(before, action, after);
        match (&result, self.path.as_mut()) {
            (Ok(()), Some(p)) => p.push(action.clone()),
            _ => self.path = None,
        }
        result
    }

    fn project(&mut self) -> Result<Value, String> {
        let reply = self.request(Call::Observe)?;
        let mut view = reply.view.ok_or_else(|| {
            format!(
                "step {}: the SUT's reply to observe has no \"view\"",
                self.steps
            )
        })?;
        if !view.is_object() {
            return Err(format!(
                "step {}: the SUT's view is not a JSON object: {}",
                self.steps,
                shorten(&view.to_string())
            ));
        }
        protocol::remove_path(&mut view, "/clock");
        Ok(view)
    }

    fn omits(&self) -> &[String] {
        &self.hello.omits
    }

    fn navigation(&self) -> (u64, u64) {
        (self.resets, self.replayed)
    }
}
