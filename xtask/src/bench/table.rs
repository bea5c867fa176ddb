//! The comparison table: one row per workload, one cell per system, the
//! ratios, rendered as Markdown and as CSV.

use std::fmt::Write;

/// The systems, in column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Col {
    BridgeNet,
    Brnet,
    BrnetNetavark,
    BrnetCni,
    IpBatch,
    Nlbench,
    Netavark,
    Cni,
}

impl Col {
    pub const ALL: [Col; 8] = [
        Col::BridgeNet,
        Col::Brnet,
        Col::BrnetNetavark,
        Col::BrnetCni,
        Col::IpBatch,
        Col::Nlbench,
        Col::Netavark,
        Col::Cni,
    ];

    /// Column heading (also the CSV's `system`).
    pub fn name(self) -> &'static str {
        match self {
            Col::BridgeNet => "bridge-net",
            Col::Brnet => "brnet",
            Col::BrnetNetavark => "brnet-netavark",
            Col::BrnetCni => "brnet-cni",
            Col::IpBatch => "ip -batch",
            Col::Nlbench => "nlbench",
            Col::Netavark => "netavark",
            Col::Cni => "CNI",
        }
    }

    fn index(self) -> usize {
        Col::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// Median and spread of the repetitions, in the row's unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    samples: Vec<f64>,
}

impl Stats {
    /// From the repetitions' figures (at least one).
    pub fn new(mut samples: Vec<f64>) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        Some(Stats { samples })
    }

    pub fn median(&self) -> f64 {
        let s = &self.samples;
        let m = s.len() / 2;
        if s.len() % 2 == 1 {
            s[m]
        } else {
            (s[m - 1] + s[m]) / 2.0
        }
    }

    pub fn min(&self) -> f64 {
        self.samples[0]
    }

    pub fn max(&self) -> f64 {
        self.samples[self.samples.len() - 1]
    }

    pub fn reps(&self) -> usize {
        self.samples.len()
    }
}

/// Why a cell has no figure.
#[derive(Debug, Clone, PartialEq)]
pub enum Absent {
    /// The peer is not installed (`--install-peers`).
    NotInstalled,
    /// Ours could not be built (reason in the footnotes).
    NotBuilt,
    /// The work makes no sense for this system ("—").
    NotApplicable,
    /// Not run at this size: peers stop at `cap` containers ("—" with a
    /// footnote).
    Capped,
    /// The system cannot do this ("—" with a footnote).
    Cannot,
    /// A call ran past the limit, in seconds.
    TimedOut(u64),
    /// It failed; the message is in the footnotes.
    Failed(String),
}

/// A cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Measured(Stats),
    Absent(Absent),
}

/// What a row's figures count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    MsPerContainer,
    MsPerCall,
    Ms,
    UsPerAddress,
}

impl Unit {
    fn label(self) -> &'static str {
        match self {
            Unit::MsPerContainer => "ms/container",
            Unit::MsPerCall => "ms/call",
            Unit::Ms => "ms",
            Unit::UsPerAddress => "µs/address",
        }
    }
}

/// One row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Stable id for the CSV (`connect/no-port/100`).
    pub id: String,
    /// What is measured, for people.
    pub work: String,
    pub unit: Unit,
    /// For the ratio to the floor: the row whose nlbench figure is the
    /// floor (itself, or the portless row of the same size).
    pub floor_row: Option<String>,
    /// Whether the table shows it (the CSV and the plot get every row).
    pub shown: bool,
    cells: Vec<Cell>,
}

impl Row {
    pub fn new(id: impl Into<String>, work: impl Into<String>, unit: Unit) -> Row {
        Row {
            id: id.into(),
            work: work.into(),
            unit,
            floor_row: None,
            shown: true,
            cells: vec![Cell::Absent(Absent::NotApplicable); Col::ALL.len()],
        }
    }

    pub fn set(&mut self, col: Col, cell: Cell) {
        self.cells[col.index()] = cell;
    }

    pub fn cell(&self, col: Col) -> &Cell {
        &self.cells[col.index()]
    }

    pub fn median(&self, col: Col) -> Option<f64> {
        match self.cell(col) {
            Cell::Measured(s) => Some(s.median()),
            Cell::Absent(_) => None,
        }
    }
}

/// Three significant figures, without trailing noise.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// 10000 as "10,000".
pub fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn ratio(v: f64) -> String {
    if v >= 1000.0 {
        format!("{}×", thousands(v.round() as u64))
    } else if v >= 10.0 {
        format!("{v:.0}×")
    } else {
        format!("{v:.2}×")
    }
}

fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Measured(s) if s.reps() > 1 => format!(
            "**{}** ({}–{})",
            num(s.median()),
            num(s.min()),
            num(s.max())
        ),
        Cell::Measured(s) => format!("**{}**", num(s.median())),
        Cell::Absent(a) => absent_text(a),
    }
}

fn absent_text(a: &Absent) -> String {
    match a {
        Absent::NotInstalled => "not installed".into(),
        Absent::NotBuilt => "not built".into(),
        Absent::NotApplicable => "—".into(),
        Absent::Capped => "—¹".into(),
        Absent::Cannot => "—⁴".into(),
        Absent::TimedOut(s) => format!("> {s} s (killed)"),
        Absent::Failed(_) => "failed²".into(),
    }
}

