//! The Explorer picture of a path: a timeline with one lane per role (the active's memory, the
//! active's disk, each replica), or, with failovers, a pair of lanes per node that follows the
//! node through its roles ([`Layout`]); one column per step. Mutations are boxes labelled with seqno
//! and key; failover entries are markers where they are created, persisted and adopted; crashes
//! are red bands, warmup is a shaded band; a divergence is highlighted in red.

use crate::{Action, Mutation, Node, Op, State, Stream, Warmup};
use stateright::{Expectation, Model};
use std::fmt::Write;

const COL: usize = 96;
const LANE: usize = 54;
const LEFT: usize = 112;
const TOP: usize = 46;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn label(m: &Mutation) -> String {
    match m.op {
        Op::Set { value, expiry } => {
            format!(
                "set {} v{value}{}",
                m.key,
                if expiry.is_some() { "*" } else { "" }
            )
        }
        Op::Delete => format!("del {}", m.key),
        Op::Expire { .. } => format!("exp {}", m.key),
    }
}

fn color(m: &Mutation) -> &'static str {
    match m.op {
        Op::Set { .. } => "#dbeafe",
        Op::Delete => "#e5e7eb",
        Op::Expire { .. } => "#fef3c7",
    }
}

/// The drawing so far, and the boxes of the text already placed (for the collision pass).
struct Canvas {
    body: String,
    /// The first step drawn: column `i` is drawn at `LEFT + (i - from) * COL`.
    from: usize,
    /// `(x, y, width, height)` of each text placed, estimated from its length.
    boxes: Vec<(f64, f64, f64, f64)>,
}

/// A text's box as a browser lays it out, estimated: DejaVu Sans averages below 0.64 em a
/// character, and a line is about 1.2 em tall with its top 0.95 em above the baseline.
fn text_box(x: usize, y: usize, size: usize, s: &str) -> (f64, f64, f64, f64) {
    let size = size as f64;
    let w = s.chars().count() as f64 * size * 0.64;
    (x as f64, y as f64 - size * 0.95, w, size * 1.2)
}

fn overlaps(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
    a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
}

impl Canvas {
    fn rect(
        &mut self,
        (x, y, w, h): (usize, usize, usize, usize),
        fill: &str,
        stroke: &str,
        class: &str,
    ) {
        let _ = writeln!(
            self.body,
            r#"<rect class="{class}" x="{x}" y="{y}" width="{w}" height="{h}" rx="3" fill="{fill}" stroke="{stroke}"/>"#
        );
    }
    /// A text at `(x, y)` (baseline), moved down a line at a time while it would overlap a text
    /// already placed: no label covers another.
    fn text(&mut self, x: usize, y: usize, size: usize, fill: &str, s: &str) -> usize {
        let mut y = y;
        for _ in 0..8 {
            let b = text_box(x, y, size, s);
            if !self.boxes.iter().any(|&o| overlaps(o, b)) {
                break;
            }
            y += size + 3;
        }
        self.boxes.push(text_box(x, y, size, s));
        let _ = writeln!(
            self.body,
            r#"<text x="{x}" y="{y}" font-size="{size}" fill="{fill}">{}</text>"#,
            esc(s)
        );
        y
    }
    fn x(&self, col: usize) -> usize {
        LEFT + (col - self.from) * COL
    }
    fn mutation(
        &mut self,
        col: usize,
        lane: usize,
        seqno: usize,
        m: &Mutation,
        class: &str,
        stroke: &str,
    ) {
        let (x, y) = (self.x(col) + 4, TOP + lane * LANE + 6);
        self.rect((x, y, COL - 8, 22), color(m), stroke, class);
        self.text(x + 4, y + 15, 11, "#111", &format!("{seqno}: {}", label(m)));
    }
    /// A failover entry that existed only in memory when the node went down: a hollow red
    /// diamond on the active lane, over the crash band.
    fn lost_entry(&mut self, col: usize, lane: usize, text: &str) {
        let (x, y) = (self.x(col) + COL / 2 - 6, TOP + lane * LANE + 10);
        let ty = self.text(x + 15, y + 10, 11, "#b91c1c", text);
        let y = ty - 10;
        let _ = writeln!(
            self.body,
            r##"<polygon class="entry-lost" points="{},{} {},{} {},{} {},{}" fill="#ffffff" stroke="#dc2626" stroke-width="2"/>"##,
            x + 6,
            y,
            x + 12,
            y + 6,
            x + 6,
            y + 12,
            x,
            y + 6
        );
    }
    /// A note that is not one of the legend's markers: plain italic text, no shape.
    fn note(&mut self, col: usize, lane: usize, text: &str, class: &str) {
        let (x, y) = (self.x(col) + 4, TOP + lane * LANE + 42);
        let b = text_box(x, y, 11, text);
        let mut y = y;
        let mut bb = b;
        for _ in 0..8 {
            if !self.boxes.iter().any(|&o| overlaps(o, bb)) {
                break;
            }
            y += 14;
            bb = text_box(x, y, 11, text);
        }
        self.boxes.push(bb);
        let _ = writeln!(
            self.body,
            r##"<text class="{class}" x="{x}" y="{y}" font-size="11" font-style="italic" fill="#374151">{}</text>"##,
            esc(text)
        );
    }
    fn marker(&mut self, col: usize, lane: usize, text: &str, fill: &str, class: &str) {
        let (x, y) = (self.x(col) + 4, TOP + lane * LANE + 32);
        let ty = self.text(x + 13, y + 9, 11, "#333", text);
        let y = ty - 9;
        let _ = writeln!(
            self.body,
            r#"<polygon class="{class}" points="{},{} {},{} {},{} {},{}" fill="{fill}"/>"#,
            x + 5,
            y,
            x + 10,
            y + 5,
            x + 5,
            y + 10,
            x,
            y + 5
        );
    }
}

