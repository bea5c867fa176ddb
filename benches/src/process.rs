//! Running another program the way a runtime drives its network backend:
//! argv, environment, a document on stdin, a document back on stdout, and
//! a time limit.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Why a call failed; each names the program and what it was asked to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The program could not be started.
    #[error("{op}: start {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// What it was asked to do.
        op: String,
        /// Why.
        source: std::io::Error,
    },
    /// It ran and failed.
    #[error("{op}: {} exited with {status}: {}", program.display(), detail.trim())]
    Exit {
        /// The program.
        program: PathBuf,
        /// What it was asked to do.
        op: String,
        /// How it ended.
        status: ExitStatus,
        /// Its stderr, or its stdout when stderr is empty (CNI plugins and
        /// netavark put their error document there).
        detail: String,
    },
    /// It ran past its limit and was killed.
    #[error("{op}: {} still running after {after:?}, killed", program.display())]
    TimedOut {
        /// The program.
        program: PathBuf,
        /// What it was asked to do.
        op: String,
        /// The limit.
        after: Duration,
    },
    /// Its output was not the document expected.
    #[error("{op}: output of {}: {source}", program.display())]
    Output {
        /// The program.
        program: PathBuf,
        /// What it was asked to do.
        op: String,
        /// Why it did not parse.
        source: serde_json::Error,
    },
    /// Our side of the work (a namespace, the library) failed.
    #[error("{op}: {source}")]
    Local {
        /// What was being done.
        op: String,
        /// Why it failed.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// An error of our own side, named by `op`.
    pub fn local(
        op: impl Into<String>,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Local {
            op: op.into(),
            source: Box::new(e),
        }
    }
}

/// One call of a program.
#[derive(Debug, Clone)]
pub struct Call {
    program: PathBuf,
    op: String,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    stdin: Vec<u8>,
    limit: Option<Duration>,
}

impl Call {
    /// A call of `program`; `op` names it in errors (e.g. `netavark setup c3`).
    pub fn new(program: &Path, op: impl Into<String>) -> Call {
        Call {
            program: program.to_owned(),
            op: op.into(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: Vec::new(),
            limit: None,
        }
    }

    /// Append one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Call {
        self.args.push(arg.into());
        self
    }

    /// Append arguments.
    pub fn args<I, S>(mut self, args: I) -> Call
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set one environment variable (the rest is inherited).
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Call {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// The document written to its stdin.
    pub fn stdin(mut self, bytes: Vec<u8>) -> Call {
        self.stdin = bytes;
        self
    }

    /// Kill it when it runs longer than `limit` (checked every 10 ms, so
    /// only for calls that take seconds).
    pub fn limit(mut self, limit: Duration) -> Call {
        self.limit = Some(limit);
        self
    }

    /// Run it to the end; its stdout when it exits 0.
    pub fn run(self) -> Result<Vec<u8>, Error> {
        let spawn_err = |source| Error::Spawn {
            program: self.program.clone(),
            op: self.op.clone(),
            source,
        };
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        // A document larger than a pipe is written from another thread
        // while this one collects the output; a small one directly (the
        // programs driven here read all of stdin before they write). A
        // program that exits without reading it all is not our concern
        // (EPIPE is ignored).
        let mut stdin = child.stdin.take();
        let doc = self.stdin;
        let writer = if doc.len() > PIPE_SAFE {
            Some(std::thread::spawn(move || {
                if let Some(pipe) = stdin.as_mut() {
                    let _ = pipe.write_all(&doc);
                }
            }))
        } else {
            if let Some(pipe) = stdin.as_mut() {
                let _ = pipe.write_all(&doc);
            }
            drop(stdin);
            None
        };
        let (status, out, err) = match self.limit {
            None => {
                let o = child.wait_with_output().map_err(spawn_err)?;
                (o.status, o.stdout, o.stderr)
            }
            Some(limit) => {
                let mut stdout = child.stdout.take();
                let mut stderr = child.stderr.take();
                let out_reader = std::thread::spawn(move || read_all(stdout.as_mut()));
                let err_reader = std::thread::spawn(move || read_all(stderr.as_mut()));
                let start = Instant::now();
                let status = loop {
                    match child.try_wait().map_err(spawn_err)? {
                        Some(status) => break status,
                        None if start.elapsed() > limit => {
                            let _ = child.kill();
                            let _ = child.wait();
                            return Err(Error::TimedOut {
                                program: self.program,
                                op: self.op,
                                after: limit,
                            });
                        }
                        None => std::thread::sleep(Duration::from_millis(10)),
                    }
                };
                let out = out_reader.join().unwrap_or_default();
                let err = err_reader.join().unwrap_or_default();
                (status, out, err)
            }
        };
        if let Some(w) = writer {
            let _ = w.join();
        }
        if status.success() {
            return Ok(out);
        }
        let detail = if err.trim_ascii().is_empty() {
            out
        } else {
            err
        };
        Err(Error::Exit {
            program: self.program,
            op: self.op,
            status,
            detail: String::from_utf8_lossy(&detail).into_owned(),
        })
    }

    /// Run it and parse its stdout as JSON.
    pub fn run_json(self) -> Result<serde_json::Value, Error> {
        let (program, op) = (self.program.clone(), self.op.clone());
        let out = self.run()?;
        serde_json::from_slice(&out).map_err(|source| Error::Output {
            program,
            op,
            source,
        })
    }
}

/// Bytes that always fit in a pipe's buffer (Linux: 64 KiB by default).
const PIPE_SAFE: usize = 16 * 1024;

fn read_all(pipe: Option<&mut impl Read>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(p) = pipe {
        let _ = p.read_to_end(&mut buf);
    }
    buf
}

/// The first of `candidates` that is an executable file, else `name` found
/// on `PATH`.
pub fn find_program(candidates: &[&str], name: &str) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .chain(
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(name))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        )
        .find(|p| is_executable(p))
}

/// Whether `path` is a regular file with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
