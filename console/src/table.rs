//! The status picture as plain-text tables for a terminal, the output of
//! `portico-gateway status` and `portico-tunnel status`. Cells that came
//! over the network are shown without control characters, so a hostile
//! document cannot move the cursor or recolour the terminal.

use crate::model::Status;
use crate::view::{self, View};

/// `text` with every control character replaced by `?`.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// One table: a title line, the headings, a rule, the rows; columns padded
/// to their widest cell, numbers right-aligned.
pub fn format_view(view: &View) -> String {
    let headers: Vec<String> = view.headers.iter().map(|h| sanitize(h)).collect();
    let rows: Vec<Vec<String>> = view
        .rows
        .iter()
        .map(|r| r.iter().map(|c| sanitize(c)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
            if i > 0 {
                out.push_str("  ");
            }
            if view.numeric.get(i).copied().unwrap_or(false) {
                out.push_str(&pad);
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&pad);
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = format!("{}\n", view.title.to_uppercase());
    if rows.is_empty() {
        out.push_str(&format!("  ({})\n", view.empty));
        return out;
    }
    out.push_str(&line(&headers));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&rule));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

/// The whole picture: program, summary line, every table.
pub fn render(status: &Status) -> String {
    let mut out = format!(
        "{} {}\n{}\n",
        sanitize(&status.program),
        sanitize(&status.version),
        sanitize(&view::summary(status))
    );
    for view in view::views(status) {
        out.push('\n');
        out.push_str(&format_view(&view));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ListenerStatus, RouteStatus};

    #[test]
    fn aligns_columns_and_right_aligns_numbers() {
        let status = Status {
            program: "portico-gateway".into(),
            version: "0.1.0".into(),
            uptime_seconds: 65,
            listeners: vec![ListenerStatus {
                bind: "127.0.0.1:8443".into(),
                transport: "tcp".into(),
                protocols: vec!["tls".into(), "http".into()],
                active: 12,
            }],
            routes: vec![
                RouteStatus {
                    hosts: vec!["app.example.org".into()],
                    target: "backend 10.0.0.7:443".into(),
                    connections: 1234,
                    active: 2,
                    bytes_to_backend: 2048,
                    bytes_to_client: 10,
                },
                RouteStatus {
                    hosts: vec!["*".into()],
                    target: "tunnel home".into(),
                    connections: 5,
                    ..RouteStatus::default()
                },
            ],
            ..Status::default()
        };
        let text = render(&status);
        let expected_routes = "\
ROUTES
hosts            target                connections  open  to backend  to client
---------------  --------------------  -----------  ----  ----------  ---------
app.example.org  backend 10.0.0.7:443         1234     2     2.0 KiB       10 B
*                tunnel home                     5     0         0 B        0 B
";
        assert!(text.contains(expected_routes), "{text}");
        assert!(
            text.starts_with("portico-gateway 0.1.0\nup 1m 5s · 0 open"),
            "{text}"
        );
        assert!(
            text.contains("LISTENERS\nbind            protocols  open\n"),
            "{text}"
        );
        assert!(text.contains("TUNNEL SESSIONS\n  (no tunnel)\n"), "{text}");
    }

    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(sanitize("a\u{1b}[31mb\r\n\u{7}"), "a?[31mb???");
        let status = Status {
            routes: vec![RouteStatus {
                hosts: vec!["evil\u{1b}]0;owned\u{7}".into()],
                ..RouteStatus::default()
            }],
            ..Status::default()
        };
        let text = render(&status);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
    }
}