/// The ratios of a row: bridge-net and brnet over the floor, the peers
/// over bridge-net and over our binary for the same contract (netavark
/// over brnet-netavark, the CNI plugins over brnet-cni).
fn ratios(rows: &[Row], row: &Row) -> [String; 4] {
    let floor = row
        .floor_row
        .as_ref()
        .and_then(|id| rows.iter().find(|r| &r.id == id))
        .and_then(|r| r.median(Col::Nlbench));
    let mark = if row.floor_row.as_deref() == Some(row.id.as_str()) {
        ""
    } else {
        "³"
    };
    let over = |num: Option<f64>, den: Option<f64>| match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    };
    let to_floor = |col| {
        over(row.median(col), floor)
            .map(|r| format!("{}{mark}", ratio(r)))
            .unwrap_or_else(|| "—".into())
    };
    let ours = row.median(Col::BridgeNet);
    let peer = |col, binary| match (
        over(row.median(col), ours),
        over(row.median(col), row.median(binary)),
    ) {
        (Some(a), Some(b)) => format!("{} / {}", ratio(a), ratio(b)),
        (Some(a), None) => ratio(a),
        (None, Some(b)) => format!("— / {}", ratio(b)),
        _ => "—".into(),
    };
    [
        to_floor(Col::BridgeNet),
        to_floor(Col::Brnet),
        peer(Col::Netavark, Col::BrnetNetavark),
        peer(Col::Cni, Col::BrnetCni),
    ]
}

/// The table as Markdown (rows with `shown` only).
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = write!(s, "| work (median, min–max) |");
    for c in Col::ALL {
        let _ = write!(s, " {} |", c.name());
    }
    let _ = writeln!(
        s,
        " bridge-net ÷ nlbench | brnet ÷ nlbench | netavark ÷ bridge-net / ÷ brnet-netavark | CNI ÷ bridge-net / ÷ brnet-cni |"
    );
    let _ = writeln!(s, "|---|{}", "---:|".repeat(Col::ALL.len() + 4));
    for row in rows.iter().filter(|r| r.shown) {
        let _ = write!(s, "| {}, {} |", row.work, row.unit.label());
        for c in Col::ALL {
            let _ = write!(s, " {} |", cell_text(row.cell(c)));
        }
        for r in ratios(rows, row) {
            let _ = write!(s, " {r} |");
        }
        s.push('\n');
    }
    s
}

/// Every row and cell as CSV (one line per row and system).
pub fn csv(rows: &[Row]) -> String {
    let mut s = String::from("row,work,unit,system,median,min,max,reps,note\n");
    for row in rows {
        for c in Col::ALL {
            let (m, lo, hi, n, note) = match row.cell(c) {
                Cell::Measured(st) => (
                    format!("{:.6}", st.median()),
                    format!("{:.6}", st.min()),
                    format!("{:.6}", st.max()),
                    st.reps().to_string(),
                    String::new(),
                ),
                Cell::Absent(a) => {
                    let note = match a {
                        Absent::Failed(m) => format!("failed: {m}"),
                        other => absent_text(other)
                            .trim_end_matches(['¹', '²', '⁴'])
                            .to_owned(),
                    };
                    (
                        String::new(),
                        String::new(),
                        String::new(),
                        "0".into(),
                        note,
                    )
                }
            };
            let _ = writeln!(
                s,
                "{},{},{},{},{m},{lo},{hi},{n},{}",
                row.id,
                quote(&row.work),
                row.unit.label(),
                c.name(),
                quote(&note)
            );
        }
    }
    s
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = Stats::new(vec![3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!(
            (s.median(), s.min(), s.max(), s.reps()),
            (2.5, 1.0, 10.0, 4)
        );
        assert_eq!(Stats::new(vec![4.0, 1.0, 2.0]).unwrap().median(), 2.0);
        assert!(Stats::new(vec![]).is_none());
    }

    #[test]
    fn ratios_use_the_floor_row() {
        let mut floor = Row::new("c/0", "connect", Unit::MsPerContainer);
        floor.floor_row = Some("c/0".into());
        floor.set(Col::Nlbench, Cell::Measured(Stats::new(vec![2.0]).unwrap()));
        floor.set(
            Col::BridgeNet,
            Cell::Measured(Stats::new(vec![3.0]).unwrap()),
        );
        floor.set(
            Col::Netavark,
            Cell::Measured(Stats::new(vec![60.0]).unwrap()),
        );
        floor.set(
            Col::BrnetNetavark,
            Cell::Measured(Stats::new(vec![4.0]).unwrap()),
        );
        let mut port = Row::new("c/1", "connect, one port", Unit::MsPerContainer);
        port.floor_row = Some("c/0".into());
        port.set(
            Col::BridgeNet,
            Cell::Measured(Stats::new(vec![4.0]).unwrap()),
        );
        port.set(Col::Nlbench, Cell::Absent(Absent::NotApplicable));
        let rows = vec![floor, port];
        assert_eq!(
            ratios(&rows, &rows[0]),
            [
                "1.50×".to_string(),
                "—".into(),
                "20× / 15×".into(),
                "—".into()
            ]
        );
        assert_eq!(ratios(&rows, &rows[1])[0], "2.00×³");
        let md = markdown(&rows);
        assert!(md.contains("| connect, ms/container | **3.00** |"), "{md}");
        let csv = csv(&rows);
        assert!(
            csv.contains("c/0,connect,ms/container,netavark,60.000000"),
            "{csv}"
        );
        assert!(csv.contains("c/1,\"connect, one port\",ms/container,nlbench,,,,0,—"));
    }

    #[test]
    fn numbers() {
        assert_eq!(thousands(694_149), "694,149");
        assert_eq!(thousands(999), "999");
        assert_eq!(ratio(694_149.4), "694,149×");
        assert_eq!(num(0.1234), "0.123");
        assert_eq!(num(2.346), "2.35");
        assert_eq!(num(41.26), "41.3");
        assert_eq!(num(1234.5), "1234");
    }
}
