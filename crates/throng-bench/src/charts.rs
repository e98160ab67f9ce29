//! PNG line charts with plotters, labelled with a font shipped inside the crate (never one
//! read from the machine, so charts look the same everywhere).

use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::OnceLock;

/// DejaVu Sans (see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The family name charts ask for.
const FAMILY: &str = "sans-serif";

/// Distinct colours, one per target, Throng first.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Values below this are drawn at it on a logarithmic axis.
const LOG_FLOOR: f64 = 0.1;

fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    anyhow::ensure!(ok, "the embedded chart font could not be loaded");
    Ok(())
}

/// How a series' points are marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text; `None` keeps the series out of the legend.
    pub label: Option<String>,
    /// Index into the palette (one colour per target).
    pub color: usize,
    pub marker: Marker,
    /// (x, y) points, drawn in x order.
    pub points: Vec<(f64, f64)>,
}

/// A padded range covering `values`, never empty.
fn padded_range(values: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut low, mut high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !low.is_finite() || !high.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero {
        low = low.min(0.0);
    }
    if (high - low).abs() < f64::EPSILON {
        let pad = if high.abs() > 0.0 {
            high.abs() * 0.5
        } else {
            1.0
        };
        low -= if from_zero { 0.0 } else { pad };
        high += pad;
    }
    let span = high - low;
    (
        if from_zero { low } else { low - span * 0.05 },
        high + span * 0.08,
    )
}

/// Draws `series` as lines with markers into a PNG at `path`. With `log_y`, values are
/// drawn on a logarithmic axis (labelled in their own units), which keeps milliseconds
/// and tens of seconds readable on one chart.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> anyhow::Result<()> {
    register_font()?;
    let to_axis = move |y: f64| if log_y { y.max(LOG_FLOOR).log10() } else { y };
    let from_axis = move |v: f64| if log_y { 10f64.powf(v) } else { v };
    let root = BitMapBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| to_axis(p.1)));
    let (x_low, x_high) = padded_range(xs, false);
    let (y_low, y_high) = padded_range(ys, !log_y);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x_low..x_high, y_low..y_high)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let y_top = from_axis(y_high);
    let y_digits = if y_top < 10.0 {
        2
    } else if y_top < 100.0 {
        1
    } else {
        0
    };
    let x_format = |v: &f64| format!("{v:.0}");
    let y_format = move |v: &f64| {
        let value = from_axis(*v);
        let digits = if log_y && value < 10.0 { 2 } else { y_digits };
        format!("{value:.digits$}")
    };
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for s in series {
        let color = PALETTE[s.color % PALETTE.len()];
        let mut points: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, to_axis(p.1))).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let width = if s.marker == Marker::Circle { 3 } else { 1 };
        let line_style = color.stroke_width(width);
        let drawn = chart
            .draw_series(LineSeries::new(points.clone(), line_style))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(label) = &s.label {
            drawn
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], line_style));
        }
        match s.marker {
            Marker::Circle => chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 5, color.filled())))
                .map(|_| ()),
            Marker::Triangle => chart
                .draw_series(
                    points
                        .iter()
                        .map(|p| TriangleMarker::new(*p, 6, color.filled())),
                )
                .map(|_| ()),
        }
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .label_font((FAMILY, 14))
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_never_empty() {
        let cases: &[(&[f64], bool, (f64, f64))] = &[
            (&[], true, (0.0, 1.0)),
            (&[5.0], true, (0.0, 5.4)),
            (&[0.0], true, (0.0, 1.08)),
            (&[0.0, 10.0], true, (0.0, 10.8)),
        ];
        for (values, from_zero, expect) in cases {
            let got = padded_range(values.iter().copied(), *from_zero);
            assert!(
                (got.0 - expect.0).abs() < 1e-9 && (got.1 - expect.1).abs() < 1e-9,
                "{values:?}: {got:?}"
            );
        }
        let (low, high) = padded_range([1000.0, 18000.0].into_iter(), false);
        assert!(low < 1000.0 && high > 18000.0);
    }

    #[test]
    fn draws_a_png_with_the_embedded_font() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.png");
        let series = vec![
            Series {
                label: Some("throng p99".into()),
                color: 0,
                marker: Marker::Circle,
                points: vec![(1000.0, 12.0), (18000.0, 150.0)],
            },
            Series {
                label: None,
                color: 1,
                marker: Marker::Triangle,
                points: vec![(1000.0, 40.0)],
            },
        ];
        line_chart(&path, "latency", "members", "ms", &series, false).unwrap();
        let log_path = dir.path().join("log.png");
        line_chart(&log_path, "latency", "members", "ms", &series, true).unwrap();
        assert!(std::fs::read(&log_path).unwrap().starts_with(b"\x89PNG"));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(
            bytes.len() > 2000,
            "a chart with text and lines, not an empty image"
        );
    }
}
