//! Real first flights from `sniff/corpus` through [`detect`]: each item
//! yields what its `.expect` file says, whether fed whole, byte by byte or
//! split at arbitrary points; disabling an item's protocol rules it out; and
//! no bytes, random or mutated from the corpus, make detection panic.
//!
//! An item is `NAME.bin` (the bytes) with `NAME.expect` (`key = value`
//! lines, `#` comments); `sniff/corpus/README.md` lists the keys and how
//! each item was captured.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use portico_sniff::proxy::{self, ProxyHeader};
use portico_sniff::socks5;
use portico_sniff::{Auth, Detection, Error, Limits, Protocol, ProtocolSet, Status, detect};
use proptest::prelude::*;

/// The answer of [`detect`].
type Answer = Result<Status<Detection>, Error>;

/// Items the corpus must hold (the captures from real programs).
const REQUIRED: [&str; 21] = [
    "curl_http11",
    "curl_proxy_absolute",
    "curl_http10_nohost",
    "curl_tls_h2",
    "curl_tls_http11",
    "curl_tls_ip_nosni",
    "openssl_tls13",
    "openssl_tls12",
    "chromium_pq",
    "slixmpp_c2s",
    "ssh_banner",
    "curl_connect_auth",
    "curl_socks5_auth",
    "curl_socks5",
    "curl_socks5_exchange_name",
    "curl_socks5_exchange_v4",
    "curl_socks5_exchange_v6",
    "dial_host",
    "http_two_hosts",
    "http_oversized_header",
    "haproxy_v2_curl",
];

/// One corpus item.
#[derive(Debug, Clone)]
struct Item {
    /// The file stem.
    name: String,
    /// The captured bytes, PROXY header included.
    bytes: Vec<u8>,
    /// The `.expect` keys.
    expect: BTreeMap<String, String>,
}

impl Item {
    /// An expectation key's value.
    fn get(&self, key: &str) -> Option<&str> {
        self.expect.get(key).map(String::as_str)
    }

    /// The protocol the item is expected to be, if any.
    fn protocol(&self) -> Option<Protocol> {
        self.get("protocol").and_then(Protocol::from_name)
    }

    /// Whether the item starts with a PROXY header.
    fn has_proxy(&self) -> bool {
        self.get("proxy_source").is_some()
    }

    /// The bytes after the PROXY header (all of them without one).
    fn payload(&self) -> &[u8] {
        let skip = match self.get("proxy_consume") {
            Some(n) => n.parse().unwrap_or(usize::MAX),
            None => 0,
        };
        self.bytes.get(skip..).unwrap_or_default()
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

fn parse_expect(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut keys = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("not `key = value`: {line}"))?;
        keys.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    Ok(keys)
}

/// Every item, sorted by name; an error names a `.bin` without `.expect`.
fn load_corpus() -> Result<Vec<Item>, String> {
    let dir = corpus_dir();
    let mut items = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("bad name {}", path.display()))?
            .to_owned();
        let bytes = std::fs::read(&path).map_err(|e| format!("{name}.bin: {e}"))?;
        let text = std::fs::read_to_string(path.with_extension("expect"))
            .map_err(|e| format!("{name}.expect: {e}"))?;
        let expect = parse_expect(&text).map_err(|e| format!("{name}.expect: {e}"))?;
        items.push(Item {
            name,
            bytes,
            expect,
        });
    }
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(items)
}

/// The corpus, loaded once per test binary.
fn corpus() -> Result<&'static [Item], String> {
    static CORPUS: OnceLock<Result<Vec<Item>, String>> = OnceLock::new();
    CORPUS
        .get_or_init(load_corpus)
        .as_deref()
        .map_err(|e| format!("cannot load sniff/corpus: {e}"))
}

fn all(buf: &[u8]) -> Answer {
    detect(buf, ProtocolSet::ALL, &Limits::default())
}

/// Feeds `bytes` as reads ending at the (sorted, deduplicated) `cuts`, then
/// the rest, appending each read to a buffer and stopping at the first
/// answer that is not Partial, as a gateway does.
fn fed_in_reads(bytes: &[u8], cuts: &[usize], enabled: ProtocolSet) -> Answer {
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    ends.push(bytes.len());
    ends.sort_unstable();
    ends.dedup();
    let mut buf = Vec::with_capacity(bytes.len());
    let mut answer = Ok(Status::Partial);
    for end in ends {
        buf.extend_from_slice(bytes.get(buf.len()..end).unwrap_or_default());
        answer = detect(&buf, enabled, &Limits::default());
        if answer != Ok(Status::Partial) {
            break;
        }
    }
    answer
}

