//! CPU time of a contender from `/proc/PID/stat`: user and system time
//! summed over a process and all its descendants, each with the time of its
//! children that have exited (sslh-fork's per-connection processes).
//! Differences of two readings divided by the connections served give the
//! contender's CPU cost per connection, which does not depend on how much
//! of the machine the load generator and the sink took.

use std::path::Path;

use serde::Serialize;

use crate::rss::{descendants, parents};

/// CPU time of a process tree, in clock ticks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TreeCpu {
    /// User time.
    pub user_ticks: u64,
    /// System (kernel) time.
    pub system_ticks: u64,
}

/// CPU time spent per connection between two readings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuPerConn {
    /// Microseconds of user time per connection.
    pub user_us: f64,
    /// Microseconds of system time per connection.
    pub system_us: f64,
}

/// CPU time of `roots` and all their descendants, read now.
pub fn tree_cpu(roots: &[u32]) -> TreeCpu {
    let pids = descendants(roots, &parents(Path::new("/proc")));
    let mut cpu = TreeCpu::default();
    for pid in pids {
        let path = Path::new("/proc").join(pid.to_string()).join("stat");
        let Some(times) = std::fs::read_to_string(path)
            .ok()
            .and_then(|stat| times_from_stat(&stat))
        else {
            continue; // exited meanwhile
        };
        cpu.user_ticks += times.user_ticks;
        cpu.system_ticks += times.system_ticks;
    }
    cpu
}

/// `utime + cutime` and `stime + cstime` from a `/proc/PID/stat` line
/// (fields 14 to 17, counted past the parenthesised command name, which
/// may contain spaces or parentheses).
fn times_from_stat(stat: &str) -> Option<TreeCpu> {
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    // Fields after the name start at field 3 (state).
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse::<i64>().ok().map(|v| v.max(0).unsigned_abs()))
        .collect::<Option<_>>()?;
    match fields.as_slice() {
        [utime, stime, cutime, cstime] => Some(TreeCpu {
            user_ticks: utime + cutime,
            system_ticks: stime + cstime,
        }),
        _ => None,
    }
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), 100 on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// The CPU cost per connection of `connections` served between `before`
/// and `after`; `None` without connections.
pub fn per_conn(before: TreeCpu, after: TreeCpu, connections: u64) -> Option<CpuPerConn> {
    if connections == 0 {
        return None;
    }
    let us = |ticks: u64| ticks as f64 / TICKS_PER_SECOND * 1e6 / connections as f64;
    Some(CpuPerConn {
        user_us: us(after.user_ticks.saturating_sub(before.user_ticks)),
        system_us: us(after.system_ticks.saturating_sub(before.system_ticks)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_past_a_name_with_spaces_and_parentheses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime cutime cstime ...
        let stat = "4242 (sslh (fork) x) S 17 4242 4242 0 -1 4194560 10 0 0 0 150 70 30 5 20 0";
        assert_eq!(
            times_from_stat(stat),
            Some(TreeCpu {
                user_ticks: 180,
                system_ticks: 75
            })
        );
        assert_eq!(times_from_stat("garbage"), None);
        assert_eq!(times_from_stat("1 (x) S 1 2 3"), None);
    }

    #[test]
    fn per_connection_cost_in_microseconds() {
        let before = TreeCpu {
            user_ticks: 100,
            system_ticks: 200,
        };
        let after = TreeCpu {
            user_ticks: 110,
            system_ticks: 250,
        };
        // 10 ticks = 0.1 s over 1000 connections = 100 µs each.
        let cost = per_conn(before, after, 1000).expect("connections");
        assert!((cost.user_us - 100.0).abs() < 1e-9, "{cost:?}");
        assert!((cost.system_us - 500.0).abs() < 1e-9, "{cost:?}");
        assert_eq!(per_conn(before, after, 0), None);
    }

    #[test]
    fn own_process_uses_cpu() {
        let mut x = 0u64;
        let start = std::time::Instant::now();
        // Spin until at least one tick of user time has surely passed.
        while start.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let cpu = tree_cpu(&[std::process::id()]);
        assert!(cpu.user_ticks + cpu.system_ticks > 0, "{cpu:?}");
    }
}