/// Which lane each role is drawn on at each step. Without failovers: the active's memory (lane
/// 0), its disk (1), each replica (2, 3, ...). With failovers (`--failovers` above 0): one pair
/// of lanes per node, its memory (or replica copy) and its disk, the node followed through its
/// roles: node 0 is the active at the start, node `n` replica `rn`; a promotion moves the active
/// role to the replica's node, an add-back makes the failed-over node the last replica.
struct Layout {
    by_node: bool,
    /// `roles[i]`: the active node and the replica nodes in the state after step `i - 1`
    /// (`roles[0]` the initial state's).
    roles: Vec<(usize, Vec<usize>)>,
    lanes: usize,
}

impl Layout {
    fn new(model: &Warmup, path: &[(State, Option<Action>)]) -> Layout {
        let replicas = model.bounds.replicas as usize;
        let by_node = model.bounds.failovers > 0;
        let mut roles = vec![(0, (1..=replicas).collect::<Vec<_>>())];
        let mut out = None;
        for (_, action) in path {
            let (mut active, mut reps) = roles.last().expect("the initial roles").clone();
            match action {
                Some(Action::ClusterFailsOverToReplica { replica }) => {
                    let promoted = reps.remove(*replica as usize);
                    out = Some(active);
                    active = promoted;
                }
                Some(Action::FailedOverNodeIsAddedBack) => {
                    reps.extend(out.take());
                }
                _ => {}
            }
            roles.push((active, reps));
        }
        let lanes = if by_node {
            2 * (replicas + 1)
        } else {
            2 + replicas
        };
        Layout {
            by_node,
            roles,
            lanes,
        }
    }

    /// The active's memory lane in the state `state` (an index into the path's states).
    fn active(&self, state: usize) -> usize {
        if self.by_node {
            2 * self.roles[state].0
        } else {
            0
        }
    }

    /// The active's disk lane.
    fn disk(&self, state: usize) -> usize {
        self.active(state) + 1
    }

    /// Replica `r`'s lane.
    fn replica(&self, state: usize, r: usize) -> usize {
        if self.by_node {
            2 * self.roles[state].1[r]
        } else {
            2 + r
        }
    }

    fn names(&self) -> Vec<String> {
        if self.by_node {
            (0..self.lanes / 2)
                .flat_map(|n| [format!("node {n}"), format!("node {n} disk")])
                .collect()
        } else {
            let mut names = vec!["active".to_string(), "active disk".to_string()];
            names.extend((1..=self.lanes - 2).map(|r| format!("replica r{r}")));
            names
        }
    }
}

/// The widest the picture is drawn (pixels), so that it fits a 1280x800 window.
const MAX_WIDTH: usize = 1200;
/// The width of one legend item.
const LEGEND_ITEM: usize = 190;

