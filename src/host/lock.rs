//! One upgrade at a time per app and per service: an exclusive, non-blocking `flock` on a file
//! per name under the plugin's data directory (nix's `Flock`, as dokku's ps retire lock). The
//! kernel drops the lock when its process dies, so a lock left by a killed upgrade never blocks;
//! the file's text says who holds it.
//!
//! Deploys: `apps:lock` only creates dokku's `.deploy.lock`; a `git push` takes a non-waiting
//! flock on that file and deletes it when done (docs/deploy-lock.md). What stops a push is a
//! holder of the flock, so this process holds it on every app it upgrades until it exits. The
//! file is the one this dokku version's push locks (`Env::deploy_lock`).

use crate::host::env::Env;
use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
        writeln!(lock, "pid {}, started {}", std::process::id(), crate::host::clock::now_rfc3339())?;
        self.held.push((key, lock));
        Ok(())
    }
}

/// Every lock an upgrade needs, for its apps and its two services, under the plugin's data
/// directory; the first one held elsewhere ends it. An app whose deploy lock file exists (an
/// earlier run locked it and died: resume and rollback) gets its deploy flock back here too.
pub fn for_upgrade<'n>(
    env: &Env,
    apps: impl IntoIterator<Item = &'n str>,
    services: impl IntoIterator<Item = &'n str>,
) -> Result<Locks> {
    let dir = env.data_dir().join("locks");
    let mut locks = Locks::new();
    for app in apps {
        locks.take(&dir, "app", app)?;
        hold_deploy(&env.deploy_lock(app), app, false)?;
    }
    for service in services {
        locks.take(&dir, "service", service)?;
    }
    Ok(locks)
}

/// Deploy flocks this process holds, by lock file. They are never given back before the process
/// ends: once `apps:unlock` has deleted the file, the one held belongs to no path, and the next
/// push creates a new file and takes its lock.
static DEPLOYS: Mutex<Vec<(PathBuf, Flock<File>)>> = Mutex::new(Vec::new());

/// Holds the flock a `git push` of `app` takes on `path`, as long as this process runs. With
/// `create`, the file is made when missing (`apps:lock` then finds it); without, a missing file
/// means there is nothing to hold. Fails at once when a deploy holds it.
pub fn hold_deploy(path: &Path, app: &str, create: bool) -> Result<()> {
    let path = path.to_path_buf();
    let mut held = DEPLOYS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = held.iter().position(|(p, _)| *p == path) {
        if names(&path, &held[i].1)? {
            return Ok(());
        }
        held.remove(i);
    }
    if create {
        let dir = path.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(dir).with_context(|| format!("Unable to create {}", dir.display()))?;
    }
    // A push that held the file deletes it when it ends: a lock won on a deleted file guards no
    // path, so take it again on the new one.
    for _ in 0..5 {
        let file = match OpenOptions::new().write(true).create(create).truncate(false).open(&path) {
            Ok(file) => file,
            Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("Unable to open {}", path.display())),
        };
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| {
            anyhow::anyhow!("A deploy of {app} is running (it holds {}); retry when it has finished", path.display())
        })?;
        if names(&path, &lock)? {
            held.push((path, lock));
            return Ok(());
        }
        if !create && !path.exists() {
            return Ok(());
        }
    }
    bail!("{} kept changing while its lock was taken", path.display())
}

/// Whether `path` still names the file `lock` was taken on.
fn names(path: &Path, lock: &File) -> Result<bool> {
    let ours = lock.metadata()?;
    Ok(std::fs::metadata(path).is_ok_and(|now| now.ino() == ours.ino() && now.dev() == ours.dev()))
}

impl Default for Locks {
    fn default() -> Self {
        Locks::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether another open file description could take the deploy flock now (as a push would).
    fn a_push_could_lock(path: &Path) -> bool {
        let file = OpenOptions::new().write(true).create(true).truncate(false).open(path).unwrap();
        Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok()
    }

    #[test]
    fn the_deploy_flock_is_held_and_a_held_one_is_refused() {
        let apps = std::env::temp_dir().join(format!("pgu-deploys-{}", std::process::id()));
        std::fs::create_dir_all(apps.join("memo")).unwrap();
        std::fs::create_dir_all(apps.join("busy")).unwrap();
        let lock = |app: &str| apps.join(app).join(".deploy.lock");
        // No file and no create: nothing to hold, nothing made.
        hold_deploy(&lock("memo"), "memo", false).unwrap();
        assert!(!lock("memo").exists());
        hold_deploy(&lock("memo"), "memo", true).unwrap();
        hold_deploy(&lock("memo"), "memo", true).unwrap();
        assert!(!a_push_could_lock(&lock("memo")));
        // Deleted (apps:unlock): the next push makes a new file and gets its lock.
        std::fs::remove_file(lock("memo")).unwrap();
        assert!(a_push_could_lock(&lock("memo")));
        // A deploy holding it: refused, with the file named.
        let holder = File::create(lock("busy")).unwrap();
        let _held = Flock::lock(holder, FlockArg::LockExclusiveNonblock).unwrap();
        let err = hold_deploy(&lock("busy"), "busy", true).unwrap_err().to_string();
        assert!(err.starts_with("A deploy of busy is running"), "{err}");
        std::fs::remove_dir_all(&apps).unwrap();
    }

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
