//! `warmcheck failover-decide`: kv_engine's rollback decision as a JSON-lines filter.

use std::io::BufReader;

/// Decide DCP rollbacks the way a 6.5 producer does (`FailoverTable::needsRollback`).
///
/// Reads JSON lines {"table":[{"id":U,"seq":S},...], "start", "cur", "uuid", "snap_start",
/// "snap_end", "purge", "strict"} (table newest first) on standard input and prints one line
/// each: {"rollback":false}, {"rollback":true,"seqno":N,"reason":"..."}, or
/// {"error":"ERANGE","reason":"..."} when snap_start <= start <= snap_end does not hold (the
/// producer refuses such a request before needsRollback). "purge" defaults to 0 and "strict"
/// to false.
///
/// Exit codes: 0 every line decided; 2 a line is not a valid request (its number is named).
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {}

pub fn run(_: Args) -> u8 {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    match warmcheck_impl::decide::decide_lines(BufReader::new(stdin.lock()), stdout.lock()) {
        Ok(()) => 0,
        Err(e) => {
            crate::signals::end_if_pipe_broken();
            eprintln!("warmcheck failover-decide: {e}");
            2
        }
    }
}
