//! Progress on stderr for long runs (a clean stop on Ctrl-C is `crate::signals`).
//!
//! Runs that take longer than two seconds print a status line every second: a line redrawn in
//! place when stderr is a terminal, plain lines otherwise. `--quiet` silences it.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    quiet: bool,
    tty: bool,
    start: Instant,
    last: Instant,
    drew: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let now = Instant::now();
        Progress {
            quiet,
            tty: std::io::stderr().is_terminal(),
            start: now,
            last: now,
            drew: false,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Offer a status line; it is printed at most once a second, and only after two seconds.
    pub fn tick(&mut self, line: impl FnOnce(Duration) -> String) {
        if self.quiet {
            return;
        }
        let elapsed = self.start.elapsed();
        if elapsed < Duration::from_secs(2) || self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        let text = line(elapsed);
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{text}");
            self.drew = true;
        } else {
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
    }

    /// End the redrawn line, if one was drawn.
    pub fn finish(&mut self) {
        if self.drew {
            let _ = writeln!(std::io::stderr());
            self.drew = false;
        }
    }
}
