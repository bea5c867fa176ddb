//! What the figures were measured on: the machine, how busy it was, and
//! the versions of the tools compared.

use std::process::Command;

/// The machine in one line: cores, CPU model, memory, kernel.
pub fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!("{cores} cores (nproc), {model}, {mem_gib:.1} GiB RAM, Linux {kernel}")
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The load seen during a run: sampled between measurements.
#[derive(Debug, Clone, Default)]
pub struct Load {
    samples: Vec<f64>,
}

impl Load {
    pub fn sample(&mut self) {
        let l = load1();
        if l.is_finite() {
            self.samples.push(l);
        }
    }

    pub fn describe(&self) -> String {
        let (Some(first), Some(last)) = (self.samples.first(), self.samples.last()) else {
            return "load average not available".into();
        };
        let max = self.samples.iter().copied().fold(f64::MIN, f64::max);
        let mean = self.samples.iter().sum::<f64>() / self.samples.len() as f64;
        format!(
            "1-minute load average {first:.2} at the start, {last:.2} at the end, \
             mean {mean:.2} and max {max:.2} over {} samples between measurements",
            self.samples.len()
        )
    }
}

/// The first line of `program args` (stdout, else stderr).
pub fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_owned())
}

/// Now, as `2026-01-31 12:34 UTC`.
pub fn now() -> String {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    // 2026-01-31T12:34:56Z
    format!("{} {} UTC", &t[..10], &t[11..16])
}
