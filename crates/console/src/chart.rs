//! Orders per hour as an SVG bar chart, drawn on the server (no script, no
//! assets).

use std::fmt::Write;

use chrono::{DateTime, Duration, DurationRound, Utc};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 22.0;
const HOURS: i64 = 24;

/// Bars for the 24 hours up to `now` from `counts` (hour start, orders
/// placed in it); hours without orders show as empty.
pub fn orders_per_hour(counts: &[(DateTime<Utc>, i64)], now: DateTime<Utc>) -> String {
    let this_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let hours: Vec<(DateTime<Utc>, i64)> = (0..HOURS)
        .rev()
        .map(|back| {
            let hour = this_hour - Duration::hours(back);
            let n = counts
                .iter()
                .find(|(h, _)| *h == hour)
                .map_or(0, |(_, n)| *n);
            (hour, n)
        })
        .collect();
    let max = hours.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let plot_height = HEIGHT - BOTTOM - 8.0;
    let slot = (WIDTH - LEFT) / HOURS as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="Orders placed per hour, last 24 hours" class="chart">"#
    );
    let _ = write!(
        svg,
        r##"<text x="0" y="14" font-size="11" fill="#555">{max}</text><text x="0" y="{}" font-size="11" fill="#555">0</text>"##,
        HEIGHT - BOTTOM
    );
    for (i, (hour, n)) in hours.iter().enumerate() {
        let x = LEFT + i as f64 * slot;
        let h = plot_height * (*n as f64) / (max as f64);
        let y = HEIGHT - BOTTOM - h;
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="#2f6fb0"><title>{} UTC: {n} orders</title></rect>"##,
            x + 2.0,
            slot - 4.0,
            hour.format("%H:00")
        );
        if i % 3 == 0 {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{}" font-size="11" fill="#555">{}</text>"##,
                x + 2.0,
                HEIGHT - 6.0,
                hour.format("%H:00")
            );
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{0}" x2="{WIDTH}" y2="{0}" stroke="#999"/></svg>"##,
        HEIGHT - BOTTOM
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn one_bar_per_hour_scaled_to_the_busiest() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 13, 40, 0).unwrap();
        let busy = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let quiet = Utc.with_ymd_and_hms(2026, 11, 22, 13, 0, 0).unwrap();
        let svg = orders_per_hour(&[(busy, 40), (quiet, 10)], now);
        assert_eq!(svg.matches("<rect").count(), 24);
        assert!(svg.contains("12:00 UTC: 40 orders"));
        assert!(svg.contains("13:00 UTC: 10 orders"));
        assert!(
            svg.contains(r#"height="150.0""#),
            "the busiest hour fills the plot"
        );
        assert!(svg.contains(r#"height="37.5""#), "a quarter of it");
    }
}
