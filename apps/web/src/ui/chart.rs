//! Server-rendered SVG charts (line, bar, stacked bar), our own: inline `<svg>` built with
//! Leptos elements (text escaped like every other text), colours from CSS classes of our
//! stylesheet (`.chart .s0`…`.s3`; no `style=` attributes, the CSP forbids them), a `<title>`
//! per point or bar as its tooltip, and a table-free text alternative (`aria-label`). Numbers
//! are formatted to one decimal, so the same data gives the same bytes (the snapshot test in
//! `tests/analytics_chart.rs` holds it so).

use leptos::prelude::*;

/// Drawing area.
pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 200.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// A named series of values, one per label.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

impl Series {
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            values,
        }
    }
}

fn f(x: f64) -> String {
    let v = (x * 10.0).round() / 10.0;
    // `-0.0` would print as "-0.0".
    format!("{:.1}", if v == 0.0 { 0.0 } else { v })
}

/// A "nice" top of the axis: 1, 2 or 5 × 10^n at or above `max` (1 when nothing is above 0).
pub fn nice_max(max: f64) -> f64 {
    if max.is_nan() || max <= 0.0 {
        return 1.0;
    }
    let exp = max.log10().floor();
    let base = 10f64.powf(exp);
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * base >= max - 1e-9 {
            return m * base;
        }
    }
    10.0 * base
}

fn plot_w() -> f64 {
    WIDTH - LEFT - RIGHT
}
fn plot_h() -> f64 {
    HEIGHT - TOP - BOTTOM
}
fn y_of(v: f64, top: f64) -> f64 {
    TOP + plot_h() - (v.max(0.0) / top) * plot_h()
}

/// Number shown on the axis and in tooltips: integers plain, fractions to two places.
pub fn label_number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.2}")
    }
}

/// Axis, grid lines (0, half, top) and the x labels (at most 8, evenly picked).
fn axes(top: f64, labels: &[String], x_at: impl Fn(usize) -> f64) -> impl IntoView {
    let grid = [0.0, top / 2.0, top]
        .into_iter()
        .map(|v| {
            let y = f(y_of(v, top));
            let tx = f(LEFT - 4.0);
            let ty = f(y_of(v, top) + 4.0);
            view! {
                <line class="grid" x1=f(LEFT) x2=f(WIDTH - RIGHT) y1=y.clone() y2=y/>
                <text class="axis" x=tx y=ty text-anchor="end">{label_number(v)}</text>
            }
        })
        .collect_view();
    let n = labels.len();
    let step = n.div_ceil(8).max(1);
    let xl = labels
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0)
        .map(|(i, l)| {
            let x = f(x_at(i));
            let y = f(HEIGHT - 6.0);
            view! { <text class="axis" x=x y=y text-anchor="middle">{l.clone()}</text> }
        })
        .collect_view();
    view! { {grid}{xl} }
}

fn svg_frame(title: String, desc: String, inner: AnyView) -> impl IntoView {
    let vb = format!("0 0 {} {}", f(WIDTH), f(HEIGHT));
    view! {
        <figure class="chart">
            <figcaption>{title.clone()}</figcaption>
            <svg viewBox=vb role="img" aria-label=desc class="chart-svg">
                <title>{title}</title>
                {inner}
            </svg>
        </figure>
    }
}

fn legend(names: &[String]) -> impl IntoView {
    let items = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let class = format!("swatch s{}", i % 4);
            view! { <li><span class=class></span>{n.clone()}</li> }
        })
        .collect_view();
    view! { <ul class="legend">{items}</ul> }
}

/// A line chart: one polyline per series over the labels, a circle with a tooltip per point.
pub fn line_chart(title: &str, labels: &[String], series: &[Series]) -> AnyView {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    let top = nice_max(max);
    let n = labels.len().max(1);
    let x_at = move |i: usize| {
        if n == 1 {
            LEFT + plot_w() / 2.0
        } else {
            LEFT + plot_w() * i as f64 / (n - 1) as f64
        }
    };
    let lines = series
        .iter()
        .enumerate()
        .map(|(si, s)| {
            let points = s
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{},{}", f(x_at(i)), f(y_of(*v, top))))
                .collect::<Vec<_>>()
                .join(" ");
            let dots = s
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let tip = format!(
                        "{}: {} {}",
                        labels.get(i).cloned().unwrap_or_default(),
                        s.name,
                        label_number(*v)
                    );
                    view! {
                        <circle cx=f(x_at(i)) cy=f(y_of(*v, top)) r="3"><title>{tip}</title></circle>
                    }
                })
                .collect_view();
            let class = format!("series s{}", si % 4);
            view! { <g class=class><polyline points=points fill="none"/>{dots}</g> }
        })
        .collect_view();
    let desc = describe(title, labels, series);
    let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    let inner = view! { {axes(top, labels, x_at)}{lines} }.into_any();
    view! { <div class="chart-box">{svg_frame(title.to_string(), desc, inner)}{legend(&names)}</div> }
        .into_any()
}

/// A bar chart, one bar per label (`series` of one), or stacked bars (several series, each
/// bar the sum of the series at that label).
pub fn bar_chart(title: &str, labels: &[String], series: &[Series]) -> AnyView {
    let n = labels.len().max(1);
    let totals: Vec<f64> = (0..labels.len())
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0).max(0.0))
                .sum()
        })
        .collect();
    let top = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let slot = plot_w() / n as f64;
    let bar_w = (slot * 0.7).max(1.0);
    let x_at = move |i: usize| LEFT + slot * (i as f64 + 0.5);
    let bars = (0..labels.len())
        .map(|i| {
            let mut base = 0.0;
            series
                .iter()
                .enumerate()
                .map(|(si, s)| {
                    let v = s.values.get(i).copied().unwrap_or(0.0).max(0.0);
                    let y0 = y_of(base, top);
                    base += v;
                    let y1 = y_of(base, top);
                    let tip = format!("{}: {} {}", labels[i], s.name, label_number(v));
                    let class = format!("bar s{}", si % 4);
                    view! {
                        <rect class=class x=f(x_at(i) - bar_w / 2.0) y=f(y1) width=f(bar_w) height=f(y0 - y1)>
                            <title>{tip}</title>
                        </rect>
                    }
                })
                .collect_view()
        })
        .collect_view();
    let desc = describe(title, labels, series);
    let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    let inner = view! { {axes(top, labels, x_at)}{bars} }.into_any();
    view! { <div class="chart-box">{svg_frame(title.to_string(), desc, inner)}{legend(&names)}</div> }
        .into_any()
}

/// The text alternative: the title and each series' values.
fn describe(title: &str, labels: &[String], series: &[Series]) -> String {
    let mut out = title.to_string();
    for s in series {
        let vals: Vec<String> = s
            .values
            .iter()
            .zip(labels)
            .map(|(v, l)| format!("{l} {}", label_number(*v)))
            .collect();
        out.push_str(&format!(". {}: {}", s.name, vals.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_tops() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(0.42), 0.5);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(10.0), 10.0);
        assert_eq!(nice_max(130.0), 200.0);
        assert_eq!(f(-0.01), "0.0");
    }
}
