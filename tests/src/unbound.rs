//! A real Unbound DNS server on one loopback address, answering only the
//! local data it is given (every other name is refused, so it never looks
//! anything up), and logging every query it receives.

use std::net::SocketAddr;
use std::process::Command;

use tempfile::TempDir;

use crate::process::Peer;
use crate::tools::require;
use crate::udp::wait_bound_udp;

/// A running `unbound -d`; killed and reaped on drop.
#[derive(Debug)]
pub struct Unbound {
    addr: SocketAddr,
    peer: Peer,
    query_log: std::path::PathBuf,
    _dir: TempDir,
}

impl Unbound {
    /// Starts Unbound on `addr` (UDP and TCP) with `records` as local data
    /// (`"app.portico.test. A 192.0.2.7"`; their zones are answered
    /// statically), and waits until its UDP socket is bound.
    pub fn start(addr: SocketAddr, records: &[&str]) -> Unbound {
        let unbound = require("unbound", "unbound");
        let dir = tempfile::tempdir().expect("tempdir");
        let query_log = dir.path().join("queries.log");
        let mut zones: Vec<&str> = records
            .iter()
            .filter_map(|r| r.split_whitespace().next())
            .filter_map(|name| name.split_once('.').map(|(_, zone)| zone))
            .collect();
        zones.sort_unstable();
        zones.dedup();
        let local: String = zones
            .iter()
            .map(|z| format!("    local-zone: \"{z}\" static\n"))
            .chain(records.iter().map(|r| format!("    local-data: \"{r}\"\n")))
            .collect();
        let conf = format!(
            "server:\n\
             \x20   interface: {ip}\n\
             \x20   port: {port}\n\
             \x20   do-daemonize: no\n\
             \x20   use-syslog: no\n\
             \x20   logfile: \"{log}\"\n\
             \x20   log-queries: yes\n\
             \x20   verbosity: 1\n\
             \x20   chroot: \"\"\n\
             \x20   username: \"\"\n\
             \x20   directory: \"{dir}\"\n\
             \x20   pidfile: \"\"\n\
             \x20   num-threads: 1\n\
             \x20   so-reuseport: no\n\
             \x20   outgoing-range: 64\n\
             \x20   module-config: \"iterator\"\n\
             \x20   auto-trust-anchor-file: \"\"\n\
             \x20   do-not-query-localhost: yes\n\
             \x20   access-control: 127.0.0.0/8 allow\n\
             \x20   access-control: ::1/128 allow\n\
             \x20   local-zone: \".\" refuse\n\
             {local}\
             remote-control:\n\
             \x20   control-enable: no\n",
            ip = addr.ip(),
            port = addr.port(),
            log = query_log.display(),
            dir = dir.path().display(),
        );
        let conf_path = dir.path().join("unbound.conf");
        std::fs::write(&conf_path, conf).expect("write unbound.conf");
        let peer = Peer::spawn(
            "unbound",
            Command::new(unbound).arg("-d").arg("-c").arg(&conf_path),
            &dir.path().join("unbound.out"),
        );
        let mut unbound = Unbound {
            addr,
            peer,
            query_log,
            _dir: dir,
        };
        unbound.peer.assert_running();
        wait_bound_udp("unbound", &[addr]);
        unbound
    }

    /// Where it answers.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its log (`log-queries`: one `info: <client> <name> <type> IN` line
    /// per query received).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.query_log).unwrap_or_default()
    }

    /// The log lines of the queries received for `question`
    /// (`"app.portico.test. A IN"`).
    pub fn queries(&self, question: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(" info: ") && l.ends_with(question))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- unbound query log -----\n{}\n----- end -----",
                self.log()
            );
        }
    }
}
