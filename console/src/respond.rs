//! The admin endpoint's answers: which path serves what, who may see it
//! (everything but `/healthz` needs the token when one is configured), and
//! the bytes of a response.

use crate::auth::{self, AdminToken};
use crate::page;
use crate::request::{Request, query_value};

/// Security headers of every page and asset: nothing from elsewhere, no
/// framing, no referrer (a `?token=` must not leak), no caching.
const PAGE_HEADERS: [(&str, &str); 4] = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
];

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// e.g. `200 OK`.
    pub status: &'static str,
    /// `Content-Type` value.
    pub content_type: &'static str,
    /// Further headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: String,
}

impl Response {
    /// A plain-text response.
    pub fn text(status: &'static str, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: format!("{body}\n"),
        }
    }

    fn with_page_headers(mut self) -> Response {
        self.headers.extend(
            PAGE_HEADERS
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned())),
        );
        self
    }

    /// The response on the wire; only the head for `HEAD`.
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// What the answers are made from.
pub struct Context<'a> {
    /// The token, when `token_file` is set.
    pub token: Option<&'a AdminToken>,
    /// The `/status` document, with its history.
    pub status: &'a dyn Fn() -> crate::model::Status,
    /// The Prometheus text.
    pub metrics: &'a dyn Fn() -> String,
}

fn unauthorized(path: &str) -> Response {
    let mut response = if path == "/" {
        Response {
            status: "401 Unauthorized",
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: page::unauthorized(),
        }
        .with_page_headers()
    } else {
        Response::text("401 Unauthorized", "unauthorized")
    };
    response.headers.push((
        "WWW-Authenticate",
        "Bearer realm=\"portico-admin\"".to_owned(),
    ));
    response
}

/// Answers `request`; the flag says whether only the head is to be sent.
pub fn respond(request: &Request, ctx: &Context<'_>) -> (Response, bool) {
    let head_only = request.method == "HEAD";
    let path = request.path.as_str();
    let known = matches!(
        path,
        "/" | "/status" | "/metrics" | "/healthz" | "/console.css" | "/console.js"
    );
    if !known {
        return (Response::text("404 Not Found", "not found"), head_only);
    }
    if request.method != "GET" && !head_only {
        let mut r = Response::text("405 Method Not Allowed", "method not allowed");
        r.headers.push(("Allow", "GET, HEAD".to_owned()));
        return (r, false);
    }
    // Public: the health check, and the assets (nothing secret in them).
    match path {
        "/healthz" => return (Response::text("200 OK", "ok"), head_only),
        "/console.css" => return (asset("text/css; charset=utf-8", page::CSS), head_only),
        "/console.js" => {
            return (asset("text/javascript; charset=utf-8", page::JS), head_only);
        }
        _ => {}
    }
    // `/?token=…`: a browser trades the token for the cookie, then loads
    // `/` without the token in its address bar or history.
    if path == "/"
        && let (Some(token), Some(given)) = (
            ctx.token,
            request
                .query
                .as_deref()
                .and_then(|q| query_value(q, "token")),
        )
    {
        if !token.matches(&given) {
            return (unauthorized(path), head_only);
        }
        let mut r = Response::text("303 See Other", "see /");
        r.headers.push(("Location", "/".to_owned()));
        r.headers.push(("Set-Cookie", token.set_cookie()));
        r.headers
            .push(("Referrer-Policy", "no-referrer".to_owned()));
        return (r, head_only);
    }
    if !auth::admitted(
        ctx.token,
        request.authorization.as_deref(),
        request.cookie.as_deref(),
    ) {
        return (unauthorized(path), head_only);
    }
    let response = match path {
        "/metrics" => Response {
            status: "200 OK",
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            headers: Vec::new(),
            body: (ctx.metrics)(),
        },
        "/status" => Response {
            status: "200 OK",
            content_type: "application/json",
            headers: Vec::new(),
            body: (ctx.status)().to_json(),
        },
        _ => Response {
            status: "200 OK",
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: page::render(&(ctx.status)()),
        }
        .with_page_headers(),
    };
    (response, head_only)
}

