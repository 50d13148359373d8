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

/// A `git push` of memo just before the apps stop (step 6), while the deploys are locked, on a
/// host of the given dokku and dokku-maintenance versions: the push is refused as that dokku
/// refuses it, the upgrade goes on with that maintenance plugin's commands, and memo deploys
/// again afterwards. The lock file is where that dokku's push takes it (docs/deploy-lock.md).
fn a_push_inside_the_window(name: &str, versions: &[&str], lock: &str) {
    let sb = Sandbox::up_with(name, versions);
    sb.dokku(&["apps:create", "memo"]).ok();
    sb.dokku(&["postgres:create", "memo-db", "-I", "15"]).ok();
    sb.dokku(&["postgres:link", "memo-db", "memo"]).ok();
    sb.sql("memo-db", "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    sb.dokku(&["ps:start", "memo"]).ok();

    // An app not linked to memo-db that holds its URL is found, wherever this dokku keeps its
    // config (preflight reads the files and asks config:export only of the ones that name the
    // service); one whose URL names another service is not.
    let url = sb.config("memo")["DATABASE_URL"].clone();
    for (app, value) in [("reports", url.as_str()), ("elsewhere", "postgres://u:p@dokku-postgres-memo-db2:5432/x")] {
        sb.dokku(&["apps:create", app]).ok();
        sb.dokku(&["config:set", "--no-restart", app, &format!("REPORTING_URL={value}")]).ok();
    }
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--dry-run"]).code(1);
    assert!(run.stderr.contains("App reports refers to service memo-db in REPORTING_URL"), "{}", run.stderr);
    assert!(!run.stderr.contains("App elsewhere"), "{}", run.stderr);
    sb.dokku(&["config:unset", "--no-restart", "reports", "REPORTING_URL"]).ok();

    // The hook runs as the dokku user, who may write only the log given to it: whether
    // maintenance is on goes there too, before the push.
    let push = sb.dir.join("push-now");
    let log = support::dokku_file(&sb.dir.join("push.log"));
    std::fs::write(
        &push,
        format!(
            "#!/usr/bin/env bash\n\
             [ -f {dir}/home/dokku/memo/nginx.conf.d/maintenance.conf ] && echo maintenance=on >>{log}\n\
             {sandbox} deploy {dir} memo >>{log} 2>&1; echo \"exit=$?\" >>{log}\n",
            sandbox = support::repo().join("tests/sandbox/sandbox").display(),
            dir = sb.dir.display(),
            log = log.display(),
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
    // No deploy ran, the run needed no step by hand, no lock file is left, and memo deploys again.
    assert!(!restarts(&sb, "memo").contains(&"deploy".to_string()), "{:?}", restarts(&sb, "memo"));
    assert!(!run.stderr.contains("by hand"), "{}", run.stderr);
    assert!(!sb.dir.join(lock).exists(), "{lock} is left");
    assert!(
        !sb.lib_root().join("data/apps/memo/.deploy.lock").exists()
            && !sb.dir.join("home/dokku/memo/.deploy.lock").exists()
    );
    sb.dokku(&["apps:locked", "memo"]).code(1);
    sb.sandbox(&["deploy", "memo"]).ok();
    assert_eq!(restarts(&sb, "memo").last().map(String::as_str), Some("deploy"));
    // Maintenance went on and off with that release's commands, and is off.
    assert!(pushed.starts_with("maintenance=on\n"), "maintenance was not on inside the window: {pushed}");
    assert!(!sb.dir.join("home/dokku/memo/nginx.conf.d/maintenance.conf").exists());
}

#[test]
fn a_push_inside_the_window_is_refused_on_dokku_0_38_with_maintenance_0_6() {
    a_push_inside_the_window(
        "host-deploy-lock",
        &["--maintenance-version", "0.6.0"],
        "var/lib/dokku/data/apps/memo/.deploy.lock",
    );
}

/// dokku 0.30 to 0.33 lock `$DOKKU_ROOT/APP/.deploy.lock`; dokku-maintenance 0.5 has only
/// `maintenance:on`/`off` and `dokku maintenance APP`.
#[test]
fn a_push_inside_the_window_is_refused_on_dokku_0_32_with_maintenance_0_5() {
    a_push_inside_the_window(
        "host-deploy-lock-0.32",
        &["--dokku-version", "0.32.4", "--maintenance-version", "0.5.0"],
        "home/dokku/memo/.deploy.lock",
    );
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

/// dokku-postgres's own upgrade keeps answering its own flags (docs/dokku-datastore.md): a
/// `--definition` call is handed to dokku-postgres's `subcommands/upgrade` with its arguments
/// unchanged once dokku-postgres has its dokku-datastore binary, and refused, with nothing done,
/// by 1.48, whose upgrade would ignore the flag and upgrade in place.
#[test]
fn dokku_postgres_own_flags_reach_dokku_postgres_unchanged() {
    let sb = Sandbox::up("host-pass-through");
    sb.dokku(&["postgres:create", "plain", "-I", "15.6"]).ok();
    let args = ["postgres:upgrade", "plain", "--definition", "postgres-18", "-I", "18"];
    let run = sb.dokku(&args).code(1);
    assert!(run.stderr.contains("--definition is a flag of dokku-postgres's own upgrade"), "{}", run.stderr);
    assert!(run.stderr.contains("(1.48.0)"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(sb.service_dir("plain").join("IMAGE_VERSION")).unwrap().trim(), "15.6");

    // A dokku-postgres after #390: its binary is there, and its upgrade (a stand-in that records
    // what it was given, dokku-postgres's part not being this plugin's) answers. Both are the
    // dokku user's, as dokku-postgres's files are; the stand-in runs as that user, so it records
    // into a folder of that user's.
    let datastore = sb.lib_root().join("data/postgres/dokku-datastore");
    std::fs::create_dir_all(datastore.parent().unwrap()).unwrap();
    support::give_to_dokku(datastore.parent().unwrap());
    support::dokku_file(&datastore);
    let upgrade = sb.lib_root().join("plugins/available/postgres/subcommands/upgrade");
    let record = sb.dir.join("upgrade-record");
    std::fs::create_dir(&record).unwrap();
    support::give_to_dokku(&record);
    let seen = record.join("argv");
    std::fs::remove_file(&upgrade).unwrap();
    std::fs::write(&upgrade, format!("#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" >{}\nexit 7\n", seen.display()))
        .unwrap();
    std::fs::set_permissions(&upgrade, std::fs::Permissions::from_mode(0o755)).unwrap();
    support::give_to_dokku(&upgrade);
    let run = sb.dokku(&args);
    assert_eq!(run.code, 7, "dokku-postgres's exit code is the answer: {run:?}");
    assert!(run.stdout.contains("handing postgres:upgrade to dokku-postgres unchanged"), "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(&seen).unwrap().lines().collect::<Vec<_>>(), args);
    // Without that flag the call stays this plugin's: dokku-postgres's upgrade is not run.
    std::fs::remove_file(&seen).unwrap();
    let run = sb.dokku(&["postgres:upgrade", "plain", "-I", "17", "--dry-run"]);
    assert!(!run.stdout.contains("handing postgres:upgrade") && !seen.exists(), "{run:?}");
}

/// With dokku-acl, every dokku command the upgrade runs is asked again as the user who ran it
/// over ssh (docs/dokku-acl.md). A user allowed to read but not to change is refused in
/// preflight, every refused command named, before anything is changed; DOKKU_SUPER_USER runs it.
#[test]
fn dokku_acl_refusals_are_named_in_preflight() {
    let sb = Sandbox::up("host-acl");
    sb.app_on_service("memo", "memo-db", "15");
    // Files as plugin:install, acl:add and acl:add-service leave them: the dokku user's.
    let acl = sb.lib_root().join("plugins/available/acl");
    std::fs::create_dir_all(&acl).unwrap();
    support::give_to_dokku(&acl);
    for file in ["plugin.toml", "user-auth"] {
        std::fs::copy(support::repo().join("tests/sandbox/plugins/acl").join(file), acl.join(file)).unwrap();
        support::give_to_dokku(&acl.join(file));
    }
    sb.dokku(&["plugin:enable", "acl"]).ok();
    for dir in [sb.dir.join("home/dokku/memo/acl"), sb.service_dir("memo-db").join("acl")] {
        std::fs::create_dir_all(&dir).unwrap();
        support::give_to_dokku(&dir);
        support::dokku_file(&dir.join("alice"));
    }
    let rc = "export DOKKU_ACL_USER_COMMANDS=\"apps:list config:export postgres:app-links\"\n\
              export DOKKU_ACL_PER_APP_COMMANDS=\"postgres:upgrade apps:exists apps:locked ps:report maintenance:report docker-options:report\"\n\
              export DOKKU_ACL_PER_SERVICE_COMMANDS=\"postgres:info postgres:links postgres:backup-schedule-cat\"\n";
    std::fs::write(support::dokku_file(&sb.dir.join("home/dokku/dokkurc")), rc).unwrap();

    // Over ssh, as dokku-acl's users come: root's own commands are root's, which it never refuses.
    let upgrade = ["postgres:upgrade", "memo", "-I", "17", "--dry-run"];
    let as_key = |key: &str| sb.sandbox(&[&["ssh", key][..], &upgrade[..]].concat());
    let run = as_key("alice").code(1);
    assert!(run.stderr.contains("would refuse") && run.stderr.contains("as user alice"), "{}", run.stderr);
    for refused in [
        "dokku postgres:create memo-",
        "dokku apps:lock memo",
        "dokku config:set --no-restart memo",
        "dokku ps:stop memo",
        "dokku postgres:link memo-",
    ] {
        assert!(run.stderr.contains(refused), "{refused} not named:\n{}", run.stderr);
    }
    assert!(run.stderr.contains("User alice does not have permissions to run postgres:create"), "{}", run.stderr);
    assert_eq!(sb.services(), ["memo-db"]);
    // Another user of the same commands is refused at the first one, by dokku itself.
    let run = as_key("bob");
    assert!(run.code != 0 && run.stderr.contains("Access denied"), "{run:?}");
    // The super user runs it, and so does root on the host.
    sb.dokku(&upgrade).ok();
    std::fs::write(sb.dir.join("home/dokku/dokkurc"), format!("{rc}export DOKKU_SUPER_USER=alice\n")).unwrap();
    as_key("alice").ok();
}
