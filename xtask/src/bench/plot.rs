//! The scaling plot: connect time per container against N, one line per
//! system, without and with one published port, log–log, min–max bars.

use std::path::Path;

use plotters::prelude::*;

use super::table::{Cell, Col};

/// One system's points: (N, median, min, max) in ms per container.
pub struct Series {
    pub col: Col,
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// A panel: its title and its series.
pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
}

fn color(col: Col) -> RGBColor {
    match col {
        Col::BridgeNet => RGBColor(0xd6, 0x27, 0x28),
        Col::Brnet => RGBColor(0xff, 0x7f, 0x0e),
        Col::BrnetNetavark => RGBColor(0x94, 0x67, 0xbd),
        Col::BrnetCni => RGBColor(0x8c, 0x56, 0x4b),
        Col::IpBatch => RGBColor(0x7f, 0x7f, 0x7f),
        Col::Nlbench => RGBColor(0x2c, 0x2c, 0x2c),
        Col::Netavark => RGBColor(0x1f, 0x77, 0xb4),
        Col::Cni => RGBColor(0x2c, 0xa0, 0x2c),
    }
}

/// The points of `col` from cells keyed by N.
pub fn series(col: Col, cells: &[(usize, &Cell)]) -> Series {
    let points = cells
        .iter()
        .filter_map(|(n, c)| match c {
            Cell::Measured(s) => Some((*n as f64, s.median(), s.min(), s.max())),
            Cell::Absent(_) => None,
        })
        .collect();
    Series { col, points }
}

/// Draw the panels side by side into an SVG at `path`.
pub fn draw(path: &Path, panels: &[Panel]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("plot {}: {e}", path.display());
    let width = 560 * panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (width, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    let all = || {
        panels
            .iter()
            .flat_map(|p| &p.series)
            .flat_map(|s| &s.points)
    };
    let n_max = all().map(|p| p.0).fold(1.0, f64::max) * 1.5;
    let y_min = all().map(|p| p.2).fold(f64::INFINITY, f64::min).min(1.0) / 1.5;
    let y_max = all().map(|p| p.3).fold(1.0, f64::max) * 2.0;
    for (panel, area) in panels.iter().zip(&areas) {
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(
                (0.8f64..n_max).log_scale(),
                (y_min.max(0.01)..y_max).log_scale(),
            )
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("containers on the network (N)")
            .y_desc("connect, ms per container")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v}"))
            .draw()
            .map_err(|e| err(&e))?;
        for s in &panel.series {
            if s.points.is_empty() {
                continue;
            }
            let c = color(s.col);
            let style = ShapeStyle::from(&c).stroke_width(2);
            chart
                .draw_series(LineSeries::new(s.points.iter().map(|p| (p.0, p.1)), style))
                .map_err(|e| err(&e))?
                .label(s.col.name())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|p| ErrorBar::new_vertical(p.0, p.2, p.1, p.3, c.filled(), 6)),
                )
                .map_err(|e| err(&e))?;
            chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|p| Circle::new((p.0, p.1), 3, c.filled())),
                )
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}