fn asset(content_type: &'static str, body: &str) -> Response {
    Response {
        status: "200 OK",
        content_type,
        headers: Vec::new(),
        body: body.to_owned(),
    }
    .with_page_headers()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use crate::request::parse;

    fn ask(head: &str, token: Option<&AdminToken>) -> Response {
        let request = parse(head.as_bytes()).expect("valid").expect("complete");
        let status = || Status {
            program: "portico-gateway".into(),
            ..Status::default()
        };
        let metrics = || "portico_accept_errors_total 1\n".to_owned();
        let ctx = Context {
            token,
            status: &status,
            metrics: &metrics,
        };
        respond(&request, &ctx).0
    }

    #[test]
    fn routes_requests() {
        assert_eq!(
            ask("GET /metrics HTTP/1.1\r\n\r\n", None).body,
            "portico_accept_errors_total 1\n"
        );
        let s = ask("GET /status HTTP/1.1\r\n\r\n", None);
        assert_eq!(s.content_type, "application/json");
        assert!(
            s.body.starts_with("{\"program\":\"portico-gateway\""),
            "{}",
            s.body
        );
        assert_eq!(ask("GET /healthz HTTP/1.0\r\n\r\n", None).body, "ok\n");
        let page = ask("GET / HTTP/1.1\r\n\r\n", None);
        assert!(page.body.starts_with("<!doctype html>"));
        assert!(
            page.headers
                .iter()
                .any(|(n, v)| *n == "Content-Security-Policy" && v.contains("default-src 'none'"))
        );
        assert_eq!(
            ask("GET /nope HTTP/1.1\r\n\r\n", None).status,
            "404 Not Found"
        );
        assert_eq!(
            ask("POST /metrics HTTP/1.1\r\n\r\n", None).status,
            "405 Method Not Allowed"
        );
        assert!(
            ask("GET /console.js HTTP/1.1\r\n\r\n", None)
                .body
                .contains("textContent")
        );
    }

    #[test]
    fn the_token_guards_everything_but_healthz_and_assets() {
        let token = AdminToken::new(b"a-token-of-sixteen-bytes");
        let t = Some(&token);
        for path in ["/", "/status", "/metrics"] {
            let r = ask(&format!("GET {path} HTTP/1.1\r\n\r\n"), t);
            assert_eq!(r.status, "401 Unauthorized", "{path}");
            assert!(r.headers.contains(&(
                "WWW-Authenticate",
                "Bearer realm=\"portico-admin\"".to_owned()
            )));
            let wrong = ask(
                &format!("GET {path} HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n"),
                t,
            );
            assert_eq!(wrong.status, "401 Unauthorized", "{path}");
            let right = ask(
                &format!(
                    "GET {path} HTTP/1.1\r\nAuthorization: Bearer a-token-of-sixteen-bytes\r\n\r\n"
                ),
                t,
            );
            assert_eq!(right.status, "200 OK", "{path}");
        }
        assert_eq!(ask("GET /healthz HTTP/1.1\r\n\r\n", t).status, "200 OK");
        assert_eq!(ask("GET /console.css HTTP/1.1\r\n\r\n", t).status, "200 OK");
        // The token in the query trades for the cookie, which then admits.
        assert_eq!(
            ask("GET /?token=wrong HTTP/1.1\r\n\r\n", t).status,
            "401 Unauthorized"
        );
        let traded = ask("GET /?token=a-token-of-sixteen-bytes HTTP/1.1\r\n\r\n", t);
        assert_eq!(traded.status, "303 See Other");
        let cookie = traded
            .headers
            .iter()
            .find(|(n, _)| *n == "Set-Cookie")
            .map(|(_, v)| v.split(';').next().unwrap_or_default().to_owned())
            .expect("cookie");
        let with_cookie = ask(
            &format!("GET /status HTTP/1.1\r\nCookie: {cookie}\r\n\r\n"),
            t,
        );
        assert_eq!(with_cookie.status, "200 OK");
    }
}
