//! Small server-side SVG bar charts for the fleet health page.
//!
//! The output is a self-contained `<svg>` fragment (no JavaScript, no external
//! resources) that is inlined into the page with askama's `|safe`, so every
//! piece of caller-supplied text (titles, labels, hrefs) is XML-escaped here.
//! Colours come from presentation attributes that the page stylesheet can
//! override through the `bar`, `axis`, `label` and `value` CSS classes.
//!
//! Why hand-written instead of a plotting crate: `plotters` (svg_backend,
//! no default features) was evaluated. It builds without fontconfig/freetype,
//! but it emits fixed `width`/`height`, hard-coded `fill` colours and no
//! `role`/`aria-label`/`<title>`/`class` attributes, and it has no way to wrap
//! a bar and its label in an `<a href>` link. Meeting those requirements would
//! mean regex-rewriting its output, which is more fragile than the ~150 lines
//! below.

use std::fmt::Write as _;

/// One bar: a label under/next to it, its value, and an optional link (relative URL) the bar and label point to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    pub value: u64,
    pub href: Option<String>,
}

/// Approximate average glyph width (px) at the chart font size, used for
/// truncating labels and reserving room for value text.
const CHAR_W: f64 = 7.0;
const FONT_SIZE: u32 = 11;
const WIDTH: f64 = 600.0;

/// Escapes text for use in XML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Truncates to at most `max` chars (not bytes), ending with an ellipsis when cut.
fn truncate(s: &str, max: usize) -> String {
    let max = max.max(1);
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Opening `<svg>` tag plus `<title>`, shared by both chart kinds.
fn open_svg(out: &mut String, kind: &str, title: &str, height: f64) {
    let t = esc(title);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart chart-{kind}\" \
         viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"100%\" \
         preserveAspectRatio=\"xMidYMid meet\" role=\"img\" aria-label=\"{t}\" \
         font-family=\"sans-serif\" font-size=\"{FONT_SIZE}\"><title>{t}</title>"
    );
}

/// A valid, small SVG that just says "no data".
fn no_data_svg(kind: &str, title: &str) -> String {
    let mut out = String::new();
    open_svg(&mut out, kind, title, 40.0);
    let _ = write!(
        out,
        "<text class=\"label nodata\" x=\"{:.0}\" y=\"24\" text-anchor=\"middle\" \
         fill=\"#555\">no data</text></svg>",
        WIDTH / 2.0
    );
    out
}

/// Largest value, or `None` when there is nothing to scale against.
fn max_value(bars: &[Bar]) -> Option<u64> {
    bars.iter().map(|b| b.value).max().filter(|&m| m > 0)
}

/// Length of `value` scaled into `span` px, with non-zero values at least 1px.
fn scaled(value: u64, max: u64, span: f64) -> f64 {
    // u64 -> f64 is lossy for huge values but never overflows; max > 0 here.
    let len = value as f64 / max as f64 * span;
    if value > 0 { len.max(1.0) } else { 0.0 }
}

/// Opens a per-bar group: `<a href>` when linked, otherwise `<g>`; returns the closing tag.
fn open_item(out: &mut String, bar: &Bar) -> &'static str {
    match &bar.href {
        Some(href) => {
            let _ = write!(out, "<a href=\"{}\">", esc(href));
            "</a>"
        }
        None => {
            out.push_str("<g>");
            "</g>"
        }
    }
}

