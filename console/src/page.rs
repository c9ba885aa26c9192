//! The live admin page served at `/`: rendered on the server from the
//! same [`Status`] as `/status`, so its tables work without JavaScript;
//! the compiled-in script only refreshes them and the chart by polling
//! `/status`. Everything is self-contained: the stylesheet and script come
//! from this binary (`/console.css`, `/console.js`), nothing from elsewhere.

use std::fmt::Write as _;

use crate::chart;
use crate::model::Status;
use crate::view::{self, View};

/// The stylesheet, served at `/console.css`.
pub const CSS: &str = include_str!("../assets/console.css");
/// The script, served at `/console.js`.
pub const JS: &str = include_str!("../assets/console.js");

/// `text` safe inside HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One table as a card.
fn card(out: &mut String, view: &View) {
    let _ = write!(
        out,
        "<section class=\"card\"><h2>{}</h2><div class=\"scroll\"><table><thead><tr>",
        escape(view.title)
    );
    for (i, header) in view.headers.iter().enumerate() {
        let class = if view.numeric.get(i).copied().unwrap_or(false) {
            " class=\"num\""
        } else {
            ""
        };
        let _ = write!(out, "<th{class}>{}</th>", escape(header));
    }
    let _ = write!(
        out,
        "</tr></thead><tbody id=\"{}\" data-empty=\"{}\">",
        view.id,
        escape(view.empty)
    );
    if view.rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td class=\"empty\" colspan=\"{}\">{}</td></tr>",
            view.headers.len(),
            escape(view.empty)
        );
    }
    for row in &view.rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if view.numeric.get(i).copied().unwrap_or(false) {
                " class=\"num\""
            } else {
                ""
            };
            // The label shows beside the value when a phone stacks the row.
            let label = view.headers.get(i).map(String::as_str).unwrap_or_default();
            let _ = write!(
                out,
                "<td{class} data-label=\"{}\">{}</td>",
                escape(label),
                escape(cell)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div></section>");
}

/// The whole page for `status`.
pub fn render(status: &Status) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{program} · console</title><link rel=\"stylesheet\" href=\"/console.css\"></head>\
         <body data-program=\"{program}\"><header><h1>{program} <small>{version}</small></h1>\
         <p id=\"summary\">{summary}</p><p id=\"updated\" class=\"muted\">as of page load; \
         reload for new figures</p></header><main>\
         <section class=\"card wide\"><h2>Traffic</h2>{chart}</section>",
        program = escape(&status.program),
        version = escape(&status.version),
        summary = escape(&view::summary(status)),
        chart = chart::svg(&status.history),
    );
    for view in view::views(status) {
        card(&mut out, &view);
    }
    out.push_str(
        "</main><footer class=\"muted\">JSON: <a href=\"/status\">/status</a> · \
         Prometheus: <a href=\"/metrics\">/metrics</a></footer>\
         <script src=\"/console.js\"></script></body></html>\n",
    );
    out
}

/// The page a browser gets without the token.
pub fn unauthorized() -> String {
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
     <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
     <title>token required</title><link rel=\"stylesheet\" href=\"/console.css\"></head>\
     <body><main><section class=\"card\"><h2>Token required</h2>\
     <p>This admin endpoint has a <code>token_file</code>. Open \
     <code>/?token=TOKEN</code> once: the browser then keeps a cookie for it. \
     Scripts send <code>Authorization: Bearer TOKEN</code>.</p></section></main></body></html>\n"
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RefusalCount, RouteStatus, SessionStatus, TunnelStatus};

    const HOSTILE: &str = "<script>alert(\"x\")</script>&'";

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(HOSTILE),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
    }

    #[test]
    fn hostile_names_never_reach_the_page_as_markup() {
        let status = Status {
            program: "portico-gateway".into(),
            version: HOSTILE.into(),
            routes: vec![RouteStatus {
                hosts: vec![HOSTILE.into(), "app.example.org".into()],
                target: format!("backend {HOSTILE}"),
                connections: 7,
                ..RouteStatus::default()
            }],
            tunnels: vec![TunnelStatus {
                name: HOSTILE.into(),
                sessions: vec![SessionStatus {
                    remote: HOSTILE.into(),
                    transport: "quic".into(),
                    ..SessionStatus::default()
                }],
            }],
            refusals: vec![RefusalCount {
                reason: HOSTILE.into(),
                total: 3,
                recent: 1,
            }],
            ..Status::default()
        };
        let html = render(&status);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("\"x\""), "{html}");
        // Only the page's own script element.
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(html.contains(
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39; app.example.org"
        ));
        assert!(
            html.contains("<td class=\"num\" data-label=\"connections\">7</td>"),
            "{html}"
        );
        assert!(html.contains("<tbody id=\"listeners\" data-empty=\"no listener\"><tr><td class=\"empty\" colspan=\"3\">no listener</td></tr>"), "{html}");
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = render(&Status::default());
        for external in ["http://", "https://", "//cdn", "@import", "url("] {
            assert!(!html.contains(external), "{external} in page");
            assert!(!CSS.contains(external), "{external} in CSS");
            assert!(!JS.contains(external), "{external} in JS");
        }
        assert!(
            !JS.contains("innerHTML"),
            "the script must build cells with textContent"
        );
    }
}
