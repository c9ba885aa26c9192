//! Memory of a contender from `/proc`: the sum over a process and all its
//! descendants (nginx workers, sslh-fork children) of `VmRSS` and of `Pss`
//! (which shares each shared page among the processes mapping it).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

/// Memory of a process tree.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TreeMemory {
    /// Processes in the tree.
    pub processes: u64,
    /// Sum of `VmRSS`, KiB.
    pub rss_kib: u64,
    /// Sum of `Pss` from `smaps_rollup`, KiB (0 where unreadable).
    pub pss_kib: u64,
}

/// Memory of `roots` and all their descendants, read now.
pub fn tree_memory(roots: &[u32]) -> TreeMemory {
    let pids = descendants(roots, &parents(Path::new("/proc")));
    let mut memory = TreeMemory::default();
    for pid in pids {
        let dir = Path::new("/proc").join(pid.to_string());
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue; // exited meanwhile
        };
        memory.processes += 1;
        memory.rss_kib += kib_field(&status, "VmRSS:").unwrap_or(0);
        if let Ok(rollup) = std::fs::read_to_string(dir.join("smaps_rollup")) {
            memory.pss_kib += kib_field(&rollup, "Pss:").unwrap_or(0);
        }
    }
    memory
}

/// Parent of every process under `proc`.
pub(crate) fn parents(proc: &Path) -> HashMap<u32, u32> {
    let mut map = HashMap::new();
    let Ok(entries) = std::fs::read_dir(proc) else {
        return map;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some(ppid) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| parent_from_stat(&stat))
        {
            map.insert(pid, ppid);
        }
    }
    map
}

/// The parent pid from a `/proc/PID/stat` line: the second field after the
/// command name, which is in parentheses and may itself contain spaces or
/// parentheses.
fn parent_from_stat(stat: &str) -> Option<u32> {
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// `roots` and every process whose chain of parents reaches one of them.
pub(crate) fn descendants(roots: &[u32], parents: &HashMap<u32, u32>) -> HashSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut seen: HashSet<u32> = HashSet::new();
    let mut todo: Vec<u32> = roots.to_vec();
    while let Some(pid) = todo.pop() {
        if seen.insert(pid) {
            todo.extend(children.get(&pid).into_iter().flatten());
        }
    }
    seen
}

/// The number in a `Name:   1234 kB` line of a `/proc` status-like file.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_is_read_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (sslh (fork) x) S 17 4242 4242 0 -1 4194560";
        assert_eq!(parent_from_stat(stat), Some(17));
        assert_eq!(parent_from_stat("garbage"), None);
    }

    #[test]
    fn descendants_follow_the_whole_tree_only() {
        let parents = HashMap::from([(2, 1), (3, 2), (4, 2), (5, 99), (6, 5)]);
        let tree = descendants(&[2], &parents);
        assert_eq!(tree, HashSet::from([2, 3, 4]));
        assert_eq!(descendants(&[5], &parents), HashSet::from([5, 6]));
    }

    #[test]
    fn kib_fields_are_parsed() {
        let status = "Name:\tnginx\nVmRSS:\t    2048 kB\nThreads:\t1\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(2048));
        assert_eq!(kib_field(status, "Pss:"), None);
    }

    #[test]
    fn own_process_has_memory() {
        let me = tree_memory(&[std::process::id()]);
        assert!(me.processes >= 1);
        assert!(me.rss_kib > 0);
    }
}