/// The legend's height in a picture `width` wide.
fn legend_height(width: usize) -> usize {
    let per_row = ((width - 60) / LEGEND_ITEM).max(1);
    13usize.div_ceil(per_row) * 18 + 10
}

/// What the colours and marks mean, in as many rows at `y` as a picture `width` wide needs.
fn legend(y: usize, width: usize) -> String {
    let per_row = ((width - 60) / LEGEND_ITEM).max(1);
    let items: [(&str, &str, &str); 13] = [
        ("rect", "#dbeafe", "set (client write)"),
        ("rect", "#e5e7eb", "delete"),
        ("rect", "#fef3c7", "expiry"),
        ("rect", "#dc2626", "crash"),
        ("rect", "#fee2e2", "seqnos the crash lost"),
        ("rect", "#f3e8ff", "warmup"),
        ("rect", "#ecfccb", "clean shutdown"),
        ("diamond", "#7c3aed", "entry (uuid,seqno) created"),
        ("diamond", "#059669", "entry persisted"),
        ("diamond", "#2563eb", "replica adopts entry"),
        ("diamond", "#ea580c", "replica rollback"),
        ("lost", "#dc2626", "entry only in memory, lost"),
        ("italic", "#374151", "other events: plain text"),
    ];
    let mut out = format!(
        r##"<g class="legend"><text x="6" y="{}" font-size="11" fill="#111">Legend:</text>"##,
        y + 14
    );
    for (k, (shape, fill, text)) in items.iter().enumerate() {
        let (x, yy) = (60 + (k % per_row) * LEGEND_ITEM, y + 4 + (k / per_row) * 18);
        if *shape == "italic" {
            let _ = write!(
                out,
                r##"<text x="{x}" y="{}" font-size="11" font-style="italic" fill="{fill}">{}</text>"##,
                yy + 11,
                esc(text)
            );
            continue;
        } else if *shape == "lost" {
            let _ = write!(
                out,
                r##"<polygon points="{},{yy} {},{} {},{} {x},{}" fill="#ffffff" stroke="{fill}" stroke-width="2"/>"##,
                x + 6,
                x + 12,
                yy + 6,
                x + 6,
                yy + 12,
                yy + 6
            );
        } else if *shape == "rect" {
            let _ = write!(
                out,
                r##"<rect x="{x}" y="{yy}" width="14" height="12" fill="{fill}" stroke="#9ca3af"/>"##
            );
        } else {
            let _ = write!(
                out,
                r##"<polygon points="{},{yy} {},{} {},{} {x},{}" fill="{fill}"/>"##,
                x + 6,
                x + 12,
                yy + 6,
                x + 6,
                yy + 12,
                yy + 6
            );
        }
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" font-size="11" fill="#111">{}</text>"##,
            x + 18,
            yy + 11,
            esc(text)
        );
    }
    out + "</g>\n"
}

/// The timeline of `path` (the states and the actions taken from them), for vb 0, in one
/// picture scaled down to fit a 1280-pixel window (Explorer's pane).
pub fn timeline(model: &Warmup, path: &[(State, Option<Action>)]) -> String {
    let steps = path.len().saturating_sub(1);
    draw(model, path, 0..steps.max(1), true, true)
}

/// The steps one row of [`story`] holds: 11 columns fit a 1280-pixel window at full size.
pub const STORY_STEPS_PER_ROW: usize = 11;

/// The timeline of `path` at full size (text 11 px and up), as rows of at most
/// [`STORY_STEPS_PER_ROW`] steps each, one picture per row: the story view `warmcheck explore`
/// serves at `/story`. The last row carries the verdict and the legend.
pub fn story(model: &Warmup, path: &[(State, Option<Action>)]) -> Vec<String> {
    let steps = path.len().saturating_sub(1).max(1);
    let rows = steps.div_ceil(STORY_STEPS_PER_ROW);
    // Rows of equal length: 14 steps are two rows of 7, not 11 and 3.
    let per = steps.div_ceil(rows);
    (0..rows)
        .map(|r| {
            let from = r * per;
            let to = (from + per).min(steps);
            draw(model, path, from..to, r + 1 == rows, false)
        })
        .collect()
}

