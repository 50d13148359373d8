//! One upgrade at a time per app and per service: an exclusive, non-blocking `flock` on a file
//! per name under the plugin's data directory (nix's `Flock`, as dokku's ps retire lock). The
//! kernel drops the lock when its process dies, so a lock left by a killed upgrade never blocks;
//! the file's text says who holds it.

use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

pub struct Locks {
    held: Vec<(String, Flock<File>)>,
}

impl Locks {
    pub fn new() -> Locks {
        Locks { held: Vec::new() }
    }

    /// Takes the lock on `kind name` (e.g. `app memo`) unless this process already holds it.
    pub fn take(&mut self, dir: &Path, kind: &str, name: &str) -> Result<()> {
        let key = format!("{kind}-{name}");
        if self.held.iter().any(|(k, _)| *k == key) {
            return Ok(());
        }
        std::fs::create_dir_all(dir).with_context(|| format!("Unable to create {}", dir.display()))?;
        let path = dir.join(format!("{key}.lock"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("Unable to open {}", path.display()))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, _)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                bail!(
                    "Another upgrade is running for {kind} {name}{}",
                    if holder.is_empty() { String::new() } else { format!(" ({holder})") }
                );
            }
        };
        lock.set_len(0)?;
        lock.rewind()?;
        writeln!(lock, "pid {}, started {}", std::process::id(), crate::clock::now_rfc3339())?;
        self.held.push((key, lock));
        Ok(())
    }
}

/// Every lock an upgrade needs, for its apps and its two services, under the plugin's data
/// directory; the first one held elsewhere ends it.
pub fn for_upgrade<'n>(
    data_dir: &Path,
    apps: impl IntoIterator<Item = &'n str>,
    services: impl IntoIterator<Item = &'n str>,
) -> Result<Locks> {
    let dir = data_dir.join("locks");
    let mut locks = Locks::new();
    for app in apps {
        locks.take(&dir, "app", app)?;
    }
    for service in services {
        locks.take(&dir, "service", service)?;
    }
    Ok(locks)
}

impl Default for Locks {
    fn default() -> Self {
        Locks::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = std::env::temp_dir().join(format!("pgu-locks-{}", std::process::id()));
        let mut first = Locks::new();
        first.take(&dir, "app", "memo").unwrap();
        first.take(&dir, "app", "memo").unwrap();
        // flock locks belong to the open file description: a second open in this process
        // conflicts just as another process would.
        let err = Locks::new().take(&dir, "app", "memo").unwrap_err().to_string();
        assert!(err.starts_with("Another upgrade is running for app memo (pid "), "{err}");
        Locks::new().take(&dir, "app", "other").unwrap();
        drop(first);
        Locks::new().take(&dir, "app", "memo").unwrap();
    }
}
