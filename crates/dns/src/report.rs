//! Log lines: one per event, at most one a second of each kind, with a
//! count of the ones held back, so a flood cannot flood the log too.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where the resolver's log lines go: `tracing` warnings unless told
/// otherwise (the program chooses where those go). Lines come without a
/// trailing newline, prefixed `brnet-dns: `.
#[derive(Clone)]
pub struct LogSink(Arc<dyn Fn(&str) + Send + Sync>);

impl LogSink {
    /// Lines go to `f`.
    pub fn new(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Lines go to stderr.
    pub fn stderr() -> Self {
        Self::new(|line| eprintln!("{line}"))
    }

    /// Lines are `tracing` warnings (the default).
    pub fn tracing() -> Self {
        Self::new(|line| tracing::warn!("{}", line.strip_prefix("brnet-dns: ").unwrap_or(line)))
    }
}

impl Default for LogSink {
    fn default() -> Self {
        Self::tracing()
    }
}

impl fmt::Debug for LogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogSink(..)")
    }
}

/// The kinds of line rate-limited apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    NoUpstream,
    Overflow,
    TcpFallback,
    Socket,
}

const EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Log {
    sink: LogSink,
    last: Mutex<HashMap<Kind, (Instant, u64)>>,
}

impl Log {
    pub(crate) fn new(sink: LogSink) -> Self {
        Self {
            sink,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Log `line()` unless a line of this kind went out less than a second
    /// ago (then count it as held back).
    pub(crate) fn line(&self, kind: Kind, line: impl FnOnce() -> String) {
        let now = Instant::now();
        let held = {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            match last.get_mut(&kind) {
                Some((at, held)) if now.duration_since(*at) < EVERY => {
                    *held += 1;
                    return;
                }
                Some((at, held)) => {
                    *at = now;
                    std::mem::take(held)
                }
                None => {
                    last.insert(kind, (now, 0));
                    0
                }
            }
        };
        let text = line();
        if held == 0 {
            (self.sink.0)(&format!("brnet-dns: {text}"));
        } else {
            (self.sink.0)(&format!(
                "brnet-dns: {text} ({held} similar lines held back)"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_second_per_kind() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let got = lines.clone();
        let log = Log::new(LogSink::new(move |l| {
            got.lock().unwrap().push(l.to_owned())
        }));
        for i in 0..5 {
            log.line(Kind::NoUpstream, || format!("a{i}"));
        }
        log.line(Kind::Overflow, || "b".into());
        assert_eq!(
            *lines.lock().unwrap(),
            vec!["brnet-dns: a0".to_string(), "brnet-dns: b".to_string()]
        );
        // a second later the held-back count rides along
        log.last
            .lock()
            .unwrap()
            .get_mut(&Kind::NoUpstream)
            .unwrap()
            .0 -= EVERY;
        log.line(Kind::NoUpstream, || "a5".into());
        assert_eq!(
            lines.lock().unwrap().last().unwrap(),
            "brnet-dns: a5 (4 similar lines held back)"
        );
    }
}