/// Steps `cols` of `path`; `tail`: with the verdict and the legend; `fit`: scaled down to at most
/// [`MAX_WIDTH`] pixels wide.
// Long: one pass laying out lanes, marks and labels on shared coordinates.
#[allow(clippy::too_many_lines)]
fn draw(
    model: &Warmup,
    path: &[(State, Option<Action>)],
    cols: std::ops::Range<usize>,
    tail: bool,
    fit: bool,
) -> String {
    let layout = Layout::new(model, path);
    let lanes = layout.lanes;
    let width = LEFT + cols.len().max(1) * COL + 20;
    let height = TOP + lanes * LANE + if tail { 66 } else { 30 };
    let mut c = Canvas {
        body: String::new(),
        from: cols.start,
        boxes: Vec::new(),
    };

    // Bands first, so they sit behind the boxes: warmup (shaded) and crashes (red).
    let mut lost_entries = Vec::new();
    for (i, (before, action)) in path.iter().enumerate() {
        let Some(action) = action else { continue };
        if !cols.contains(&i) {
            continue;
        }
        let after = &path[i + 1].0;
        let x = c.x(i);
        if matches!(after.node, Node::Warming(_))
            || matches!(before.node, Node::Warming(_)) && matches!(action, Action::WarmupCompletes)
        {
            c.rect(
                (x, TOP - 4 + layout.active(i + 1) * LANE, COL, 2 * LANE),
                "#f3e8ff",
                "none",
                "warmup-band",
            );
        }
        if matches!(
            after.node,
            Node::ShuttingDown(_) | Node::Down(crate::Down::ShutDown { .. })
        ) && !matches!(before.node, Node::Down(_))
        {
            c.rect(
                (x, TOP - 4 + layout.active(i + 1) * LANE, COL, 2 * LANE),
                "#ecfccb",
                "none",
                "shutdown-band",
            );
        }
        if *action == Action::ActiveCrashes {
            // The band first, so that what the crash lost is drawn over it, not cut by it.
            c.rect(
                (x + COL / 2 - 3, TOP - 8, 6, lanes * LANE + 8),
                "#dc2626",
                "none",
                "crash-band",
            );
            c.text(
                x + COL / 2 + 6,
                TOP + lanes * LANE + 12,
                11,
                "#dc2626",
                "crash",
            );
            // What the crash lost: the seqnos the active held but its disk did not.
            if let Some(vb) = before.vbs.first() {
                let held = vb.active.as_ref().map_or(0, |a| a.history.len());
                let on_disk = vb.disk.history.len();
                if held > on_disk {
                    let lost = if held == on_disk + 1 {
                        format!("lost seqno {held}")
                    } else {
                        format!("lost seqnos {}..={held}", on_disk + 1)
                    };
                    let (lx, ly) = (x + 4, TOP + layout.disk(i) * LANE + 30);
                    let w = (text_box(0, 0, 11, &lost).2 as usize + 8).max(COL - 8);
                    c.rect((lx, ly, w, 18), "#fee2e2", "#dc2626", "crash-lost");
                    c.text(lx + 3, ly + 13, 11, "#b91c1c", &lost);
                }
            }
        }
        // The decisive loss: a failover entry the active held only in memory when the node
        // went down (crash or shutdown), drawn on the active lane where it went.
        if matches!(after.node, Node::Down(_)) && !matches!(before.node, Node::Down(_)) {
            if let Some(act) = before.vbs.first().and_then(|vb| {
                vb.active
                    .as_ref()
                    .filter(|a| !vb.disk.failover.contains_uuid(a.failover.newest().uuid))
            }) {
                let n = act.failover.newest();
                lost_entries.push((i, layout.active(i), format!("lost {n:?} (memory only)")));
            }
        }
    }

    // Drawn once every band is, so that no later column's band covers them.
    for (i, lane, text) in lost_entries {
        c.lost_entry(i, lane, &text);
    }

    // Lane labels and rules.
    for (lane, name) in layout.names().iter().enumerate() {
        let y = TOP + lane * LANE;
        let _ = writeln!(
            c.body,
            r##"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#d1d5db"/>"##,
            y + LANE,
            width - 10,
            y + LANE
        );
        c.text(6, y + 22, 12, "#111", name);
    }

    for (i, (before, action)) in path.iter().enumerate() {
        let Some(action) = action else { continue };
        if !cols.contains(&i) {
            continue;
        }
        let after = &path[i + 1].0;
        let x = c.x(i);
        // Columns are numbered as the path of actions is: step 1 is the first action.
        c.text(x + 4, TOP - 12, 11, "#6b7280", &format!("{}", i + 1));
        let (Some(b), Some(a)) = (before.vbs.first(), after.vbs.first()) else {
            continue;
        };
        // The lanes of the roles after the step (a failover moves the active's).
        let (act_lane, disk_lane) = (layout.active(i + 1), layout.disk(i + 1));
        match action {
            Action::ClientSets { vb: 0, .. }
            | Action::ClientDeletes { vb: 0, .. }
            | Action::ItemExpires { vb: 0, .. } => {
                let act = a.active.as_ref().expect("active");
                let m = act.history.back().expect("new mutation");
                c.mutation(i, act_lane, act.history.len(), m, "mutation", "#60a5fa");
            }
            Action::FlusherCommits { vb: 0 } | Action::WarmupPopulatesVBucketMap => {
                let from = b.disk.history.len();
                let committed: Vec<(usize, &Mutation)> =
                    a.disk.history.iter().enumerate().skip(from).collect();
                match committed.as_slice() {
                    [] => {}
                    [(k, m)] => c.mutation(i, disk_lane, k + 1, m, "commit", "#059669"),
                    [(first, m), .., (last, _)] => {
                        // One box for the batch; its tooltip lists every mutation.
                        let all: Vec<String> = committed
                            .iter()
                            .map(|(k, m)| format!("{}: {}", k + 1, label(m)))
                            .collect();
                        let (bx, by) = (x + 4, TOP + disk_lane * LANE + 6);
                        c.rect((bx, by, COL - 8, 22), color(m), "#059669", "commit");
                        let _ = writeln!(c.body, "<title>{}</title>", esc(&all.join(", ")));
                        c.text(
                            bx + 4,
                            by + 15,
                            11,
                            "#111",
                            &format!("{}..={}: batch", first + 1, last + 1),
                        );
                    }
                }
                if b.disk.failover != a.disk.failover {
                    let n = a.disk.failover.newest();
                    c.marker(
                        i,
                        disk_lane,
                        &format!("{n:?} persisted"),
                        "#059669",
                        "entry-persisted",
                    );
                } else if let Some(act) = &a.active {
                    if a.disk.history.len() > from && act.failover != a.disk.failover {
                        c.note(i, disk_lane, "stale table", "stale-table");
                    }
                }
            }
            Action::ShutdownWritesCleanFlag => {
                c.note(i, disk_lane, "stats.json: clean", "clean-flag");
            }
            // The active lane is the active role's: after a failover, the promoted node's.
            Action::ClusterFailsOverToReplica { replica } => {
                let entry = a
                    .active
                    .as_ref()
                    .map(|act| format!(" {:?}", act.failover.newest()))
                    .unwrap_or_default();
                c.note(
                    i,
                    act_lane,
                    &format!("failover: r{} promoted{entry}", replica + 1),
                    "promotion",
                );
            }
            Action::FailedOverNodeIsAddedBack => {
                c.note(
                    i,
                    layout.replica(i + 1, a.replicas.len().saturating_sub(1)),
                    &format!("old active added back as r{}", a.replicas.len()),
                    "add-back",
                );
            }
            Action::WarmupInitializes => {
                let read = if after.read_clean == Some(true) {
                    "read clean"
                } else {
                    "read unclean"
                };
                c.note(i, act_lane, read, "warmup-reads-flag");
            }
            Action::WarmupCreatesVBuckets => {
                let act = a.active.as_ref().expect("active");
                if act.new_entry {
                    let n = act.failover.newest();
                    c.marker(
                        i,
                        act_lane,
                        &format!("{n:?} created"),
                        "#7c3aed",
                        "entry-created",
                    );
                } else {
                    c.note(i, act_lane, "no new entry", "no-entry-created");
                }
            }
            Action::ReplicaRequestsStream { replica, vb: 0 } => {
                let r = &a.replicas[*replica as usize];
                let lane = layout.replica(i + 1, *replica as usize);
                match r.stream {
                    Stream::Accepted => {
                        let n = r.failover.newest();
                        c.marker(
                            i,
                            lane,
                            &format!("adopts {n:?}"),
                            "#2563eb",
                            "entry-adopted",
                        );
                    }
                    Stream::RolledBack(rb) => {
                        c.marker(i, lane, &format!("rollback to {rb}"), "#ea580c", "rollback");
                    }
                    Stream::None => {}
                }
            }
            Action::ReplicaReceives {
                replica,
                vb: 0,
                seqno,
            } => {
                let r = &a.replicas[*replica as usize];
                let m = &r.history[*seqno as usize - 1];
                c.mutation(
                    i,
                    layout.replica(i + 1, *replica as usize),
                    *seqno as usize,
                    m,
                    "received",
                    "#60a5fa",
                );
            }
            _ => {}
        }
        // Warmup phase names under the active lane.
        if let (Node::Warming(p), true) = (
            after.node,
            matches!(
                action,
                Action::WarmupInitializes
                    | Action::WarmupCreatesVBuckets
                    | Action::WarmupPopulatesVBucketMap
                    | Action::WarmupLoadsData
                    | Action::WarmupReachesDone
            ),
        ) {
            c.text(
                x + 4,
                TOP + (act_lane + 2) * LANE - 6,
                11,
                "#6d28d9",
                p.name(),
            );
        }
        if *action == Action::WarmupCompletes {
            c.text(
                x + 4,
                TOP + (act_lane + 2) * LANE - 6,
                11,
                "#6d28d9",
                "complete",
            );
        }
    }

    // Divergence: the first seqno at which an accepted replica differs from the active.
    let last = &path.last().expect("a path has a state").0;
    let mut verdict = String::new();
    if let Some(vb) = last.vbs.first() {
        if let Some(act) = &vb.active {
            for (r, rep) in vb.replicas.iter().enumerate() {
                if rep.stream != Stream::Accepted {
                    continue;
                }
                if let Some(seq) = rep
                    .history
                    .iter()
                    .zip(act.history.iter())
                    .position(|(x, y)| !x.same_content(y))
                {
                    let y = TOP + layout.replica(path.len() - 1, r) * LANE + 2;
                    c.rect(
                        (LEFT - 4, y, width - LEFT - 10, LANE - 4),
                        "none",
                        "#dc2626",
                        "divergence",
                    );
                    let _ = write!(
                        verdict,
                        "DIVERGED: r{} holds seqno {} = {}, the active holds {}",
                        r + 1,
                        seq + 1,
                        label(&rep.history[seq]),
                        label(&act.history[seq])
                    );
                }
            }
        }
    }
    if tail && !verdict.is_empty() {
        c.text(LEFT, height - 30, 13, "#dc2626", &verdict);
    }
    // The `always` properties the path's last state violates, named.
    let violated: Vec<&str> = model
        .properties()
        .iter()
        .filter(|p| p.expectation == Expectation::Always && !(p.condition)(model, last))
        .map(|p| p.name)
        .collect();
    if tail && !violated.is_empty() {
        let _ = writeln!(
            c.body,
            r##"<text class="violated-property" x="6" y="{}" font-size="12" font-weight="bold" fill="#dc2626">{}</text>"##,
            height - 12,
            esc(&format!("VIOLATES: {}", violated.join("; ")))
        );
    }
    let (legend, total) = if tail {
        (legend(height + 4, width), height + legend_height(width))
    } else {
        (String::new(), height)
    };

    // `fit`: never wider than a 1280-pixel window, a longer path is scaled down to fit.
    let shown = if fit { width.min(MAX_WIDTH) } else { width };
    let shown_h = total * shown / width;
    let title = if cols.start == 0 && cols.end + 1 >= path.len() {
        format!(
            "design {} - vb 0; column N is step N of the path (* = has a TTL)",
            model.variant
        )
    } else {
        format!(
            "design {} - vb 0; steps {} to {} of {} (* = has a TTL)",
            model.variant,
            cols.start + 1,
            cols.end,
            path.len().saturating_sub(1)
        )
    };
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="warmcheck-timeline" width="{shown}" height="{shown_h}" viewBox="0 0 {width} {total}" style="max-width:100%;height:auto" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif">
<rect x="0" y="0" width="{width}" height="{total}" fill="#ffffff"/>
<text x="6" y="14" font-size="12" fill="#111">{}</text>
{}{legend}</svg>"##,
        esc(&title),
        c.body
    )
}
