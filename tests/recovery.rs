//! An upgrade survives a crash: killed with SIGKILL at every step boundary, then resumed or
//! rolled back; a second upgrade is refused while one runs; a signal rolls back. The old server
//! writes logical WAL, so every one of these runs the online copy (copy/online/), and what it
//! makes on both servers (a publication, two slots, a subscription) must be gone afterwards.

mod support;

use serde_json::Value;
use support::Sandbox;

const STEPS: usize = 16;

/// memo on a PostgreSQL 15 service that writes logical WAL, with data, a backup schedule and a
/// worker writing.
fn setup(name: &str) -> Sandbox {
    let sb = Sandbox::up(name);
    sb.dokku(&["apps:create", "memo"]).ok();
    sb.dokku(&["postgres:create", "memo-db", "-I", "15", "-c", "-c wal_level=logical"]).ok();
    sb.dokku(&["postgres:link", "memo-db", "memo", "--no-restart"]).ok();
    sb.sql("memo-db", "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) SELECT 'n' || g FROM generate_series(1, 500) g;");
    sb.dokku(&["postgres:backup-auth", "memo-db", "AKIAEXAMPLE", "s3cr3t"]).ok();
    sb.dokku(&["postgres:backup-schedule", "memo-db", "0 3 * * *", "memo-backups"]).ok();
    sb.sandbox(&["workload", "memo", "on"]).ok();
    sb.dokku(&["ps:start", "memo"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(500));
    sb
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Recovery {
    Resume,
    Rollback,
}

/// Kills the upgrade at `point` (`N`: before step N, `N+`: after it), recovers, and checks the
/// promises: the app runs out of maintenance and unlocked, on exactly one service holding all
/// the data, with no half-made service, leftover variable or orphan cron file, and the journal
/// closed.
fn killed_at(point: &str, recovery: Recovery) {
    let name = format!("kill-{}-{:?}", point.replace('+', "p"), recovery).to_lowercase();
    let sb = setup(&name);
    let run = sb.dokku_env(
        &[("POSTGRES_UPGRADE_KILL_AT", point)],
        &["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17"],
    );
    assert_eq!(run.code, 137, "not killed at {point}:\n{}\n{}", run.stdout, run.stderr);
    let status: Value =
        serde_json::from_str(&sb.dokku(&["postgres-upgrade:status", "memo", "--format", "json"]).ok()).unwrap();
    assert_eq!(status["status"], "running");
    assert_eq!(status["process_running"], false);
    // A new upgrade is refused until this one is resumed or rolled back.
    let again = sb.dokku(&["postgres:upgrade", "memo", "-I", "17"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("An unfinished upgrade of memo is recorded"), "{}", again.stderr);

    let recovered = match recovery {
        Recovery::Resume => sb.dokku(&["postgres:upgrade", "memo", "--resume"]),
        Recovery::Rollback => sb.dokku(&["postgres-upgrade:rollback", "memo"]),
    };
    assert_eq!(recovered.code, 0, "{recovery:?} after {point} failed:\n{}\n{}", recovered.stdout, recovered.stderr);

    // Until an app has started on the new service (step 12) a rollback goes back; after that
    // the app's writes live only on the new service, so rollback finishes the upgrade instead.
    let before_start = match point.strip_suffix('+') {
        Some(n) => n.parse::<usize>().unwrap() < 12,
        None => point.parse::<usize>().unwrap() <= 12,
    };
    let expected = if recovery == Recovery::Rollback && before_start { "memo-db" } else { "memo-v17" };
    assert_eq!(sb.services(), vec![expected.to_string()], "{recovery:?} after {point}");
    let cfg = sb.config("memo");
    let db_vars: Vec<(&String, &String)> = cfg.iter().filter(|(_, v)| v.contains("dokku-postgres-")).collect();
    assert_eq!(db_vars.len(), 1, "{:?}", cfg.keys());
    assert_eq!(db_vars[0].0, "DATABASE_URL");
    assert!(db_vars[0].1.contains(&format!("@dokku-postgres-{expected}:5432/")));
    assert_eq!(sb.dokku(&["ps:report", "memo", "--running"]).ok().trim(), "true");
    assert_eq!(sb.dokku(&["maintenance:report", "memo", "--maintenance-enabled"]).ok().trim(), "false");
    assert_ne!(sb.dokku(&["apps:locked", "memo"]).code, 0);
    for cron in std::fs::read_dir(sb.dir.join("etc/cron.d")).into_iter().flatten().flatten() {
        let file = cron.file_name().to_string_lossy().into_owned();
        let service = file.trim_start_matches("dokku-postgres-");
        assert!(sb.service_dir(service).exists(), "orphan cron file {file}");
    }
    assert_eq!(sb.sql(expected, "SELECT count(*) FROM notes"), "500");
    nothing_of_the_stream_left(&sb, expected, point);
    let status: Value =
        serde_json::from_str(&sb.dokku(&["postgres-upgrade:status", "memo", "--format", "json"]).ok()).unwrap();
    let want = if expected == "memo-db" { "rolled-back" } else { "upgraded" };
    assert_eq!(status["status"], want);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let check = sb.sandbox(&["workload", "memo", "check"]).ok();
    assert!(check.contains(" lost=0 "), "{check}");

    // Recovering twice is harmless and says so.
    let twice = match recovery {
        Recovery::Resume => sb.dokku(&["postgres:upgrade", "memo", "--resume"]),
        Recovery::Rollback => sb.dokku(&["postgres-upgrade:rollback", "memo"]),
    };
    assert_eq!(twice.code, 0, "{}", twice.stderr);
    assert!(twice.stdout.contains("nothing to"), "{}", twice.stdout);
}

/// No replication object of the upgrade on the service that remains: no slot or publication
/// (and the WAL bound the upgrade set is gone) on the old one, no subscription on the new one.
#[track_caller]
fn nothing_of_the_stream_left(sb: &Sandbox, service: &str, point: &str) {
    let left = sb.sql(
        service,
        "SELECT (SELECT count(*) FROM pg_replication_slots) || ' slots, ' || (SELECT count(*) FROM pg_publication) \
         || ' publications, ' || (SELECT count(*) FROM pg_subscription) || ' subscriptions, ' \
         || (SELECT count(*) FROM pg_replication_origin) || ' origins, wal keep ' || current_setting('max_slot_wal_keep_size')",
    );
    assert_eq!(left, "0 slots, 0 publications, 0 subscriptions, 0 origins, wal keep -1", "{service} after {point}");
}

macro_rules! boundaries {
    ($($name:ident => $point:expr),* $(,)?) => {
        mod resume {
            $( #[test] fn $name() { super::killed_at($point, super::Recovery::Resume) } )*
        }
        mod rollback {
            $( #[test] fn $name() { super::killed_at($point, super::Recovery::Rollback) } )*
        }
        #[test]
        fn every_boundary_is_covered() {
            let points = [$($point),*];
            assert_eq!(points.len(), STEPS + 1);
            for n in 1..=STEPS {
                assert!(points.contains(&n.to_string().as_str()), "step {n}");
            }
            assert!(points.contains(&format!("{STEPS}+").as_str()));
        }
    };
}

boundaries! {
    before_create => "1",
    before_check => "2",
    before_lock => "3",
    before_restart_old => "4",
    before_first_copy => "5",
    before_follow => "6",
    before_maintenance => "7",
    before_stop => "8",
    before_copy => "9",
    before_verify => "10",
    before_switch => "11",
    before_start => "12",
    before_window_end => "13",
    before_final_backup => "14",
    before_backups_carried_over => "15",
    before_retire => "16",
    after_retire => "16+",
}

#[test]
fn a_second_upgrade_is_refused_at_once_and_names_the_running_one() {
    let sb = setup("lock-held");
    let lock = sb.lib_root().join("data/postgres-upgrade/locks/app-memo.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, "pid 4242, started 2026-11-25T00:00:00Z\n").unwrap();
    // As the running upgrade (the dokku user) left them.
    support::give_to_dokku(lock.parent().unwrap());
    support::give_to_dokku(&lock);
    // Another process holds the flock, as a running upgrade would.
    let mut holder = std::process::Command::new("flock").arg("-n").arg(&lock).arg("sleep").arg("600").spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("Another upgrade is running for app memo (pid 4242, started 2026-11-25T00:00:00Z)"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(300), "it waited for the lock");
    assert_eq!(sb.services(), vec!["memo-db".to_string()]);
    // Unrelated apps are not blocked.
    sb.dokku(&["apps:create", "other"]).ok();
    sb.dokku(&["postgres:create", "other-db", "-I", "15"]).ok();
    sb.dokku(&["postgres:link", "other-db", "other"]).ok();
    let other = sb.dokku(&["postgres:upgrade", "other", "-I", "17", "--dry-run"]);
    assert_eq!(other.code, 0, "{}", other.stderr);
}

#[test]
fn sigterm_during_the_copy_rolls_back_and_exits_143() {
    let sb = setup("sigterm");
    let before = sb.config("memo");
    let journal = sb.lib_root().join("data/postgres-upgrade/apps/memo/journal.json");
    let child = std::process::Command::new(sb.dir.join("bin/dokku"))
        .args(["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the apps are stopped (step 8 done), then signal the upgrade's own process.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let pid = loop {
        assert!(std::time::Instant::now() < deadline, "the upgrade never reached step 9");
        if let Ok(text) = std::fs::read_to_string(&journal)
            && let Ok(doc) = serde_json::from_str::<Value>(&text)
            && doc["steps"][7]["state"] == "done"
        {
            break doc["pid"].as_i64().unwrap() as i32;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Interrupted by SIGTERM"), "{stderr}");
    assert_eq!(sb.services(), vec!["memo-db".to_string()]);
    assert_eq!(sb.config("memo"), before);
    assert_eq!(sb.dokku(&["ps:report", "memo", "--running"]).ok().trim(), "true");
    assert_eq!(sb.dokku(&["maintenance:report", "memo", "--maintenance-enabled"]).ok().trim(), "false");
}

#[test]
fn a_sigkill_while_a_password_file_exists_leaves_none_after_the_rollback() {
    let sb = setup("sigkill-env");
    let journal = sb.lib_root().join("data/postgres-upgrade/apps/memo/journal.json");
    let dumps = sb.lib_root().join("data/postgres-upgrade/apps/memo/dumps");
    let env_files = || -> Vec<String> {
        std::fs::read_dir(&dumps)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".env"))
            .collect()
    };
    let mut child = std::process::Command::new(sb.dir.join("bin/dokku"))
        .args(["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed while a tool of the copy runs with its password file beside the dumps.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let pid = loop {
        assert!(std::time::Instant::now() < deadline, "no password file was ever written");
        if !env_files().is_empty()
            && let Ok(doc) = serde_json::from_str::<Value>(&std::fs::read_to_string(&journal).unwrap_or_default())
        {
            break doc["pid"].as_i64().unwrap() as i32;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let _ = child.wait();
    assert!(!env_files().is_empty(), "the kill came too late to leave a password file");
    sb.dokku(&["postgres-upgrade:rollback", "memo"]).ok();
    assert!(env_files().is_empty(), "{:?}", env_files());
    assert_eq!(sb.services(), vec!["memo-db".to_string()]);
}

/// memo's upgrade started in the background with a JSON report; returns the child and the
/// pid of the upgrade's own process once `ready` says so about the journal.
// The caller waits for the child it is handed.
#[allow(clippy::zombie_processes)]
fn upgrade_in_background(sb: &Sandbox, ready: impl Fn(&Value) -> bool) -> (std::process::Child, i32) {
    let journal = sb.lib_root().join("data/postgres-upgrade/apps/memo/journal.json");
    let mut child =
        sb.spawn_dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--format", "json"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the upgrade never got there");
        }
        if let Ok(doc) = serde_json::from_str::<Value>(&std::fs::read_to_string(&journal).unwrap_or_default())
            && ready(&doc)
        {
            return (child, doc["pid"].as_i64().unwrap() as i32);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn ctrl_c_stops_a_long_first_copy_at_once_and_rolls_back() {
    let sb = setup("sigint-copy");
    // Enough rows that the first copy takes seconds.
    sb.sql(
        "memo-db",
        "CREATE TABLE bulk AS SELECT g AS id, repeat(md5(g::text), 8) AS body FROM generate_series(1, 300000) g;",
    );
    let before = sb.config("memo");
    let (child, pid) = upgrade_in_background(&sb, |doc| doc["steps"][4]["state"] == "running");
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    // The copy was stopped, not waited for.
    assert_eq!(report["steps"][4]["status"], "failed", "{report}");
    assert_eq!(report["status"], "rolled-back");
    assert_eq!(report["interrupted_by"], "SIGINT");
    assert_eq!(sb.services(), vec!["memo-db".to_string()]);
    assert_eq!(sb.config("memo"), before);
    assert_eq!(sb.dokku(&["ps:report", "memo", "--running"]).ok().trim(), "true");
}

#[test]
fn ctrl_c_during_the_switch_finishes_it_and_keeps_the_old_service() {
    let sb = setup("sigint-switch");
    // Just after the switch (step 11), before the apps start.
    let (child, pid) = upgrade_in_background(&sb, |doc| doc["steps"][10]["state"] == "running");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["status"], "upgraded-with-manual-steps", "{report}");
    assert_eq!(report["manual_steps"], serde_json::json!(["dokku postgres:destroy memo-db -f"]));
    assert_eq!(report["old_service_kept"], true);
    // The apps run on the new service; the old one is still there, backed up no more.
    assert_eq!(sb.services(), vec!["memo-db".to_string(), "memo-v17".to_string()]);
    assert!(!sb.dir.join("etc/cron.d/dokku-postgres-memo-db").exists());
    assert!(sb.dir.join("etc/cron.d/dokku-postgres-memo-v17").exists());
    assert!(sb.config("memo")["DATABASE_URL"].contains("@dokku-postgres-memo-v17:5432/"));
    assert_eq!(sb.dokku(&["ps:report", "memo", "--running"]).ok().trim(), "true");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let check = sb.sandbox(&["workload", "memo", "check"]).ok();
    assert!(check.contains(" lost=0 "), "{check}");
}

#[test]
fn while_an_upgrade_copies_a_service_nothing_else_may_change_it() {
    let sb = setup("second-caller");
    sb.sql(
        "memo-db",
        "CREATE TABLE bulk AS SELECT g AS id, repeat(md5(g::text), 8) AS body FROM generate_series(1, 200000) g;",
    );
    let (child, _) = upgrade_in_background(&sb, |doc| doc["steps"][4]["state"] == "running");
    // dokku-postgres's in-place upgrade (the hand-over path) would restart the service mid-copy.
    let hand_over = sb.dokku(&["postgres:upgrade", "memo-db", "-I", "15"]);
    assert_eq!(hand_over.code, 1, "{}", hand_over.stderr);
    assert!(hand_over.stderr.contains("Another upgrade is running for service memo-db"), "{}", hand_over.stderr);
    // A second upgrade of the app is told to wait, not to roll back; status says it runs.
    let again = sb.dokku(&["postgres:upgrade", "memo", "-I", "17"]);
    assert!(
        again.stderr.contains("An upgrade of memo is running") && again.stderr.contains("wait for it"),
        "{}",
        again.stderr
    );
    let status = sb.dokku(&["postgres-upgrade:status", "memo"]).ok();
    assert!(status.contains("its process still runs") && !status.contains("rollback"), "{status}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sb.services(), vec!["memo-v17".to_string()]);
}

#[test]
fn a_server_that_dies_inside_the_window_is_started_again_and_the_app_with_it() {
    let sb = setup("dead-server");
    let before = sb.config("memo");
    // Just before the window's copy, the old server goes away (OOM, a host restart of docker).
    let hook = sb.dir.join("stop-old");
    let script = format!(
        "#!/usr/bin/env bash\n'{}' container stop dokku.postgres.memo-db >/dev/null\n",
        sb.dir.join("bin/docker").display()
    );
    std::fs::write(&hook, script).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let hook_at = format!("copy:{}", hook.display());
    let run = sb.dokku_env(
        &[("POSTGRES_UPGRADE_HOOK_AT", hook_at.as_str())],
        &["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("memo-db is not running: starting it"), "{}", run.stderr);
    assert_eq!(sb.services(), vec!["memo-db".to_string()]);
    assert_eq!(sb.config("memo"), before);
    assert_eq!(sb.dokku(&["postgres:info", "memo-db", "--status"]).ok().trim(), "running");
    assert_eq!(sb.dokku(&["ps:report", "memo", "--running"]).ok().trim(), "true");
    assert_eq!(sb.dokku(&["maintenance:report", "memo", "--maintenance-enabled"]).ok().trim(), "false");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let check = sb.sandbox(&["workload", "memo", "check"]).ok();
    assert!(check.contains(" lost=0 "), "{check}");
}

/// The new service's settings files, as `postgres:create` wrote them.
fn created_with(sb: &Sandbox, service: &str) -> (String, String, String) {
    let read =
        |f: &str| std::fs::read_to_string(sb.service_dir(service).join(f)).unwrap_or_default().trim().to_string();
    (read("SHM_SIZE"), read("CONFIG_OPTIONS"), read("ENV"))
}

#[test]
fn a_run_killed_before_it_created_the_new_service_resumes_with_its_flags() {
    let sb = setup("kill-flags-resume");
    let run = sb.dokku_env(
        &[("POSTGRES_UPGRADE_KILL_AT", "1")],
        &[
            "postgres:upgrade",
            "memo",
            "-I",
            "17",
            "--new-service",
            "memo-v17",
            "-s",
            "256m",
            "-c",
            "-c max_connections=42",
        ],
    );
    assert_eq!(run.code, 137, "{}\n{}", run.stdout, run.stderr);
    assert!(!sb.service_dir("memo-v17").exists());
    // Flags again on resume are refused: the journal's are used.
    let again = sb.dokku(&["postgres:upgrade", "memo", "--resume", "-s", "1g"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("leave out --shm-size"), "{}", again.stderr);

    let resumed = sb.dokku(&["postgres:upgrade", "memo", "--resume"]);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert_eq!(created_with(&sb, "memo-v17"), ("256m".into(), "-c max_connections=42".into(), String::new()));
    assert_eq!(sb.sql("memo-v17", "SHOW max_connections"), "42");
}

#[test]
fn a_custom_env_is_never_journaled_and_must_be_given_again_to_resume() {
    let sb = setup("kill-custom-env");
    let secret = "PGU_TEST_TOKEN=sw0rdf1sh";
    let run = sb.dokku_env(
        &[("POSTGRES_UPGRADE_KILL_AT", "1")],
        &["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "-C", secret],
    );
    assert_eq!(run.code, 137, "{}\n{}", run.stdout, run.stderr);
    let journal = std::fs::read_to_string(sb.lib_root().join("data/postgres-upgrade/apps/memo/journal.json")).unwrap();
    assert!(!journal.contains("sw0rdf1sh"), "{journal}");

    // As an older version kept it: memo's journal beside the plugin's own files. status reads it
    // there, and the resume moves it to memo's own folder (state/layout.rs).
    let data = sb.lib_root().join("data/postgres-upgrade");
    std::fs::create_dir_all(data.join("memo")).unwrap();
    // The plugin ran as the dokku user, so an older version's folder is that user's.
    support::give_to_dokku(&data.join("memo"));
    for entry in std::fs::read_dir(data.join("apps/memo")).unwrap().flatten() {
        std::fs::rename(entry.path(), data.join("memo").join(entry.file_name())).unwrap();
    }
    std::fs::remove_dir(data.join("apps/memo")).unwrap();
    let status = sb.dokku(&["postgres-upgrade:status", "memo"]).ok();
    assert!(status.contains("unfinished"), "the legacy journal is read: {status}");

    let without = sb.dokku(&["postgres:upgrade", "memo", "--resume"]);
    assert_eq!(without.code, 1);
    assert!(
        without.stderr.contains("give it again, dokku postgres:upgrade memo --resume --custom-env"),
        "{}",
        without.stderr
    );
    assert!(!sb.service_dir("memo-v17").exists());

    let resumed = sb.dokku(&["postgres:upgrade", "memo", "--resume", "-C", secret]);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert!(!resumed.stdout.contains("sw0rdf1sh") && !resumed.stderr.contains("sw0rdf1sh"));
    assert_eq!(created_with(&sb, "memo-v17").2, secret);
    assert!(data.join("apps/memo/journal.json").is_file() && !data.join("memo").exists(), "moved by the resume");
    let report = sb.dokku(&["postgres-upgrade:report", "memo", "--postgres-upgrade-last-status"]).ok();
    assert_eq!(report.trim(), "upgraded");
}

/// Makes the sandbox fail `calls` once each (tests/sandbox/faults.sh): the first call whose
/// command line starts with a line's words.
fn fail_calls(sb: &Sandbox, calls: &[&str]) {
    use std::io::Write;
    let mut faults = std::fs::OpenOptions::new().create(true).append(true).open(sb.dir.join("faults")).unwrap();
    for call in calls {
        writeln!(faults, "{call}").unwrap();
    }
}

/// A hook program for POSTGRES_UPGRADE_HOOK_AT that makes `call` fail from just before step
/// `step` on: the step's own first call of it.
fn fail_from(sb: &Sandbox, step: usize, call: &str) -> String {
    let hook = sb.dir.join(format!("fail-at-{step}"));
    let script = format!("#!/usr/bin/env bash\necho '{call}' >>'{}'\n", sb.dir.join("faults").display());
    std::fs::write(&hook, script).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!("{step}:{}", hook.display())
}

fn journal_status(sb: &Sandbox) -> Value {
    serde_json::from_str(&sb.dokku(&["postgres-upgrade:status", "memo", "--format", "json"]).ok()).unwrap()
}

/// The app runs on `service`, the only service there is, out of maintenance and unlocked, with
/// its data and its exposed port; no upgrade of it is unfinished; no fault is left unused.
fn usable_on(sb: &Sandbox, service: &str, what: &str) {
    assert_eq!(sb.services(), vec![service.to_string()], "{what}");
    let url = &sb.config("memo")["DATABASE_URL"];
    assert!(url.contains(&format!("@dokku-postgres-{service}:5432/")), "{what}: {url}");
    assert_eq!(sb.dokku(&["ps:report", "memo", "--running"]).ok().trim(), "true", "{what}");
    assert_eq!(sb.dokku(&["maintenance:report", "memo", "--maintenance-enabled"]).ok().trim(), "false", "{what}");
    assert_ne!(sb.dokku(&["apps:locked", "memo"]).code, 0, "{what}: still locked");
    assert_eq!(sb.dokku(&["postgres:info", service, "--exposed-ports"]).ok().trim(), "5432->127.0.0.1:4243", "{what}");
    assert_eq!(sb.sql(service, "SELECT count(*) FROM notes"), "500", "{what}");
    assert_eq!(journal_status(sb)["unfinished"], false, "{what}");
    let left = std::fs::read_to_string(sb.dir.join("faults")).unwrap_or_default();
    assert!(left.trim().is_empty(), "{what}: a fault was never reached: {left}");
}

/// Every step of an upgrade fails in turn (its own first call of a command), and in some of the
/// runs an undo command fails too. Each time the app ends usable on the old service, with
/// the one documented command where an undo failed; a failure after the switch leaves it usable
/// on the new one once the commands said are run; and the next upgrade runs. To keep the
/// many runs cheap they move within PostgreSQL 15 and copy inside the window, but the run whose
/// first copy fails.
#[test]
fn every_failing_step_and_undo_leaves_a_usable_app_and_the_next_upgrade_runs() {
    let sb = setup("every-failure");
    sb.dokku(&["postgres:expose", "memo-db", "127.0.0.1:4243"]).ok();
    let upgrade = ["postgres:upgrade", "memo", "-I", "15.18", "--new-service", "memo-next"];
    // The steps as STEPS numbers them (restart-old 4 and follow 6 run nothing here; the final
    // backup comes after the window, where nothing is rolled back).
    let cases: [(usize, &str, &[&str]); 10] = [
        (1, "dokku postgres:create", &[]),
        (2, "dokku postgres:info memo-next", &["dokku postgres:destroy memo-next"]),
        (3, "dokku apps:lock", &[]),
        (5, "docker run", &["dokku apps:unlock memo"]),
        (7, "dokku maintenance:enable", &[]),
        (8, "dokku ps:stop", &["dokku maintenance:disable memo"]),
        (9, "docker container exec dokku.postgres.memo-db", &["dokku ps:restart memo"]),
        // Verification's sessions are opened before the window: its first process inside it is
        // a schema dump's client container.
        (10, "docker run", &[]),
        (11, "dokku postgres:unlink memo-db memo", &[]),
        (12, "dokku ps:start", &["dokku postgres:unexpose memo-next", "dokku postgres:link memo-db memo"]),
    ];
    for (step, call, undo) in cases {
        let what = format!("step {step} ({call}) failing, then {undo:?}");
        fail_calls(&sb, undo);
        let hook = fail_from(&sb, step, call);
        let args = if step == 5 { upgrade.to_vec() } else { [&upgrade[..], &["--full-copy"]].concat() };
        let run = sb.dokku_env(&[("POSTGRES_UPGRADE_HOOK_AT", hook.as_str())], &args);
        assert_eq!(run.code, 1, "{what}:\n{}\n{}", run.stdout, run.stderr);
        let last = run.stdout.lines().rfind(|l| l.starts_with("-----> [")).unwrap_or_default();
        assert!(last.starts_with(&format!("-----> [{step}/{STEPS}] ")), "{what}: {last}\n{}", run.stderr);
        assert!(run.stderr.contains("(DIR/faults: "), "{what}:\n{}", run.stderr);
        if !undo.is_empty() {
            // Stuck nowhere: the run, status, report and a new upgrade all name the one command.
            let next = "dokku postgres-upgrade:rollback memo";
            assert!(run.stderr.contains(&format!("then run `{next}`")), "{what}:\n{}", run.stderr);
            let status = journal_status(&sb);
            assert_eq!(status["status"], "rollback-failed", "{what}");
            assert_eq!((&status["unfinished"], &status["next"]), (&true.into(), &next.into()), "{what}");
            let unfinished = sb.dokku(&["postgres-upgrade:report", "memo", "--postgres-upgrade-unfinished"]).ok();
            assert_eq!(unfinished.trim(), format!("yes (rollback-failed): {next}"), "{what}");
            let refused = sb.dokku(&upgrade);
            assert!(
                refused.code == 1 && refused.stderr.contains(&format!("run `{next}` first")),
                "{what}: {}",
                refused.stderr
            );
            let rollback = sb.dokku(&["postgres-upgrade:rollback", "memo"]);
            assert_eq!(rollback.code, 0, "{what}:\n{}\n{}", rollback.stdout, rollback.stderr);
        }
        assert_eq!(journal_status(&sb)["status"], "rolled-back", "{what}");
        usable_on(&sb, "memo-db", &what);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let check = sb.sandbox(&["workload", "memo", "check"]).ok();
    assert!(check.contains(" lost=0 "), "{check}");

    // After the switch nothing goes back: what fails is said as commands to run, and once they
    // ran the app is as after an upgrade.
    fail_calls(&sb, &["dokku maintenance:disable memo", "dokku postgres:backup-schedule memo-next"]);
    let run = sb.dokku(&[&upgrade[..], &["--full-copy", "--format", "json"]].concat());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["status"], "upgraded-with-manual-steps");
    assert_eq!(
        report["manual_steps"],
        serde_json::json!([
            "dokku maintenance:disable memo",
            "dokku postgres:backup-schedule memo-next '0 3 * * *' memo-backups",
            "dokku postgres:destroy memo-db -f"
        ])
    );
    sb.dokku(&["maintenance:disable", "memo"]).ok();
    sb.dokku(&["postgres:backup-schedule", "memo-next", "0 3 * * *", "memo-backups"]).ok();
    sb.dokku(&["postgres:destroy", "memo-db", "-f"]).ok();
    usable_on(&sb, "memo-next", "after the manual steps");
    let next = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--dry-run"]);
    assert_eq!(next.code, 0, "{}", next.stderr);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let check = sb.sandbox(&["workload", "memo", "check"]).ok();
    assert!(check.contains(" lost=0 "), "{check}");
}