/// The same for [`proxy::parse`].
fn proxy_in_reads(bytes: &[u8], cuts: &[usize]) -> Result<Status<ProxyHeader>, proxy::ProxyError> {
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    ends.push(bytes.len());
    ends.sort_unstable();
    ends.dedup();
    let mut answer = Ok(Status::Partial);
    for end in ends {
        answer = proxy::parse(bytes.get(..end).unwrap_or_default());
        if answer != Ok(Status::Partial) {
            break;
        }
    }
    answer
}

/// Compares an answer with the item's expectation; `Err` says how it differs.
fn check(item: &Item, answer: &Answer) -> Result<(), String> {
    let want = |key: &str| item.get(key);
    let protocol = item.protocol();
    let mismatch = |what: &str| Err(format!("{}: {what}; got {answer:?}", item.name));
    match (want("outcome"), answer) {
        (Some("detected"), Ok(Status::Complete(d))) => check_detection(item, d),
        (Some("nomatch"), Err(Error::NoMatch)) => Ok(()),
        (
            Some("malformed"),
            Err(Error::Malformed {
                protocol: p,
                reason,
            }),
        ) => {
            if Some(*p) != protocol || Some(format!("{reason:?}").as_str()) != want("reason") {
                return mismatch("wrong protocol or reason");
            }
            Ok(())
        }
        (Some("toolarge"), Err(Error::TooLarge { protocol: p })) if Some(*p) == protocol => Ok(()),
        (Some(outcome), _) => mismatch(&format!("expected {outcome}")),
        (None, _) => mismatch("no outcome in .expect"),
    }
}

fn check_detection(item: &Item, d: &Detection) -> Result<(), String> {
    let fail = |what: String| Err(format!("{}: {what} in {d:?}", item.name));
    if Some(d.protocol) != item.protocol() {
        return fail("protocol".into());
    }
    if d.host.as_ref().map(|h| h.as_str()) != item.get("host") {
        return fail(format!("host, want {:?}", item.get("host")));
    }
    if d.port.map(|p| p.to_string()).as_deref() != item.get("port") {
        return fail(format!("port, want {:?}", item.get("port")));
    }
    if d.consume.to_string() != item.get("consume").unwrap_or("0") {
        return fail("consume".into());
    }
    match d.protocol {
        Protocol::Tls => {
            let alpn: Vec<String> = d
                .tls
                .as_ref()
                .map(|t| {
                    t.alpn
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect()
                })
                .unwrap_or_default();
            if alpn.join(",") != item.get("alpn").unwrap_or("") || d.tls.is_none() {
                return fail(format!("alpn, want {:?}", item.get("alpn")));
            }
        }
        Protocol::Http => {
            let Some(http) = d.http.as_ref() else {
                return fail("no http details".into());
            };
            if http.h2_preface != (item.get("h2_preface") == Some("true")) {
                return fail("h2_preface".into());
            }
            if item.get("path").is_some_and(|p| p != http.path) {
                return fail(format!("path, want {:?}", item.get("path")));
            }
            if item.get("method").is_some_and(|m| m != http.method) {
                return fail("method".into());
            }
        }
        Protocol::Connect => {
            let Some(request) = d.connect.as_ref() else {
                return fail("no connect details".into());
            };
            if Some(request.target.to_hostname()) != d.host || Some(request.port) != d.port {
                return fail("target differs from host and port".into());
            }
            let user = match &request.auth {
                Auth::None => None,
                Auth::Basic(c) => Some(c.user.as_str()),
                Auth::Invalid => Some("!invalid"),
            };
            if user != item.get("auth_user") {
                return fail(format!("auth_user, want {:?}", item.get("auth_user")));
            }
        }
        Protocol::Socks5 => {
            let Some(greeting) = d.socks5 else {
                return fail("no socks5 greeting".into());
            };
            let methods: Vec<&str> = [
                (greeting.no_auth, "no_auth"),
                (greeting.user_password, "user_password"),
            ]
            .into_iter()
            .filter_map(|(offered, name)| offered.then_some(name))
            .collect();
            if methods.join(",") != item.get("socks5_methods").unwrap_or("") {
                return fail(format!(
                    "socks5_methods, want {:?}",
                    item.get("socks5_methods")
                ));
            }
            if item.get("socks5_target").is_some() {
                check_socks5_exchange(item, d.consume)?;
            }
        }
        Protocol::Xmpp | Protocol::Dial | Protocol::Ssh => {}
        Protocol::Other => return fail("detect returned other".into()),
        Protocol::Quic => return fail("detect returned quic".into()),
    }
    let details = [
        (d.tls.is_some(), Protocol::Tls),
        (d.http.is_some(), Protocol::Http),
        (d.connect.is_some(), Protocol::Connect),
        (d.socks5.is_some(), Protocol::Socks5),
    ];
    if details.iter().any(|&(has, p)| has != (p == d.protocol)) {
        return fail("details of another protocol".into());
    }
    Ok(())
}

