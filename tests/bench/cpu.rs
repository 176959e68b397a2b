//! CPU time of processes, from /proc, to report CPU per request of workerd.

use std::time::Duration;

/// Processes below `root` (inclusive) whose command name is `name`.
pub fn descendants_named(root: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    let table = process_table();
    while let Some(parent) = frontier.pop() {
        for (pid, ppid, comm) in &table {
            if *ppid == parent {
                frontier.push(*pid);
                if comm == name {
                    found.push(*pid);
                }
            }
        }
    }
    found
}

/// (pid, parent pid, command name) of every process.
fn process_table() -> Vec<(u32, u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (comm, rest) = split_stat(&stat)?;
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid, comm.to_owned()))
        })
        .collect()
}

/// `pid (comm) state ppid ...`: the command name may contain spaces and parentheses.
fn split_stat(stat: &str) -> Option<(&str, &str)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    Some((&stat[open + 1..close], &stat[close + 1..]))
}

/// User + system CPU time of `pids`, summed.
pub fn cpu_time(pids: &[u32]) -> Duration {
    let ticks_per_second = clock_ticks();
    let ticks: u64 = pids
        .iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (_, rest) = split_stat(&stat)?;
            // After the command: state(0) ppid(1) ... utime is field 14 overall, index 11 here.
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    Duration::from_secs_f64(ticks as f64 / ticks_per_second as f64)
}

fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100)
}
