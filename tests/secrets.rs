//! No secret in any process's arguments from this plugin: every process on the machine is
//! sampled while an upgrade with S3 backups (credentials and a passphrase) runs, and while one
//! rolls back. The plugin's own are its binary and the commands it runs; what those commands run
//! in turn is dokku's and dokku-postgres's (their `postgres:link` sets the URL with `config:set`,
//! their `postgres:backup` passes the password and the S3 secret to `docker`: README,
//! "Security"), and in the sandbox its imitation of docker.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use support::Sandbox;

/// Every process's command line seen, with its ancestors' command lines, until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn cmdline(pid: &str) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(String::from_utf8_lossy(&raw).replace('\0', " ").trim().to_string())
}

fn parent(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1).map(String::from)
}

impl Sampler {
    fn start() -> Sampler {
        let (stop, seen) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(BTreeMap::new())));
        let (s, m) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let pid = entry.file_name().to_string_lossy().into_owned();
                    if !pid.chars().all(|c| c.is_ascii_digit()) {
                        continue;
                    }
                    let Some(line) = cmdline(&pid) else { continue };
                    if line.is_empty() || m.lock().unwrap().contains_key(&line) {
                        continue;
                    }
                    let mut ancestors = Vec::new();
                    let mut at = pid.clone();
                    while let Some(p) = parent(&at).filter(|p| p != "0" && p != "1") {
                        ancestors.extend(cmdline(&p));
                        at = p;
                    }
                    m.lock().unwrap().insert(line, ancestors);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        Sampler { stop, seen, thread: Some(thread) }
    }

    /// The plugin's command lines holding one of `secrets`.
    fn leaks(mut self, secrets: &[String]) -> Vec<String> {
        let ours = |line: &str| line.split_whitespace().next().is_some_and(|p| p.ends_with("postgres-upgrade"));
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        let seen = self.seen.lock().unwrap();
        assert!(seen.len() > 50, "the sampler saw only {} processes", seen.len());
        assert!(seen.iter().any(|(_, a)| a.first().is_some_and(|p| ours(p))), "no command of the plugin was seen");
        seen.iter()
            .filter(|(line, _)| secrets.iter().any(|s| line.contains(s.as_str())))
            .filter(|(line, ancestors)| ours(line) || ancestors.first().is_some_and(|p| ours(p)))
            .map(|(line, _)| line.clone())
            .collect()
    }
}

fn password(sb: &Sandbox, service: &str) -> String {
    std::fs::read_to_string(sb.service_dir(service).join("PASSWORD")).unwrap().trim().to_string()
}

#[test]
fn no_secret_reaches_a_process_argument_in_an_upgrade_or_a_rollback() {
    let sb = Sandbox::up("secrets");
    sb.dokku(&["apps:create", "memo"]).ok();
    // A custom env holding a token: the new service gets it too, never on a command line.
    let token = "custom-env-token-Rw4p";
    sb.dokku(&["postgres:create", "memo-db", "-I", "15", "-C", &format!("APP_TOKEN={token}")]).ok();
    sb.dokku(&["postgres:link", "memo-db", "memo", "--no-restart"]).ok();
    sb.sql("memo-db", "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('a');");
    // Set up as a user would (these three commands are the user's own, not the plugin's).
    let (key, secret, passphrase) = ("AKIAEXAMPLEKEY", "s3-secret-Zq8u2LxY", "passphrase-Hk3vWq9");
    sb.dokku(&["postgres:backup-auth", "memo-db", key, secret]).ok();
    sb.dokku(&["postgres:backup-set-encryption", "memo-db", passphrase]).ok();
    sb.dokku(&["postgres:backup-schedule", "memo-db", "0 3 * * *", "memo-bucket"]).ok();
    sb.sandbox(&["workload", "memo", "on"]).ok();
    sb.dokku(&["ps:start", "memo"]).ok();

    let (old_password, sampler) = (password(&sb, "memo-db"), Sampler::start());
    // First a rollback: a restore that fails for real (a library the 17 image lacks).
    let bad = "CREATE FUNCTION lib_version() RETURNS text AS '$libdir/postgis-3', 'postgis_lib_version' LANGUAGE C;";
    sb.sql("memo-db", bad);
    // Both online: the new server's subscription holds the old service's password.
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--online"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(sb.services(), ["memo-db"]);
    // Then an upgrade that goes through.
    sb.sql("memo-db", "DROP FUNCTION lib_version();");
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["copy"]["method"], "online", "{report}");
    assert_eq!(
        std::fs::read_to_string(sb.service_dir("memo-v17").join("ENV")).unwrap().trim(),
        format!("APP_TOKEN={token}")
    );
    // The keys of the catch-up's fingerprints and of verification (drawn at random, never
    // known here) go to the servers with the setting that holds them: its name in an argument
    // would be the key there too.
    let secrets = [
        secret.to_string(),
        passphrase.to_string(),
        token.to_string(),
        old_password,
        password(&sb, "memo-v17"),
        "postgres_upgrade.catch_up_key".to_string(),
        "postgres_upgrade.verifier_key".to_string(),
    ];
    let leaks = sampler.leaks(&secrets);
    assert!(leaks.is_empty(), "secrets in process arguments:\n{}", leaks.join("\n"));
    // The backups were carried over and work (the plugin's own test backup ran).
    let carried = std::fs::read_to_string(sb.service_dir("memo-v17").join("backup/AWS_SECRET_ACCESS_KEY")).unwrap();
    assert_eq!(carried.trim(), secret);
    assert!(!run.stderr.contains(secret) && !run.stdout.contains(secret));
    // Nor in the journal, the report, the output, or the new server's catalog once it is done.
    let journal = std::fs::read_to_string(sb.lib_root().join("data/postgres-upgrade/apps/memo/journal.json")).unwrap();
    for text in [&journal, &run.stdout, &run.stderr] {
        assert!(!secrets.iter().any(|s| text.contains(s.as_str())), "a secret in:\n{text}");
    }
    assert_eq!(sb.sql("memo-v17", "SELECT count(*) FROM pg_subscription"), "0");
}