/// Checks the rest of a whole SOCKS5 client flight, after the greeting's
/// `consume` bytes, against `socks5_user` (RFC 1929 credentials; absent:
/// none), `socks5_target` and `socks5_port` (the CONNECT request, which
/// must end the flight).
fn check_socks5_exchange(item: &Item, consume: usize) -> Result<(), String> {
    let fail = |what: String| Err(format!("{}: {what}", item.name));
    let mut rest = item.payload().get(consume..).unwrap_or_default();
    if let Some(user) = item.get("socks5_user") {
        match socks5::parse_auth(rest) {
            Ok(Status::Complete((c, used))) if c.user == user => {
                rest = rest.get(used..).unwrap_or_default();
            }
            other => return fail(format!("auth, want user {user}, got {other:?}")),
        }
    }
    match socks5::parse_request(rest) {
        Ok(Status::Complete((request, used)))
            if Some(request.target.to_string().as_str()) == item.get("socks5_target")
                && Some(request.port.to_string().as_str()) == item.get("socks5_port")
                && used == rest.len() =>
        {
            Ok(())
        }
        other => fail(format!(
            "request, want {:?} port {:?}, got {other:?}",
            item.get("socks5_target"),
            item.get("socks5_port")
        )),
    }
}

/// Checks an item's PROXY header against `proxy_source`, `proxy_destination`
/// and `proxy_consume`.
fn check_proxy(item: &Item) -> Result<(), String> {
    let addr = |key: &str| item.get(key).and_then(|a| a.parse::<SocketAddr>().ok());
    let want = ProxyHeader {
        source: addr("proxy_source"),
        destination: addr("proxy_destination"),
        consume: item
            .get("proxy_consume")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    };
    match proxy::parse(&item.bytes) {
        Ok(Status::Complete(got)) if got == want => Ok(()),
        other => Err(format!("{}: want {want:?}, got {other:?}", item.name)),
    }
}

#[test]
fn corpus_holds_the_required_captures() {
    let items = corpus().unwrap();
    for name in REQUIRED {
        assert!(
            items.iter().any(|i| i.name == name),
            "sniff/corpus/{name}.bin is missing"
        );
    }
    let pq = items.iter().find(|i| i.name == "chromium_pq").unwrap();
    assert!(
        pq.bytes.len() > 1500,
        "post-quantum hello is {} bytes",
        pq.bytes.len()
    );
    // X25519MLKEM768 (0x11ec) key share: group, then a 1216-byte key.
    assert!(pq.bytes.windows(4).any(|w| w == [0x11, 0xec, 0x04, 0xc0]));
}

