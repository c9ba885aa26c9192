//! One admin request head, parsed: method, path, query and the two headers
//! the endpoint reads (`Authorization`, `Cookie`). Incomplete input is
//! `Ok(None)`, never an error.

/// Headers parsed at most; a request with more is refused.
pub const MAX_HEADERS: usize = 32;

/// What the endpoint needs of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query, without `?`.
    pub query: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Cookie` header.
    pub cookie: Option<String>,
}

/// Why a request head is not a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not HTTP/1.x, or malformed.
    #[error("malformed request")]
    Malformed,
    /// More than [`MAX_HEADERS`] headers.
    #[error("too many headers")]
    TooManyHeaders,
}

/// Parses `buf`; `Ok(None)` while the head is incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<Request>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        Err(_) => return Err(RequestError::Malformed),
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(RequestError::Malformed);
    };
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (target, None),
    };
    Ok(Some(Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query,
        authorization: header("authorization"),
        cookie: header("cookie"),
    }))
}

/// The value of `name` in a query string, percent-decoded (`+` is a space).
pub fn query_value(query: &str, name: &str) -> Option<Vec<u8>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| char::from(*c).to_digit(16));
        match b {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    // Two hex digits: at most 255.
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads_and_waits_for_the_rest() {
        assert_eq!(parse(b"GET /status HTTP/1.1\r\nHost: a\r\n"), Ok(None));
        let r = parse(
            b"GET /?token=a%2Bb+c HTTP/1.1\r\nauthorization: Bearer x\r\nCookie: k=v\r\n\r\n",
        )
        .expect("valid")
        .expect("complete");
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/"));
        assert_eq!(r.authorization.as_deref(), Some("Bearer x"));
        assert_eq!(r.cookie.as_deref(), Some("k=v"));
        let q = r.query.expect("query");
        assert_eq!(query_value(&q, "token"), Some(b"a+b c".to_vec()));
        assert_eq!(query_value(&q, "other"), None);
        assert_eq!(query_value("token=%zz%4", "token"), Some(b"%zz%4".to_vec()));
        assert_eq!(parse(b"garbage\r\n\r\n"), Err(RequestError::Malformed));
        let many: String = (0..40).map(|i| format!("h{i}: v\r\n")).collect();
        assert_eq!(
            parse(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            Err(RequestError::TooManyHeaders)
        );
    }
}
