//! A really full disk: the plugin's folder for the app (its dumps and its journal) is a small
//! tmpfs, and it fills during the window, by the dump itself or by something else just as the
//! journal is written. The upgrade fails and rolls back; the app runs as before with every
//! acknowledged write kept, nothing is left stuck, and once there is room an upgrade succeeds.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::Sandbox;

/// A tmpfs mounted over `path`, unmounted when dropped (a failing assertion included).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Fails the test, never skips it, when the mount cannot be made.
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        // The dokku user's, as the folder it is mounted on is.
        let (uid, gid) = support::dokku_user();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755,uid={uid},gid={gid}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs on {} (this test needs root and mount): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { path: path.to_path_buf() }
    }

    /// More room, the files kept: as if someone freed space on the filesystem.
    fn grow(&self, size: &str) {
        let status =
            Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.path).status().unwrap();
        assert!(status.success(), "cannot remount {}", self.path.display());
    }

    /// Bytes still free.
    fn free(&self) -> u64 {
        let stat = nix::sys::statvfs::statvfs(&self.path).unwrap();
        stat.blocks_available() as u64 * stat.fragment_size() as u64
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// A mount a killed earlier run left behind would make the sandbox's fresh start fail.
fn unmount_leftover(name: &str) {
    let app_dir =
        support::repo().join("target/sandboxes").join(name).join("var/lib/dokku/data/postgres-upgrade/apps/memo");
    let _ = Command::new("umount").arg(&app_dir).stderr(std::process::Stdio::null()).status();
}

/// memo on a PostgreSQL 15 service with about 10 MB of data and a worker writing.
fn setup(name: &str) -> Sandbox {
    unmount_leftover(name);
    let sb = Sandbox::up(name);
    sb.app_on_service("memo", "memo-db", "15");
    sb.sql(
        "memo-db",
        "CREATE TABLE notes (id serial PRIMARY KEY, body text); \
         INSERT INTO notes (body) SELECT repeat(md5(g::text), 4) FROM generate_series(1, 60000) g;",
    );
    sb.sandbox(&["workload", "memo", "on"]).ok();
    sb.dokku(&["ps:start", "memo"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(500));
    sb
}

/// Where the plugin keeps memo's dumps and journal.
fn app_dir(sb: &Sandbox) -> PathBuf {
    sb.lib_root().join("data/postgres-upgrade/apps/memo")
}

fn restarts(sb: &Sandbox) -> usize {
    std::fs::read_to_string(sb.lib_root().join("data/apps/memo/restarts.log")).map(|s| s.lines().count()).unwrap_or(0)
}

/// What "as before" covers: services, config, running, maintenance, run options, deploy lock.
fn state(sb: &Sandbox) -> Vec<String> {
    vec![
        sb.services().join(","),
        format!("{:?}", sb.config("memo")),
        sb.dokku(&["ps:report", "memo", "--running"]).ok().trim().to_string(),
        sb.dokku(&["maintenance:report", "memo", "--maintenance-enabled"]).ok().trim().to_string(),
        sb.dokku(&["docker-options:report", "memo", "--docker-options-run"]).ok().trim().to_string(),
        sb.dokku(&["apps:locked", "memo"]).code.to_string(),
    ]
}

fn status(sb: &Sandbox) -> Value {
    serde_json::from_str(&sb.dokku(&["postgres-upgrade:status", "memo", "--format", "json"]).ok()).unwrap()
}

fn lost_nothing(sb: &Sandbox) {
    std::thread::sleep(std::time::Duration::from_millis(500));
    let check = sb.sandbox(&["workload", "memo", "check"]).ok();
    assert!(check.contains(" lost=0 "), "{check}");
}

/// What every full-disk failure must leave: the run failed with the filesystem named, the app
/// as before and started once, the journal saying rolled back, a second rollback with nothing
/// to do; then, with room again, an upgrade that succeeds.
fn rolled_back_and_not_stuck(sb: &Sandbox, disk: &Tmpfs, run: support::Run, before: &[String], starts: usize) {
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains(&format!("the filesystem of {} is full: free some space there", disk.path.display())),
        "{said}"
    );
    assert_eq!(state(sb), before, "{said}");
    // The apps were stopped in step 6: the rollback starts them once, on the old service.
    assert_eq!(restarts(sb) - starts, 1, "{said}");
    lost_nothing(sb);
    let journal = status(sb);
    assert_eq!(journal["status"], "rolled-back", "{journal}");
    assert_eq!(journal["undo"], serde_json::json!([]), "{journal}");
    let again = sb.dokku(&["postgres-upgrade:rollback", "memo"]).ok();
    assert!(again.contains("nothing to do"), "{again}");
    assert_eq!(restarts(sb) - starts, 1);

    disk.grow("256m");
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(sb.services(), vec!["memo-v17".to_string()]);
    assert_eq!(sb.dokku(&["ps:report", "memo", "--running"]).ok().trim(), "true");
    assert_eq!(status(sb)["status"], "upgraded");
    lost_nothing(sb);
}

/// A hook program for POSTGRES_UPGRADE_HOOK_AT that fills the tmpfs up to `leave` bytes free.
fn filler_hook(sb: &Sandbox, disk: &Tmpfs, leave: u64) -> (PathBuf, PathBuf) {
    let hook = sb.dir.join("fill-disk");
    let filler = disk.path.join("filler");
    let script = format!(
        "#!/usr/bin/env bash\nset -euo pipefail\n\
         avail=$(df --output=avail -B1 '{dir}' | tail -n 1)\n\
         head -c $((avail > {leave} ? avail - {leave} : 0)) /dev/zero >'{filler}' || true\n\
         [[ {leave} -gt 0 ]] || cat /dev/zero >>'{filler}' 2>/dev/null || true\n",
        dir = disk.path.display(),
        filler = filler.display(),
    );
    std::fs::write(&hook, script).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (hook, filler)
}

#[test]
fn the_windows_dump_fills_the_disk() {
    let sb = setup("full-dump");
    let before = state(&sb);
    let starts = restarts(&sb);
    // Too small for the dump: refused before anything changes, naming the app's own filesystem.
    let disk = Tmpfs::mount(&app_dir(&sb), "1m");
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--full-copy"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains(&format!("on the filesystem of {}", disk.path.display())), "{}", run.stderr);
    assert_eq!(state(&sb), before);
    // Room enough at the start; then the disk fills during the window, just before the dump.
    disk.grow("48m");
    let (hook, filler) = filler_hook(&sb, &disk, 1 << 20);
    let hook_at = format!("copy:{}", hook.display());
    let run = sb.dokku_env(
        &[("POSTGRES_UPGRADE_HOOK_AT", hook_at.as_str())],
        &["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--full-copy"],
    );
    assert!(run.stderr.contains("No space left on device"), "{}", run.stderr);
    std::fs::remove_file(&filler).unwrap();
    rolled_back_and_not_stuck(&sb, &disk, run, &before, starts);
}

#[test]
fn something_else_fills_the_disk_just_before_the_journal_is_written() {
    let sb = setup("full-journal");
    let before = state(&sb);
    let starts = restarts(&sb);
    let disk = Tmpfs::mount(&app_dir(&sb), "48m");
    // Inside the window (the apps stopped), before any dump exists: the rollback frees nothing,
    // so the disk stays full to the last byte until the run ends.
    let (hook, filler) = filler_hook(&sb, &disk, 0);
    let hook_at = format!("copy:{}", hook.display());
    let run = sb.dokku_env(
        &[("POSTGRES_UPGRADE_HOOK_AT", hook_at.as_str())],
        &["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--full-copy"],
    );
    let filled = std::fs::metadata(&filler).map(|m| m.len()).unwrap_or(0);
    assert!(filled > 40 << 20, "the hook did not fill the disk ({filled} bytes, {} free)", disk.free());
    std::fs::remove_file(&filler).unwrap();
    rolled_back_and_not_stuck(&sb, &disk, run, &before, starts);
}

/// The rollback of a failure after the switch (the app's config already on the new service)
/// starts the app once, on the old config: the relink back restarts nothing.
#[test]
fn a_rollback_after_the_switch_starts_the_app_once() {
    let sb = setup("start-once");
    // The app's deploy checks pass only on PostgreSQL 15: its start on 17 fails (step 11).
    let check = "SANDBOX_HEALTHCHECK_SQL=SELECT current_setting('server_version_num')::int < 160000";
    sb.dokku(&["config:set", "--no-restart", "memo", check]).ok();
    let before = state(&sb);
    let starts = restarts(&sb);
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17"]);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(run.code, 1, "{said}");
    assert!(run.stderr.contains("Starting memo") && run.stderr.contains("failed its health check"), "{said}");
    assert!(said.contains("Undone: switch memo back to memo-db"), "{said}");
    assert_eq!(state(&sb), before);
    assert_eq!(restarts(&sb) - starts, 1, "{said}");
    lost_nothing(&sb);
    assert_eq!(status(&sb)["status"], "rolled-back");
    assert!(sb.dokku(&["postgres-upgrade:rollback", "memo"]).ok().contains("nothing to do"));
    assert_eq!(restarts(&sb) - starts, 1);
}
