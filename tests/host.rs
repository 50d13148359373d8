//! The plugin on a host as strict as dokku's where the plugin meets it: the deploy lock a
//! `git push` takes, in the sandbox, against real PostgreSQL servers.

mod support;

use std::os::unix::fs::PermissionsExt;
use support::Sandbox;

fn restarts(sb: &Sandbox, app: &str) -> Vec<String> {
    std::fs::read_to_string(sb.lib_root().join("data/apps").join(app).join("restarts.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_push_inside_the_window_is_refused_and_deploys_work_after_it() {
    let sb = Sandbox::up("host-deploy-lock");
    sb.dokku(&["apps:create", "memo"]).ok();
    sb.dokku(&["postgres:create", "memo-db", "-I", "15"]).ok();
    sb.dokku(&["postgres:link", "memo-db", "memo"]).ok();
    sb.sql("memo-db", "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    sb.dokku(&["ps:start", "memo"]).ok();

    // A `git push` just before the apps stop (step 6), while the deploys are locked.
    let push = sb.dir.join("push-now");
    let log = sb.dir.join("push.log");
    std::fs::write(
        &push,
        format!(
            "#!/usr/bin/env bash\n{} deploy {} memo >{} 2>&1; echo \"exit=$?\" >>{}\n",
            support::repo().join("tests/sandbox/sandbox").display(),
            sb.dir.display(),
            log.display(),
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&push, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hook = format!("stop-apps:{}", push.display());
    let run = sb.dokku_env(&[("POSTGRES_UPGRADE_HOOK_AT", hook.as_str())], &["postgres:upgrade", "memo", "-I", "17"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let pushed = std::fs::read_to_string(&log).unwrap();
    assert!(pushed.contains("memo currently has a deploy lock in place. Exiting..."), "{pushed}");
    assert!(pushed.ends_with("exit=1\n"), "{pushed}");
    // No deploy ran, the run needed no step by hand, and the app is deployable again.
    assert!(!restarts(&sb, "memo").contains(&"deploy".to_string()), "{:?}", restarts(&sb, "memo"));
    assert!(!run.stderr.contains("by hand"), "{}", run.stderr);
    sb.dokku(&["apps:locked", "memo"]).code(1);
    sb.sandbox(&["deploy", "memo"]).ok();
    assert_eq!(restarts(&sb, "memo").last().map(String::as_str), Some("deploy"));
}

#[test]
fn a_service_on_a_custom_network_is_copied_from_that_network() {
    let sb = Sandbox::up("host-network");
    sb.dokku(&["apps:create", "memo"]).ok();
    sb.dokku(&["postgres:create", "memo-db", "-I", "15", "--initial-network", "memo-net"]).ok();
    sb.dokku(&["postgres:link", "memo-db", "memo"]).ok();
    sb.sql("memo-db", "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2);");
    // As docker does: a legacy link from the default bridge to the service is refused.
    let run = sb.docker(&["run", "--rm", "--link", "dokku.postgres.memo-db:db", "busybox", "true"]).code(125);
    assert!(run.stderr.contains("as it does not belong to the default network"), "{}", run.stderr);
    sb.docker(&["run", "--rm", "--network=memo-net", "--link", "dokku.postgres.memo-db:db", "busybox", "true"]).ok();

    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-db17", "--format", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(sb.sql("memo-db17", "SELECT count(*) FROM t"), "2");
    let network = std::fs::read_to_string(sb.lib_root().join("config/postgres/memo-db17/initial-network")).unwrap();
    assert_eq!(network.trim(), "memo-net");
}

#[test]
fn dokku_postgres_upgrade_flags_mean_what_they_mean_there() {
    let sb = Sandbox::up("host-flags");
    sb.dokku(&["apps:create", "memo"]).ok();
    sb.dokku(&["postgres:create", "memo-db", "-I", "15"]).ok();
    sb.dokku(&["postgres:link", "memo-db", "memo"]).ok();
    // No -I: dokku-postgres's default, as its config exports it.
    let run = sb.dokku(&["postgres:upgrade", "memo", "--dry-run"]);
    assert!(format!("{}{}", run.stdout, run.stderr).contains("postgres:18.4"), "{run:?}");
    // ... or from POSTGRES_IMAGE_VERSION; short forms of dokku-postgres's flags, -R accepted.
    let env = [("POSTGRES_IMAGE_VERSION", "17")];
    let args =
        ["postgres:upgrade", "memo", "-s", "256mb", "-N", "memo-net", "-R", "true", "--new-service", "memo-db17"];
    let run = sb.dokku_env(&env, &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let service = sb.service_dir("memo-db17");
    assert_eq!(std::fs::read_to_string(service.join("IMAGE_VERSION")).unwrap().trim(), "17");
    assert_eq!(std::fs::read_to_string(service.join("SHM_SIZE")).unwrap().trim(), "256mb");
    let network = std::fs::read_to_string(sb.lib_root().join("config/postgres/memo-db17/initial-network")).unwrap();
    assert_eq!(network.trim(), "memo-net");
}

#[test]
fn the_hand_over_keeps_custom_env_and_never_shows_it() {
    let sb = Sandbox::up("host-hand-over");
    sb.dokku(&["postgres:create", "plain", "-I", "15.6", "-C", "TOKEN=s3cr3t-value;TZ=UTC"]).ok();
    let run = sb.dokku(&["postgres:upgrade", "plain", "-I", "15.18"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("handing over"), "{}", run.stdout);
    assert!(!format!("{}{}", run.stdout, run.stderr).contains("s3cr3t-value"), "{run:?}");
    let env = std::fs::read_to_string(sb.service_dir("plain").join("ENV")).unwrap();
    assert_eq!(env.lines().collect::<Vec<_>>(), ["TOKEN=s3cr3t-value", "TZ=UTC"]);
    assert_eq!(std::fs::read_to_string(sb.service_dir("plain").join("IMAGE_VERSION")).unwrap().trim(), "15.18");
}

#[test]
fn postgres_disable_pull_uses_only_images_already_here() {
    let sb = Sandbox::up("host-disable-pull");
    sb.dokku(&["apps:create", "memo"]).ok();
    sb.dokku(&["postgres:create", "memo-db", "-I", "15"]).ok();
    sb.dokku(&["postgres:link", "memo-db", "memo"]).ok();
    let env = [("POSTGRES_DISABLE_PULL", "true")];
    let run = sb.dokku_env(&env, &["postgres:upgrade", "memo", "-I", "17", "--dry-run"]).code(1);
    assert!(run.stderr.contains("POSTGRES_DISABLE_PULL forbids pulling it"), "{run:?}");
    assert!(!run.stdout.contains("Pulling"), "{}", run.stdout);
    sb.docker(&["pull", "postgres:17"]).ok();
    let out = sb.dokku_env(&env, &["postgres:upgrade", "memo", "-I", "17", "--dry-run"]).ok();
    assert!(out.contains("not pulling postgres:17"), "{out}");
}