/// Vertical bar chart (histogram style): bars left to right in the given order, value printed above each bar, x-axis caption `x_label` under the chart, `title` as the SVG <title> and aria-label.
pub fn histogram_svg(title: &str, x_label: &str, bars: &[Bar]) -> String {
    let Some(max) = max_value(bars) else {
        return no_data_svg("histogram", title);
    };
    const HEIGHT: f64 = 260.0;
    const TOP: f64 = 22.0;
    const BOTTOM: f64 = 40.0;
    const SIDE: f64 = 8.0;
    let plot_w = WIDTH - 2.0 * SIDE;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let base_y = TOP + plot_h;
    let slot = plot_w / bars.len() as f64;
    let bar_w = slot * 0.8;
    let max_chars = ((slot / CHAR_W) as usize).clamp(3, 20);

    let mut out = String::new();
    open_svg(&mut out, "histogram", title, HEIGHT);
    for (i, bar) in bars.iter().enumerate() {
        let h = scaled(bar.value, max, plot_h);
        let x = SIDE + i as f64 * slot + (slot - bar_w) / 2.0;
        let cx = x + bar_w / 2.0;
        let close = open_item(&mut out, bar);
        let _ = write!(
            out,
            "<title>{label}: {v}</title>\
             <rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" fill=\"#3b6ea5\"/>\
             <text class=\"value\" x=\"{cx:.1}\" y=\"{vy:.1}\" text-anchor=\"middle\" fill=\"#222\">{v}</text>\
             <text class=\"label\" x=\"{cx:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\" fill=\"#333\">{short}</text>{close}",
            label = esc(&bar.label),
            v = bar.value,
            y = base_y - h,
            vy = base_y - h - 4.0,
            ly = base_y + 14.0,
            short = esc(&truncate(&bar.label, max_chars)),
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{SIDE}\" y1=\"{base_y:.1}\" x2=\"{x2:.1}\" y2=\"{base_y:.1}\" stroke=\"#666\"/>\
         <text class=\"label axis-label\" x=\"{cx:.1}\" y=\"{cy:.1}\" text-anchor=\"middle\" fill=\"#333\">{xl}</text></svg>",
        x2 = WIDTH - SIDE,
        cx = WIDTH / 2.0,
        cy = HEIGHT - 6.0,
        xl = esc(&truncate(x_label, 80)),
    );
    out
}

/// Horizontal bar chart (one row per bar, label on the left, value at the bar's end), for "at-risk computers per OU"; rows in the given order.
pub fn hbar_svg(title: &str, bars: &[Bar]) -> String {
    let Some(max) = max_value(bars) else {
        return no_data_svg("hbar", title);
    };
    const ROW: f64 = 22.0;
    const PAD: f64 = 8.0;
    const LABEL_W: f64 = 180.0;
    const LABEL_CHARS: usize = 22;
    let digits = max.to_string().len() as f64;
    let value_w = digits * CHAR_W + 8.0;
    let span = (WIDTH - PAD - LABEL_W - value_w).max(1.0);
    let height = 2.0 * PAD + bars.len() as f64 * ROW;

    let mut out = String::new();
    open_svg(&mut out, "hbar", title, height);
    for (i, bar) in bars.iter().enumerate() {
        let w = scaled(bar.value, max, span);
        let y = PAD + i as f64 * ROW;
        let mid = y + ROW / 2.0;
        let close = open_item(&mut out, bar);
        let _ = write!(
            out,
            "<title>{label}: {v}</title>\
             <text class=\"label\" x=\"{lx:.1}\" y=\"{mid:.1}\" dy=\"0.35em\" text-anchor=\"end\" fill=\"#333\">{short}</text>\
             <rect class=\"bar\" x=\"{LABEL_W:.1}\" y=\"{by:.1}\" width=\"{w:.1}\" height=\"{bh:.1}\" fill=\"#b5473a\"/>\
             <text class=\"value\" x=\"{vx:.1}\" y=\"{mid:.1}\" dy=\"0.35em\" fill=\"#222\">{v}</text>{close}",
            label = esc(&bar.label),
            v = bar.value,
            lx = LABEL_W - 6.0,
            short = esc(&truncate(&bar.label, LABEL_CHARS)),
            by = y + ROW * 0.15,
            bh = ROW * 0.7,
            vx = LABEL_W + w + 4.0,
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LABEL_W:.1}\" y1=\"{PAD:.1}\" x2=\"{LABEL_W:.1}\" y2=\"{y2:.1}\" stroke=\"#666\"/></svg>",
        y2 = height - PAD,
    );
    out
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn bar(label: &str, value: u64, href: Option<&str>) -> Bar {
        Bar {
            label: label.to_owned(),
            value,
            href: href.map(str::to_owned),
        }
    }

    fn both(bars: &[Bar]) -> [String; 2] {
        [histogram_svg("T", "x", bars), hbar_svg("T", bars)]
    }

    /// Structural sanity: one svg root, balanced groups/links, no NaN/inf.
    fn assert_sane(svg: &str) {
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert_eq!(svg.matches("<a ").count(), svg.matches("</a>").count());
        assert_eq!(svg.matches("<g>").count(), svg.matches("</g>").count());
        for bad in ["NaN", "inf", "-0.0\""] {
            assert!(!svg.contains(bad), "{bad} in {svg}");
        }
    }

    /// The `width` attributes of all `class="bar"` rects, in document order.
    fn bar_widths(svg: &str) -> Vec<f64> {
        svg.split("<rect class=\"bar\"")
            .skip(1)
            .map(|r| {
                let w = r.split("width=\"").nth(1).unwrap();
                w[..w.find('"').unwrap()].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn everything_is_escaped() {
        let evil = "<script>\"&'";
        let bars = [bar(evil, 3, Some("/fleet?ou=<script>&x=\"'"))];
        for svg in [histogram_svg(evil, evil, &bars), hbar_svg(evil, &bars)] {
            assert_sane(&svg);
            assert!(!svg.contains("<script"), "{svg}");
            assert!(!svg.contains("\"&'"));
            assert!(svg.contains("aria-label=\"&lt;script&gt;&quot;&amp;&#39;\""));
            assert!(svg.contains("<title>&lt;script&gt;&quot;&amp;&#39;</title>"));
            assert!(svg.contains("<a href=\"/fleet?ou=&lt;script&gt;&amp;x=&quot;&#39;\">"));
        }
        let empty = histogram_svg(evil, evil, &[]);
        assert!(!empty.contains("<script") && empty.contains("no data"));
    }

    #[test]
    fn accessibility_and_theming_hooks() {
        let bars = [bar("a", 1, None), bar("b", 2, None)];
        for svg in both(&bars) {
            assert_sane(&svg);
            for needle in [
                "role=\"img\"",
                "aria-label=\"T\"",
                "<title>T</title>",
                "viewBox=\"0 0 600 ",
                "width=\"100%\"",
                "class=\"bar\"",
                "class=\"axis\"",
                "class=\"label\"",
                "class=\"value\"",
                "fill=\"#",
            ] {
                assert!(svg.contains(needle), "missing {needle} in {svg}");
            }
            assert!(!svg.contains("<script") && !svg.contains("http://example"));
        }
        assert!(
            histogram_svg("T", "Days since password change", &bars)
                .contains(">Days since password change</text>")
        );
    }

    #[test]
    fn empty_and_all_zero_say_no_data() {
        for bars in [vec![], vec![bar("a", 0, None), bar("b", 0, Some("/x"))]] {
            for svg in both(&bars) {
                assert_sane(&svg);
                assert!(svg.contains(">no data</text>"));
                assert!(svg.contains("role=\"img\"") && svg.contains("<title>T</title>"));
            }
        }
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let bars = [
            bar("max", u64::MAX, None),
            bar("one", 1, None),
            bar("zero", 0, None),
        ];
        for svg in both(&bars) {
            assert_sane(&svg);
            assert!(svg.contains(">18446744073709551615</text>"));
            let w = bar_widths(&svg);
            assert_eq!(w.len(), 3);
            assert!(w.iter().all(|x| x.is_finite() && *x >= 0.0));
        }
        let h = hbar_svg("T", &bars);
        let w = bar_widths(&h);
        assert!(
            w[0] > 100.0 && w[0] + 180.0 + 20.0 * CHAR_W <= 600.0,
            "{w:?}"
        );
        assert_eq!(w[1], 1.0); // tiny but non-zero stays visible
        assert_eq!(w[2], 0.0);
    }

    #[test]
    fn bars_scale_proportionally() {
        let svg = hbar_svg("T", &[bar("a", 100, None), bar("b", 50, None)]);
        let w = bar_widths(&svg);
        assert!((w[0] - 2.0 * w[1]).abs() < 0.2, "{w:?}");
    }

    #[test]
    fn long_labels_are_truncated_by_chars() {
        let long = "OU=Workstations,OU=Berlin,DC=corp,DC=example,DC=com";
        let uni = "Ärztekammer-日本語-Зеленоград-Ωμέγα-Ärztekammer-日本語";
        for svg in both(&[bar(long, 5, None), bar(uni, 7, None)]) {
            assert_sane(&svg);
            assert!(svg.contains('…'));
            assert!(!svg.contains(&format!(">{long}</text>")));
            // full text is still available as the per-bar tooltip
            assert!(svg.contains(&format!("<title>{uni}: 7</title>")));
        }
        assert_eq!(truncate(uni, 4), "Ärz…");
        assert_eq!(truncate("日本", 2), "日本");
        assert_eq!(truncate("日本語", 0), "…");
    }

    #[test]
    fn links_wrap_bar_and_label_in_order() {
        let bars = [
            bar("first", 1, Some("/fleet/ou/1")),
            bar("second", 2, None),
            bar("third", 3, Some("/fleet/ou/3")),
        ];
        for svg in both(&bars) {
            assert_sane(&svg);
            assert_eq!(svg.matches("<a href=").count(), 2);
            let a = svg.find("<a href=\"/fleet/ou/1\">").unwrap();
            let end = a + svg[a..].find("</a>").unwrap();
            let linked = &svg[a..end];
            assert!(linked.contains("class=\"bar\"") && linked.contains(">first</text>"));
            let pos: Vec<usize> = ["first", "second", "third"]
                .iter()
                .map(|l| svg.find(&format!(">{l}</text>")).unwrap())
                .collect();
            assert!(pos[0] < pos[1] && pos[1] < pos[2]);
        }
    }

    #[test]
    fn many_bars_do_not_break_layout() {
        let bars: Vec<Bar> = (0..500u64)
            .map(|i| bar(&format!("bucket {i}"), i, None))
            .collect();
        for svg in both(&bars) {
            assert_sane(&svg);
            assert_eq!(bar_widths(&svg).len(), 500);
        }
    }
}
