//! The gateway's counters as its admin endpoint serves them (`GET
//! /metrics`, Prometheus text), and reading one sample from them.

use std::net::SocketAddr;

use crate::clients::curl;

/// One scrape of `/metrics`.
#[derive(Debug, Clone)]
pub struct Metrics {
    text: String,
}

impl Metrics {
    /// Fetches `http://<admin>/metrics` with curl; panics unless it answers.
    pub fn scrape(admin: SocketAddr) -> Metrics {
        let out = curl(&["-f", &format!("http://{admin}/metrics")]);
        assert!(out.status.success(), "GET /metrics: {}", out.all());
        Metrics { text: out.stdout }
    }

    /// The value of the sample named exactly `series` (name and labels as
    /// printed, e.g. `portico_udp_open_flows{listener="dns"}`); 0 when the
    /// series is absent (a counter not yet created).
    pub fn value(&self, series: &str) -> u64 {
        self.text
            .lines()
            .filter_map(|line| line.strip_prefix(series))
            .find_map(|rest| rest.strip_prefix(' '))
            .map_or(0, |v| {
                v.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("{series}: value {v:?}: {e}"))
            })
    }

    /// The sum of every sample whose line starts with `prefix` (e.g. all
    /// reasons of `portico_udp_drops_total{listener="h3",`).
    pub fn sum(&self, prefix: &str) -> u64 {
        self.text
            .lines()
            .filter(|line| line.starts_with(prefix))
            .filter_map(|line| line.rsplit(' ').next())
            .map(|v| v.parse::<u64>().unwrap_or(0))
            .sum()
    }

    /// The whole text, for failure messages.
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::Metrics;

    #[test]
    fn samples_are_read_by_exact_series() {
        let m = Metrics {
            text: "# HELP x\nportico_udp_drops_total{listener=\"h3\",reason=\"no_route\"} 4\n\
                   portico_udp_drops_total{listener=\"h3\",reason=\"not_quic\"} 3\n\
                   portico_udp_drops_total{listener=\"h33\",reason=\"not_quic\"} 9\n"
                .to_owned(),
        };
        assert_eq!(
            m.value("portico_udp_drops_total{listener=\"h3\",reason=\"no_route\"}"),
            4
        );
        assert_eq!(m.value("portico_udp_open_flows{listener=\"h3\"}"), 0);
        assert_eq!(m.sum("portico_udp_drops_total{listener=\"h3\","), 7);
    }
}
