//! A log file with a size cap, for the programs that log to a file (the
//! resolver bridge-net starts writes `resolver.log` in its state
//! directory): when a line would take the file past its cap, the file
//! becomes `NAME.1` (replacing the one before) and a new one is begun. So
//! at most twice the cap is ever kept.
//!
//! Used behind a mutex as a `tracing-subscriber` writer; several processes
//! may share a file (each write is one `O_APPEND` write).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The environment variable naming the log file of bridge-net's programs
/// (`brnet`, `brnet-dns`, `brnet-cni`, `brnet-netavark`): their `tracing`
/// events go there instead of stderr.
pub const LOG_FILE_ENV: &str = "BRNET_LOG_FILE";

/// The cap of a log file unless told otherwise: 1 MiB.
pub const DEFAULT_CAP: u64 = 1 << 20;

/// An append-only log file that rotates once at its cap.
#[derive(Debug)]
pub struct CappedFile {
    path: PathBuf,
    file: File,
    len: u64,
    cap: u64,
    /// The last write ended a line: a rotation never splits one.
    line_start: bool,
}

fn open(path: &Path) -> io::Result<(File, u64)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let len = file.metadata()?.len();
    Ok((file, len))
}

impl CappedFile {
    /// Open (or create) `path` for appending, rotating it first if it is
    /// past `cap` bytes already.
    pub fn open(path: impl Into<PathBuf>, cap: u64) -> io::Result<CappedFile> {
        let path = path.into();
        let (file, len) = open(&path)?;
        let mut f = CappedFile {
            path,
            file,
            len,
            cap: cap.max(1),
            line_start: true,
        };
        if f.len >= f.cap {
            f.rotate()?;
        }
        Ok(f)
    }

    /// The older generation's path: `NAME.1`.
    pub fn previous(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".1");
        PathBuf::from(p)
    }

    fn rotate(&mut self) -> io::Result<()> {
        // Another process may have rotated it already: then the file at
        // `path` is new and small, and ours is `NAME.1`.
        let current = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if current >= self.cap || current == 0 {
            let _ = std::fs::rename(&self.path, self.previous());
        }
        let (file, len) = open(&self.path)?;
        self.file = file;
        self.len = len;
        Ok(())
    }
}

impl Write for CappedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.line_start && self.len > 0 && self.len + buf.len() as u64 > self.cap {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.len += buf.len() as u64;
        if let Some(last) = buf.last() {
            self.line_start = *last == b'\n';
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// For bridge-net's programs (`brnet`, `brnet-dns`, `brnet-cni`,
/// `brnet-netavark`; a library never calls it): where their `tracing`
/// events go: to `$BRNET_LOG_FILE` when set (capped at [`DEFAULT_CAP`], one
/// older generation kept as `NAME.1`), else to stderr; never to stdout.
/// Which ones: `level`, else `$RUST_LOG`, else `info` into a log file and
/// none on stderr.
pub fn init_logs(level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let file = std::env::var_os(LOG_FILE_ENV).filter(|f| !f.is_empty());
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => match EnvFilter::try_from_default_env() {
            Ok(f) => f,
            Err(_) if file.is_some() => EnvFilter::new("info"),
            Err(_) => return,
        },
    };
    let fmt = tracing_subscriber::fmt().with_env_filter(filter);
    match file.map(|p| CappedFile::open(PathBuf::from(p), DEFAULT_CAP)) {
        Some(Ok(f)) => fmt.with_writer(std::sync::Mutex::new(f)).init(),
        Some(Err(e)) => {
            fmt.with_writer(std::io::stderr).init();
            tracing::warn!("{LOG_FILE_ENV}: {e}: logging to stderr");
        }
        None => fmt.with_writer(std::io::stderr).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_the_cap_and_keeps_one_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolver.log");
        let mut f = CappedFile::open(&path, 100).unwrap();
        for i in 0..30 {
            // Written in pieces, as `writeln!` does: lines stay whole.
            writeln!(f, "line {i:04} ..").unwrap(); // 14 bytes
        }
        let now = std::fs::read_to_string(&path).unwrap();
        let before = std::fs::read_to_string(f.previous()).unwrap();
        assert!(
            now.len() <= 100 + 14 && before.len() <= 100 + 14,
            "{now:?} {before:?}"
        );
        assert!(
            now.starts_with("line ") && before.starts_with("line "),
            "{now:?} {before:?}"
        );
        assert!(now.ends_with("line 0029 ..\n"), "{now}");
        assert!(before.ends_with(&format!("line {:04} ..\n", 29 - now.lines().count())));
        // Opening a file past its cap rotates it first.
        std::fs::write(&path, vec![b'x'; 150]).unwrap();
        let f = CappedFile::open(&path, 100).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        assert_eq!(std::fs::metadata(f.previous()).unwrap().len(), 150);
    }
}