#[test]
fn every_item_yields_its_expectation_when_fed_whole() {
    let failures: Vec<String> = corpus()
        .unwrap()
        .iter()
        .flat_map(|item| {
            let proxy = item.has_proxy().then(|| check_proxy(item));
            [proxy.unwrap_or(Ok(())), check(item, &all(item.payload()))]
        })
        .filter_map(Result::err)
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_item_yields_its_expectation_when_fed_byte_by_byte() {
    for item in corpus().unwrap().iter() {
        let payload = item.payload();
        // Quadratic in the length: the 20 KB oversized header is covered by
        // the split property below instead.
        if payload.len() > 4096 {
            continue;
        }
        let cuts: Vec<usize> = (1..payload.len()).collect();
        let answer = fed_in_reads(payload, &cuts, ProtocolSet::ALL);
        assert_eq!(answer, all(payload), "{}", item.name);
        if item.has_proxy() {
            assert_eq!(
                proxy_in_reads(&item.bytes, &cuts),
                proxy::parse(&item.bytes),
                "{}",
                item.name
            );
        }
    }
}

#[test]
fn disabling_a_protocol_rules_its_items_out() {
    for item in corpus().unwrap().iter() {
        let Some(protocol) = item.protocol() else {
            continue;
        };
        let payload = item.payload();
        assert_eq!(
            detect(
                payload,
                ProtocolSet::ALL.without(protocol),
                &Limits::default()
            ),
            Err(Error::NoMatch),
            "{} with {protocol} disabled",
            item.name
        );
        assert_eq!(
            detect(payload, ProtocolSet::only(protocol), &Limits::default()),
            all(payload),
            "{} with only {protocol}",
            item.name
        );
    }
}

#[test]
fn items_without_a_proxy_header_are_refused_by_proxy_parse() {
    for item in corpus().unwrap().iter().filter(|i| !i.has_proxy()) {
        assert_eq!(
            proxy::parse(&item.bytes),
            Err(proxy::ProxyError::NotProxy),
            "{}",
            item.name
        );
        assert!(!proxy::could_be_proxy(&item.bytes), "{}", item.name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Any split of any item into reads gives the answer of the whole item.
    #[test]
    fn split_reads_give_the_whole_answer(
        index in any::<prop::sample::Index>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        set_bits in 1u8..=255,
    ) {
        let item = index.get(corpus().map_err(TestCaseError::fail)?);
        let payload = item.payload();
        let cuts: Vec<usize> = cuts.iter().map(|c| c.index(payload.len() + 1)).collect();
        let enabled = protocol_set(set_bits);
        prop_assert_eq!(
            fed_in_reads(payload, &cuts, enabled),
            detect(payload, enabled, &Limits::default()),
            "{}", item.name
        );
        let proxy_cuts: Vec<usize> = cuts.iter().map(|c| c % (item.bytes.len() + 1)).collect();
        prop_assert_eq!(proxy_in_reads(&item.bytes, &proxy_cuts), proxy::parse(&item.bytes));
    }

    /// Corpus items with bytes overwritten and cut short never panic, and
    /// their answer does not depend on how they are split either.
    #[test]
    fn mutated_items_never_panic_and_stay_split_invariant(
        index in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        keep in any::<prop::sample::Index>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut bytes = index.get(corpus().map_err(TestCaseError::fail)?).bytes.clone();
        for (at, value) in &edits {
            if !bytes.is_empty() {
                let at = at.index(bytes.len());
                if let Some(b) = bytes.get_mut(at) {
                    *b = *value;
                }
            }
        }
        bytes.truncate(keep.index(bytes.len() + 1));
        let cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        prop_assert_eq!(fed_in_reads(&bytes, &cuts, ProtocolSet::ALL), all(&bytes));
        prop_assert_eq!(proxy_in_reads(&bytes, &cuts), proxy::parse(&bytes));
    }

    /// Random bytes never panic, under any protocol set.
    #[test]
    fn random_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        set_bits in any::<u8>(),
    ) {
        if let Ok(Status::Complete(d)) = detect(&bytes, protocol_set(set_bits), &Limits::default()) {
            prop_assert!(d.consume <= bytes.len());
        }
        if let Ok(Status::Complete(h)) = proxy::parse(&bytes) {
            prop_assert!(h.consume <= bytes.len());
            prop_assert!(proxy::could_be_proxy(&bytes));
        }
    }

    /// A buffer of `Limits::max_peek` bytes always gets a final answer.
    #[test]
    fn a_full_peek_buffer_always_decides(
        index in any::<prop::sample::Index>(),
        keep in any::<prop::sample::Index>(),
        filler in any::<u8>(),
    ) {
        let limits = Limits::default();
        let item = index.get(corpus().map_err(TestCaseError::fail)?);
        let mut bytes = item.payload().to_vec();
        bytes.truncate(keep.index(bytes.len() + 1));
        bytes.resize(limits.max_peek(), filler);
        prop_assert_ne!(detect(&bytes, ProtocolSet::ALL, &limits), Ok(Status::Partial));
    }
}

/// The protocol set with bit `i` standing for the `i`th protocol of
/// [`ProtocolSet::TCP`] (QUIC is never found on TCP).
fn protocol_set(bits: u8) -> ProtocolSet {
    ProtocolSet::TCP
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, p)| p)
        .collect()
}
