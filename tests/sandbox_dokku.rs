//! The sandbox's dokku: dispatch as dokku's entry script does it, the core commands (apps, config,
//! ps, docker-options, plugin), the maintenance plugin and the app workload.
//! Facts pinned here come from docs/dokku-host.md, docs/plugin-lifecycle.md and
//! docs/dokku-postgres-service.md.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;
use support::{Run, Sandbox};

/// Writes an executable script.
fn script(path: &Path, body: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn enabled(sb: &Sandbox) -> std::path::PathBuf {
    sb.lib_root().join("plugins/enabled")
}

fn app_data(sb: &Sandbox, app: &str) -> std::path::PathBuf {
    sb.lib_root().join("data/apps").join(app)
}

fn restarts(sb: &Sandbox, app: &str) -> Vec<String> {
    fs::read_to_string(app_data(sb, app).join("restarts.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        .collect()
}

#[track_caller]
fn fails(run: Run, code: i32, stderr_has: &str) -> Run {
    let run = run.code(code);
    assert!(run.stderr.contains(stderr_has), "stderr lacks {stderr_has:?}:\n{}", run.stderr);
    run
}

/// Parses `acked=N present=N lost=N max_gap_ms=N`.
fn check_numbers(line: &str) -> std::collections::HashMap<String, i64> {
    assert_eq!(line.trim().lines().count(), 1, "check prints one line: {line:?}");
    line.split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_string(), v.parse().expect("number"))
        })
        .collect()
}

const ARGS_PLUGIN: &str = r#"#!/usr/bin/env bash
printf '<%s>' "$@"; echo
echo "flags=$DOKKU_GLOBAL_FLAGS|trace=${DOKKU_TRACE-unset}|quiet=${DOKKU_QUIET_OUTPUT-unset}|app=${DOKKU_APP_NAME-unset}|force=${DOKKU_APPS_FORCE_DELETE-unset}"
for v in DOKKU_ROOT DOKKU_LIB_ROOT PLUGIN_PATH PLUGIN_AVAILABLE_PATH PLUGIN_ENABLED_PATH PLUGIN_CORE_PATH PLUGIN_CORE_AVAILABLE_PATH PLUGIN_CORE_ENABLED_PATH DOKKU_NOT_IMPLEMENTED_EXIT DOKKU_VALID_EXIT DOKKU_API_VERSION DOCKER_BIN; do echo "$v=${!v}"; done
echo "pid=${DOKKU_PID:+set}"
exit 42
"#;

#[test]
fn a_nested_dokku_keeps_the_outer_global_flags() {
    let sb = Sandbox::up("dokku-nested-flags");
    script(&enabled(&sb).join("testp/subcommands/args"), ARGS_PLUGIN);
    script(&enabled(&sb).join("outer/subcommands/call"), "#!/usr/bin/env bash\ndokku testp:args inner --no-restart\n");
    let run = sb.dokku(&["outer:call", "--image-version", "17"]).code(42);
    // dokku's parse_args sets DOKKU_GLOBAL_FLAGS only when it is empty.
    assert!(run.stdout.contains("flags=--image-version|"), "{}", run.stdout);
    let run = sb.dokku(&["testp:args", "inner", "--no-restart"]).code(42);
    assert!(run.stdout.contains("flags=--no-restart|"), "{}", run.stdout);
}

/// A plugin command that reports who runs it and what that user may do on the host.
const WHO_PLUGIN: &str = r#"#!/usr/bin/env bash
echo "user=$(id -un) groups=$(id -Gn)"
touch /etc/cron.d/direct 2>/dev/null && echo "cron.d writable" || echo "cron.d refused"
touch "$DOKKU_LIB_ROOT/plugins/refused" 2>/dev/null && echo "plugins writable" || echo "plugins refused"
sudo /bin/rm -f /etc/cron.d/dokku-postgres-nothing && echo "sudo rm allowed"
sudo /bin/rm -f /etc/cron.d/other && echo "sudo other allowed"
sudo -u root true && echo "sudo true allowed"
docker image ls -q >/dev/null && echo "docker answers"
dokku plugin:installed maintenance && echo "plugin:* allowed"
exit 0
"#;

#[test]
fn commands_run_as_the_unprivileged_dokku_user_with_what_sudoers_allows() {
    let sb = Sandbox::up("dokku-users");
    script(&enabled(&sb).join("who/subcommands/am-i"), WHO_PLUGIN);
    // Triggers of plugin:* run as root, as dokku's plugin:* commands do.
    script(
        &enabled(&sb).join("who/whoami-trigger"),
        "#!/usr/bin/env bash
id -un
",
    );
    assert_eq!(sb.dokku(&["plugin:trigger", "whoami-trigger"]).ok(), "root\n");

    // The sandbox's /etc/cron.d and /etc/sudoers.d are those dokku's plugins see, root's.
    let cron = sb.dir.join("etc/cron.d");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(&cron).unwrap().uid(), 0);
    fs::write(
        sb.dir.join("etc/sudoers.d/dokku-postgres"),
        "%dokku ALL=(ALL) NOPASSWD:/bin/rm -f /etc/cron.d/dokku-postgres-*\n",
    )
    .unwrap();
    fs::write(cron.join("dokku-postgres-nothing"), "").unwrap();

    let run = sb.dokku(&["who:am-i"]).code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "user=dokku groups=dokku docker", "{run:?}");
    assert_eq!(&lines[1..], ["cron.d refused", "plugins refused", "sudo rm allowed", "docker answers"], "{run:?}");
    assert!(!cron.join("dokku-postgres-nothing").exists(), "removed through sudo");
    assert!(!cron.join("direct").exists());
    // What no rule allows needs a password, and nothing can give one.
    assert_eq!(run.stderr.matches("sudo: a password is required").count(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("This command must be run as root"), "{}", run.stderr);

    // dokku's files are the dokku user's.
    sb.dokku(&["apps:create", "mine"]).ok();
    sb.dokku(&["config:set", "--no-restart", "mine", "K=v"]).ok();
    let (uid, _) = support::dokku_user();
    for path in ["home/dokku/mine", "var/lib/dokku/config/mine/ENV", "var/lib/dokku/data/apps/mine"] {
        assert_eq!(fs::metadata(sb.dir.join(path)).unwrap().uid(), uid.as_raw(), "{path}");
    }
    // Someone outside the docker group gets docker's refusal.
    let nobody = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(sb.dir.join("bin/docker"))
        .args(["ps"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&nobody.stderr)
            .contains("permission denied while trying to connect to the Docker daemon socket"),
        "{nobody:?}"
    );

    bash_plugins_find_dokkus_functions(&sb);
}

/// A bash plugin using the functions dokku offers bash plugins, as dokku-postgres does.
const FUNCTIONS_PLUGIN: &str = r#"#!/usr/bin/env bash
set -eo pipefail
source "$PLUGIN_CORE_AVAILABLE_PATH/common/functions"
source "$PLUGIN_CORE_AVAILABLE_PATH/common/property-functions"
source "$PLUGIN_AVAILABLE_PATH/config/functions"
source "$PLUGIN_AVAILABLE_PATH/ps/functions"
fn-plugin-property-setup fnp
fn-plugin-property-write fnp svc key "a value"
echo "get=$(fn-plugin-property-get fnp svc key) default=$(fn-plugin-property-get fnp svc none dflt)"
fn-plugin-property-delete fnp svc key
fn-plugin-property-exists fnp svc key || echo "deleted"
fn-plugin-property-write fnp svc other x
fn-plugin-property-destroy fnp svc
[[ -d "$DOKKU_LIB_ROOT/config/fnp/svc" ]] || echo "destroyed"
config_set --no-restart app "DATABASE_URL=postgres://u:p@h:5432/d" >/dev/null
echo "get=$(config_get app DATABASE_URL)"
config_all app | grep -F "postgres://u:p@h:5432/d" | cut -d: -f1
fn-in-array b a b c && echo "in array"
fn-in-array z a b c || echo "not in array"
suppress_output echo hidden
suppress_output bash -c 'echo shown; exit 3' || echo "code=$?"
type ps_start >/dev/null 2>&1 || echo "no ps_start"
echo "running=$(fn-ps-is-app-running app)"
DOKKU_FORCE_TTY=true has_tty && echo "forced tty"
has_tty || echo "no tty"
"#;

/// In the sandbox of `commands_run_as_the_unprivileged_dokku_user_with_what_sudoers_allows`.
fn bash_plugins_find_dokkus_functions(sb: &Sandbox) {
    sb.dokku(&["apps:create", "app"]).ok();
    script(&enabled(sb).join("fnp/subcommands/use"), FUNCTIONS_PLUGIN);
    let out = sb.dokku(&["fnp:use"]).ok();
    assert_eq!(
        out,
        "get=a value default=dflt\ndeleted\ndestroyed\nget=postgres://u:p@h:5432/d\nDATABASE_URL\nin array\nnot in array\nshown\ncode=3\nno ps_start\nrunning=false\nforced tty\nno tty\n"
    );
    // Properties are the dokku user's files, 0600 in 0755 folders.
    sb.dokku(&["fnp:use"]).ok();
    let root = sb.lib_root().join("config/fnp");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(&root).unwrap().permissions().mode() & 0o777, 0o755);
}

#[test]
fn dispatch_runs_a_plugin_subcommand_with_argv_and_env_as_dokku_does() {
    let sb = Sandbox::up("dokku-dispatch-argv");
    script(&enabled(&sb).join("testp/subcommands/args"), ARGS_PLUGIN);
    let run = sb.dokku(&["--quiet", "--app", "myapp", "testp:args", "a b", "--trace", "c"]).code(42);
    let mut lines = run.stdout.lines();
    // The full command is $1; a trailing --trace stays in argv; only leading flags are stripped.
    assert_eq!(lines.next().unwrap(), "<testp:args><a b><--trace><c>");
    assert_eq!(lines.next().unwrap(), "flags=--quiet --app --trace|trace=1|quiet=1|app=myapp|force=unset");
    let lib = sb.lib_root();
    let lib = lib.to_str().unwrap();
    let env: Vec<&str> = lines.collect();
    for want in [
        format!("DOKKU_ROOT={}", sb.dir.join("home/dokku").display()),
        format!("DOKKU_LIB_ROOT={lib}"),
        format!("PLUGIN_PATH={lib}/plugins"),
        format!("PLUGIN_AVAILABLE_PATH={lib}/plugins/available"),
        format!("PLUGIN_ENABLED_PATH={lib}/plugins/enabled"),
        format!("PLUGIN_CORE_PATH={lib}/core-plugins"),
        format!("PLUGIN_CORE_AVAILABLE_PATH={lib}/core-plugins/available"),
        format!("PLUGIN_CORE_ENABLED_PATH={lib}/core-plugins/enabled"),
        "DOKKU_NOT_IMPLEMENTED_EXIT=10".to_string(),
        "DOKKU_VALID_EXIT=0".to_string(),
        "DOKKU_API_VERSION=1".to_string(),
        format!("DOCKER_BIN={}", sb.dir.join("bin/docker").display()),
        "pid=set".to_string(),
    ] {
        assert!(env.contains(&want.as_str()), "missing {want:?} in {env:?}");
    }

    // Without flags: no QUIET/TRACE/APP; --force sets DOKKU_APPS_FORCE_DELETE.
    let out = sb.dokku(&["testp:args", "x", "--force"]).code(42).stdout;
    assert!(out.contains("<testp:args><x><--force>"), "{out}");
    assert!(out.contains("flags=--force|trace=unset|quiet=unset|app=unset|force=1"), "{out}");
}

#[test]
fn dispatch_sources_dokkurc_and_rewrites_app_only_for_core_plugins() {
    let sb = Sandbox::up("dokku-dispatch-rc");
    let root = sb.dir.join("home/dokku");
    fs::write(root.join("dokkurc"), "export FROM_RC=main\n").unwrap();
    fs::create_dir_all(root.join(".dokkurc")).unwrap();
    fs::write(root.join(".dokkurc/extra"), "export FROM_RC_DIR=dir\n").unwrap();
    script(&enabled(&sb).join("rc/subcommands/show"), "#!/usr/bin/env bash\necho \"$FROM_RC $FROM_RC_DIR $*\"\n");
    // A community plugin gets its argv as typed, even with --app.
    assert_eq!(sb.dokku(&["--app", "app", "rc:show", "x"]).ok(), "main dir rc:show x\n");
    // A core plugin gets the app inserted after the command.
    sb.dokku(&["apps:create", "app"]).ok();
    sb.dokku(&["config:set", "--no-restart", "app", "K=v"]).ok();
    assert_eq!(sb.dokku(&["--app", "app", "config:keys"]).ok(), "K\n");
    assert_eq!(sb.dokku(&["--app", "app", "config:get", "K"]).ok(), "v\n");
    // Bare `dokku` prints the help.
    assert!(sb.dokku(&[]).ok().starts_with("Usage: dokku"));
}

#[test]
fn dispatch_lookup_order_default_subcommand_wins() {
    let sb = Sandbox::up("dokku-dispatch-order");
    let en = enabled(&sb);
    script(&en.join("fakepg/subcommands/upgrade"), "#!/usr/bin/env bash\necho \"plugin upgrade $*\"\n");
    script(&en.join("fakepg/subcommands/default"), "#!/usr/bin/env bash\necho \"plugin default $*\"\n");
    // Branch 3: <plugin>/subcommands/<cmd> gets the full command as $1.
    assert_eq!(sb.dokku(&["fakepg:upgrade", "db"]).ok(), "plugin upgrade fakepg:upgrade db\n");
    // subcommands/default of `fakepg` only fires for the bare name.
    assert_eq!(sb.dokku(&["fakepg", "x"]).ok(), "plugin default fakepg x\n");
    // Branch 1: a directory named after the full command with subcommands/default wins.
    script(&en.join("fakepg:upgrade/subcommands/default"), "#!/usr/bin/env bash\necho \"colon default $*\"\n");
    assert_eq!(sb.dokku(&["fakepg:upgrade", "db"]).ok(), "colon default fakepg:upgrade db\n");
    // A non-executable default is skipped.
    fs::set_permissions(en.join("fakepg:upgrade/subcommands/default"), fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(sb.dokku(&["fakepg:upgrade", "db"]).ok(), "plugin upgrade fakepg:upgrade db\n");
}

#[test]
fn postgres_upgrade_route_wins_over_dokku_postgres_upgrade() {
    let sb = Sandbox::up("dokku-dispatch-pgupgrade");
    let route = enabled(&sb).join("postgres:upgrade/subcommands/default");
    assert!(route.is_file(), "the plugin's install trigger made {}", route.display());
    assert!(enabled(&sb).join("postgres/subcommands/upgrade").is_file(), "dokku-postgres ships subcommands/upgrade");
    fs::remove_file(&route).unwrap();
    script(&route, "#!/usr/bin/env bash\necho \"routed $*\"\n");
    assert_eq!(sb.dokku(&["postgres:upgrade", "db", "-I", "17"]).ok(), "routed postgres:upgrade db -I 17\n");
    // Without the route, dokku-postgres's own subcommand gets the call.
    fs::remove_file(enabled(&sb).join("postgres:upgrade")).unwrap();
    let run = sb.dokku(&["postgres:upgrade", "nosuch-db"]);
    assert!(!run.stdout.contains("routed"), "{run:?}");
    assert!(run.stderr.contains("nosuch-db"), "postgres's upgrade answered: {run:?}");
}

/// A plugin in available/ (enabled unless `enable` is false) whose HOOK triggers append their
/// name to DIR/hooks.log; a `fail` body makes the trigger exit 1.
fn marking_plugin(sb: &Sandbox, name: &str, hooks: &[&str], body: &str, enable: bool) {
    let dir = sb.lib_root().join("plugins/available").join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("plugin.toml"), "[plugin]\ndescription = \"t\"\nversion = \"1\"\n[plugin.config]\n").unwrap();
    let log = sb.dir.join("hooks.log");
    if !log.exists() {
        // Triggers of dokku commands run as the dokku user.
        support::dokku_file(&log);
    }
    for hook in hooks {
        script(
            &dir.join(hook),
            &format!("#!/usr/bin/env bash\necho \"{name} {hook} $*\" >>{}\n{body}\n", log.display()),
        );
    }
    if enable {
        sb.dokku(&["plugin:enable", name]).ok();
    }
}

fn hooks_log(sb: &Sandbox) -> String {
    fs::read_to_string(sb.dir.join("hooks.log")).unwrap_or_default()
}

#[test]
fn plugn_update_fails_on_a_bare_enabled_directory_and_plugin_update_stops_there() {
    let sb = Sandbox::up("dokku-plugn-update");
    marking_plugin(&sb, "zz-later", &["update"], "", true);
    // A directory in enabled/ with no counterpart in available/, as an old route was.
    script(&enabled(&sb).join("aa:bare/subcommands/default"), "#!/usr/bin/env bash\n");
    let run = sb.dokku(&["plugin:update"]).code(1);
    assert!(run.stdout.contains("Plugin (aa:bare) not installed"), "{run:?}");
    assert_eq!(hooks_log(&sb), "", "the update trigger never ran");
    // plugin:update NAME refuses names plugn could not update, and core plugins.
    fails(sb.dokku(&["plugin:update", "aa:bare"]), 1, "Invalid plugin name specified");
    fails(sb.dokku(&["plugin:update", "apps"]), 1, "Cannot trigger plugin:update against core plugin");
    fs::remove_dir_all(enabled(&sb).join("aa:bare")).unwrap();
    let out = sb.dokku(&["plugin:update"]).ok();
    assert!(out.contains("Plugin (zz-later) not managed by git"), "{out}");
    assert_eq!(hooks_log(&sb), "zz-later update \n");
}

#[test]
fn plugn_triggers_only_enabled_plugins_and_stops_at_the_first_failure() {
    let sb = Sandbox::up("dokku-plugn-trigger");
    marking_plugin(&sb, "aa-fails", &["install"], "exit 1", true);
    marking_plugin(&sb, "zz-later", &["install", "uninstall"], "", true);
    fails(sb.dokku(&["plugin:install"]), 1, "");
    assert_eq!(hooks_log(&sb), "aa-fails install \n", "plugn stopped at the failing trigger");
    sb.dokku(&["plugin:uninstall", "aa-fails"]).ok();
    // A disabled plugin hears nothing, not even its own uninstall.
    sb.dokku(&["plugin:disable", "zz-later"]).ok();
    fails(sb.dokku(&["plugin:disable", "zz-later"]), 1, "Plugin already disabled");
    fails(sb.dokku(&["plugin:disable", "apps"]), 1, "Cannot disable a core plugin");
    sb.dokku(&["plugin:uninstall", "zz-later"]).ok();
    assert_eq!(
        hooks_log(&sb),
        "aa-fails install \nzz-later uninstall aa-fails\n",
        "every enabled plugin hears an uninstall"
    );
    assert!(!sb.lib_root().join("plugins/available/zz-later").exists());
    fails(sb.dokku(&["plugin:uninstall", "zz-later"]), 1, "Plugin (zz-later) is not currently installed");
}

#[test]
fn plugin_install_clones_enables_and_chowns_before_any_other_trigger() {
    let sb = Sandbox::up("dokku-plugin-install");
    let source = sb.sandbox(&["git-source"]).ok().trim().to_string();
    sb.dokku(&["plugin:uninstall", "postgres-upgrade"]).ok();
    let url = format!("file://{source}");
    let run = sb.dokku_env(
        // No cargo on PATH: the install trigger builds nothing (tests/install.rs covers it).
        &[("DOKKU_SYSTEM_USER", "nobody"), ("DOKKU_SYSTEM_GROUP", "nogroup"), ("PATH", "/usr/local/bin:/usr/bin:/bin")],
        &["plugin:install", &url, "--name", "postgres-upgrade"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let checkout = sb.lib_root().join("plugins/available/postgres-upgrade");
    assert!(checkout.join(".git").is_dir(), "a real clone");
    let owner = Command::new("stat").args(["-c", "%U"]).arg(&checkout).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), "nobody");
    // As on the host, root's git refuses the clone until plugn update trusts it.
    let refused = Command::new("git")
        .args(["-C"])
        .arg(&checkout)
        .args(["remote", "get-url", "origin"])
        .env("GIT_CONFIG_GLOBAL", sb.dir.join("root/.gitconfig"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("dubious ownership"), "{refused:?}");
    let out = sb.dokku_env(&[("PATH", "/usr/local/bin:/usr/bin:/bin")], &["plugin:update", "postgres-upgrade"]).ok();
    assert!(out.contains("Plugin (postgres-upgrade) updated"), "{out}");
    // Installing the same URL again keeps the clone, then fails to enable it again, as dokku's.
    let run = fails(sb.dokku(&["plugin:install", &url, "--name", "postgres-upgrade"]), 1, "Plugin already enabled");
    assert!(run.stderr.contains("Plugin 'postgres-upgrade' is already installed."), "{run:?}");
}

#[test]
fn dispatch_commands_loop_and_unknown_command() {
    let sb = Sandbox::up("dokku-dispatch-loop");
    let en = enabled(&sb);
    let handler = |name: &str| {
        format!(
            "#!/usr/bin/env bash\ncase \"$1\" in\n  shared:cmd) echo \"{name} handled $*\" ;;\n  fail:cmd) [[ {name} == bb ]] && exit 3; exit 10 ;;\n  *) exit 10 ;;\nesac\n"
        )
    };
    script(&en.join("aa/commands"), &handler("aa"));
    script(&en.join("bb/commands"), &handler("bb"));
    // Every commands script exiting 0 runs, in glob order.
    assert_eq!(sb.dokku(&["shared:cmd", "x y"]).ok(), "aa handled shared:cmd x y\nbb handled shared:cmd x y\n");
    // A handler's non-zero, non-10 exit becomes dokku's.
    sb.dokku(&["fail:cmd"]).code(3);
    // Nobody handles it: dokku's message and exit 1.
    let run = fails(sb.dokku(&["nothing:here", "a", "b"]), 1, " !     `nothing:here a b` is not a dokku command.");
    assert_eq!(run.stdout, "");
    fails(sb.dokku(&["maintenance:on-nope", "app"]), 1, "`maintenance:on-nope app` is not a dokku command.");
}

#[test]
fn dokku_help_lists_core_and_community_commands() {
    let sb = Sandbox::up("dokku-help");
    let help = sb.dokku(&["help"]).ok();
    assert!(help.contains("    apps "), "{help}");
    assert!(!help.contains("apps:create"), "core lines with a colon are dropped without --all:\n{help}");
    let community = help.split("Community plugin commands:").nth(1).expect("community section");
    assert!(community.contains("maintenance"), "{help}");
    assert!(community.contains("postgres-upgrade"), "{help}");
    let all = sb.dokku(&["help", "--all"]).ok();
    assert!(all.contains("apps:create"), "{all}");
    assert!(all.contains("docker-options:report"), "{all}");
    // `postgres-upgrade:help` comes through the commands loop.
    let own = sb.dokku(&["postgres-upgrade:help"]).ok();
    assert!(own.contains("postgres:upgrade"), "{own}");
}

#[test]
fn apps_create_exists_list_destroy() {
    let sb = Sandbox::up("dokku-apps");
    assert!(sb.dokku(&["apps:create", "my-app.1"]).ok().contains("-----> Creating my-app.1..."));
    fails(sb.dokku(&["apps:create", "my-app.1"]), 1, "Name is already taken");
    fails(sb.dokku(&["apps:create", "Bad_Name"]), 1, " !     ");
    sb.dokku(&["apps:exists", "my-app.1"]).ok();
    fails(sb.dokku(&["apps:exists", "nope"]), 20, " !     App nope does not exist");
    sb.dokku(&["apps:create", "other"]).ok();
    assert_eq!(sb.dokku(&["apps:list"]).ok(), "=====> My Apps\nmy-app.1\nother\n");
    assert_eq!(sb.dokku(&["--quiet", "apps:list"]).ok(), "my-app.1\nother\n");
    assert!(sb.dir.join("home/dokku/other").is_dir());

    // No tty, no force: the confirmation read fails and nothing is destroyed.
    fails(sb.dokku(&["apps:destroy", "other"]), 1, "Confirmation did not match other. Aborted.");
    sb.dokku(&["apps:exists", "other"]).ok();
    // Typed confirmation, `force` argument, global --force.
    sb.dokku_stdin(&["apps:destroy", "other"], b"other\n").ok();
    fails(sb.dokku(&["apps:exists", "other"]), 20, "does not exist");
    sb.dokku(&["apps:create", "other"]).ok();
    sb.dokku(&["apps:destroy", "other", "force"]).ok();
    sb.dokku(&["apps:create", "other"]).ok();
    sb.dokku(&["--force", "apps:destroy", "other"]).ok();
    fails(sb.dokku(&["apps:exists", "other"]), 20, "does not exist");
    fails(sb.dokku(&["apps:destroy", "ghost", "force"]), 20, "App ghost does not exist");
}

#[test]
fn missing_app_exits_20_everywhere() {
    let sb = Sandbox::up("dokku-exit20");
    for args in [
        vec!["config:get", "ghost", "K"],
        vec!["config:set", "ghost", "K=V"],
        vec!["config:unset", "ghost", "K"],
        vec!["config:show", "ghost"],
        vec!["config:export", "ghost"],
        vec!["ps:start", "ghost"],
        vec!["ps:stop", "ghost"],
        vec!["ps:restart", "ghost"],
        vec!["ps:report", "ghost"],
        vec!["docker-options:add", "ghost", "run", "--x"],
        vec!["docker-options:report", "ghost"],
        vec!["apps:lock", "ghost"],
        vec!["apps:locked", "ghost"],
        vec!["maintenance:enable", "ghost"],
        vec!["maintenance:report", "ghost"],
    ] {
        let run = sb.dokku(&args);
        assert_eq!(run.code, 20, "{args:?}: {run:?}");
        assert!(run.stderr.contains(" !     App ghost does not exist"), "{args:?}: {run:?}");
    }
}

#[test]
fn config_get_set_unset_export_with_any_characters() {
    let sb = Sandbox::up("dokku-config");
    sb.dokku(&["apps:create", "app"]).ok();
    let tricky = "it's \"q\" $HOME `x` \\ end\nsecond line; rm -rf /";
    let set = sb.dokku(&["config:set", "app", "A=1", &format!("B={tricky}"), "C="]).ok();
    assert!(set.starts_with("-----> Setting config vars\n       A:  1\n"), "{set}");
    assert_eq!(sb.dokku(&["config:get", "app", "B"]).ok(), format!("{tricky}\n"));
    assert_eq!(sb.dokku(&["config:get", "app", "C"]).ok(), "\n");
    sb.dokku(&["config:get", "app", "MISSING"]).code(1);
    assert_eq!(sb.dokku(&["config:get", "--quoted", "app", "A"]).ok(), "'1'\n");
    assert_eq!(sb.dokku(&["config:keys", "app"]).ok(), "A\nB\nC\n");

    // The ENV file: sorted `export KEY='value'` lines, quoted safely.
    let env = fs::read_to_string(sb.lib_root().join("config/app/ENV")).unwrap();
    assert!(env.starts_with("export A='1'\nexport B='it'\\''s"), "{env}");
    let json = sb.dokku(&["config:export", "--format", "json", "app"]).ok();
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["B"], tricky);
    assert_eq!(parsed["C"], "");
    let list: serde_json::Value =
        serde_json::from_str(&sb.dokku(&["config:export", "--format", "json-list", "app"]).ok()).unwrap();
    assert_eq!(list[0]["name"], "A");
    // The exports format round-trips through a shell.
    let exports = sb.dokku(&["config:export", "app"]).ok();
    let out = Command::new("bash").arg("-c").arg(format!("{exports}\nprintf '%s' \"$B\"")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), tricky);

    // --encoded takes base64 values.
    sb.dokku(&["config:set", "--encoded", "app", "E=aGVsbG8gd29ybGQ="]).ok();
    assert_eq!(sb.dokku(&["config:get", "app", "E"]).ok(), "hello world\n");
    fails(sb.dokku(&["config:set", "app", "1BAD=x"]), 1, "Invalid key name");

    sb.dokku(&["config:unset", "app", "A", "E"]).ok();
    assert_eq!(sb.dokku(&["config:keys", "app"]).ok(), "B\nC\n");
    let show = sb.dokku(&["config:show", "app"]).ok();
    assert!(show.starts_with("=====> app env vars\nB:"), "{show}");
}

#[test]
fn config_changes_restart_a_running_app_unless_no_restart() {
    let sb = Sandbox::up("dokku-config-restart");
    sb.dokku(&["apps:create", "app"]).ok();
    // Not running: no restart.
    let out = sb.dokku(&["config:set", "app", "A=1"]).ok();
    assert!(!out.contains("Restarting"), "{out}");
    assert!(restarts(&sb, "app").is_empty());

    sb.dokku(&["ps:start", "app"]).ok();
    assert_eq!(restarts(&sb, "app"), ["start"]);
    let out = sb.dokku(&["config:set", "app", "A=2"]).ok();
    assert!(out.contains("-----> Restarting app app"), "{out}");
    assert_eq!(restarts(&sb, "app"), ["start", "restart"]);

    // --no-restart before the app, after the pairs, and on unset.
    sb.dokku(&["config:set", "--no-restart", "app", "A=3"]).ok();
    sb.dokku(&["config:set", "app", "A=4", "--no-restart"]).ok();
    sb.dokku(&["config:unset", "--no-restart", "app", "A"]).ok();
    assert_eq!(restarts(&sb, "app"), ["start", "restart"]);
    // In DOKKU_GLOBAL_FLAGS of the calling command (as dokku-postgres relies on).
    script(
        &enabled(&sb).join("callsconfig/subcommands/set"),
        "#!/usr/bin/env bash\nexec \"$PLUGIN_ENABLED_PATH/config/subcommands/set\" config:set app B=1\n",
    );
    sb.dokku(&["callsconfig:set", "--no-restart"]).ok();
    assert_eq!(sb.dokku(&["config:get", "app", "B"]).ok(), "1\n");
    assert_eq!(restarts(&sb, "app"), ["start", "restart"]);

    let out = sb.dokku(&["config:unset", "app", "B"]).ok();
    assert!(out.contains("-----> Unsetting B") && out.contains("Restarting app app"), "{out}");
    assert_eq!(restarts(&sb, "app"), ["start", "restart", "restart"]);

    // ps:stop sets restore=false and config changes no longer restart.
    sb.dokku(&["ps:stop", "app"]).ok();
    sb.dokku(&["config:set", "app", "C=1"]).ok();
    assert_eq!(restarts(&sb, "app").len(), 3);
}

#[test]
fn ps_start_stop_restart_report() {
    let sb = Sandbox::up("dokku-ps");
    // ps:start fires pre-start first, running or not, as dokku's Start does; restart does not.
    marking_plugin(&sb, "starts", &["pre-start"], "", true);
    sb.dokku(&["apps:create", "app"]).ok();
    assert_eq!(sb.dokku(&["ps:report", "app", "--running"]).ok(), "false\n");
    sb.dokku(&["ps:start", "app"]).ok();
    assert_eq!(sb.dokku(&["ps:report", "app", "--running"]).ok(), "true\n");
    assert_eq!(sb.dokku(&["ps:report", "app", "--restore"]).ok(), "true\n");
    assert_eq!(sb.dokku(&["ps:report", "app", "--deployed"]).ok(), "true\n");
    sb.dokku(&["ps:restart", "app"]).ok();
    sb.dokku(&["ps:stop", "app"]).ok();
    assert_eq!(sb.dokku(&["ps:report", "app", "--running"]).ok(), "false\n");
    assert_eq!(sb.dokku(&["ps:report", "app", "--restore"]).ok(), "false\n");
    let report = sb.dokku(&["ps:report", "app"]).ok();
    assert!(report.starts_with("=====> app ps information\n"), "{report}");
    assert!(report.contains("\n       Running:                       false"), "{report}");
    assert_eq!(restarts(&sb, "app"), ["start", "restart"]);
    assert_eq!(hooks_log(&sb), "starts pre-start app\n");
    sb.dokku(&["ps:start", "app"]).ok();
    sb.dokku(&["ps:start", "app"]).ok();
    assert_eq!(hooks_log(&sb), "starts pre-start app\n".repeat(3));
    // A failing pre-start stops the start.
    marking_plugin(&sb, "zz-refuses", &["pre-start"], "exit 1", true);
    sb.dokku(&["ps:stop", "app"]).ok();
    fails(sb.dokku(&["ps:start", "app"]), 1, "Failure in pre-start hook");
    assert_eq!(sb.dokku(&["ps:report", "app", "--running"]).ok(), "false\n");
    // Each line: a UTC timestamp and the verb.
    let log = fs::read_to_string(app_data(&sb, "app").join("restarts.log")).unwrap();
    assert!(log.lines().all(|l| l.len() > 20 && l.as_bytes()[4] == b'-' && l.contains("Z ")), "{log}");
}

#[test]
fn ps_start_fails_like_docker_on_a_missing_link_and_records_options() {
    let sb = Sandbox::up("dokku-ps-links");
    sb.dokku(&["apps:create", "app"]).ok();
    sb.dokku(&["docker-options:add", "app", "run", "--memory 1g"]).ok();
    sb.dokku(&["ps:start", "app"]).ok();
    assert_eq!(fs::read_to_string(app_data(&sb, "app").join("started-options")).unwrap(), "--memory 1g\n");
    sb.dokku(&["docker-options:add", "app", "build,deploy,run", "--link dokku.postgres.gone:dokku-postgres-gone"]).ok();
    // A restart that fails leaves the old processes running (new containers never started).
    let run = fails(sb.dokku(&["ps:restart", "app"]), 1, "Error response from daemon");
    assert!(run.stderr.contains("No such container: dokku.postgres.gone"), "{run:?}");
    assert_eq!(sb.dokku(&["ps:report", "app", "--running"]).ok(), "true\n");
    assert_eq!(fs::read_to_string(app_data(&sb, "app").join("started-options")).unwrap(), "--memory 1g\n");
    sb.dokku(&["ps:stop", "app"]).ok();
    fails(sb.dokku(&["ps:start", "app"]), 1, "No such container: dokku.postgres.gone");
    assert_eq!(sb.dokku(&["ps:report", "app", "--running"]).ok(), "false\n");
    assert_eq!(restarts(&sb, "app"), ["start"]);
}

#[test]
fn docker_options_add_remove_clear_report() {
    let sb = Sandbox::up("dokku-docker-options");
    sb.dokku(&["apps:create", "app"]).ok();
    let link = "--link dokku.postgres.db:dokku-postgres-db";
    sb.dokku(&["docker-options:add", "app", "build,deploy,run", link]).ok();
    sb.dokku(&["docker-options:add", "app", "build,deploy,run", link]).ok();
    sb.dokku(&["docker-options:add", "app", "run", "--shm-size", "256m"]).ok();
    let report = sb.dokku(&["docker-options:report", "app"]).ok();
    assert_eq!(
        report,
        format!(
            "=====> app docker options information\n       Docker options build:          {link}\n       Docker options deploy:         {link}\n       Docker options run:            {link} --shm-size 256m\n"
        )
    );
    assert_eq!(sb.dokku(&["docker-options:report", "app", "--docker-options-build"]).ok(), format!("{link}\n"));
    sb.dokku(&["docker-options:remove", "app", "build,deploy,run", link]).ok();
    assert_eq!(sb.dokku(&["docker-options:report", "app", "--docker-options-run"]).ok(), "--shm-size 256m\n");
    assert_eq!(sb.dokku(&["docker-options:report", "app", "--docker-options-deploy"]).ok(), "\n");
    fails(sb.dokku(&["docker-options:add", "app", "nonsense", "--x"]), 1, "Phase must be one of");
    sb.dokku(&["docker-options:clear", "app", "run"]).ok();
    assert_eq!(sb.dokku(&["docker-options:report", "app", "--docker-options-run"]).ok(), "\n");
}

/// Holds an exclusive flock on `path` (created if missing) until dropped, as a running deploy does.
fn hold_flock(path: &Path) -> nix::fcntl::Flock<fs::File> {
    let file = fs::OpenOptions::new().write(true).create(true).truncate(false).open(path).unwrap();
    // The dokku user's file, as a push or apps:lock makes it.
    support::give_to_dokku(path);
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e).unwrap()
}

#[test]
fn lock_unlock_locked_and_deploy() {
    let sb = Sandbox::up("dokku-lock");
    sb.dokku(&["apps:create", "app"]).ok();
    let lock = app_data(&sb, "app").join(".deploy.lock");
    sb.dokku(&["apps:locked", "app"]).code(1);
    assert!(sb.dokku(&["apps:lock", "app"]).ok().contains("Deploy lock created"));
    sb.dokku(&["apps:locked", "app"]).ok();
    assert!(lock.is_file());
    // dokku 0.38: the file alone stops no push; the push takes its flock, deploys, deletes it.
    sb.sandbox(&["deploy", "app"]).ok();
    assert_eq!(restarts(&sb, "app"), ["deploy"]);
    assert!(!lock.exists());
    sb.dokku(&["apps:locked", "app"]).code(1);
    // Someone holding the flock (a running deploy, or the upgrade) stops it.
    let held = hold_flock(&lock);
    let run = fails(sb.sandbox(&["deploy", "app"]), 1, "app currently has a deploy lock in place. Exiting...");
    assert!(run.stderr.contains("Run 'apps:unlock' to release the existing deploy lock"), "{run:?}");
    assert_eq!(restarts(&sb, "app"), ["deploy"]);
    sb.dokku(&["apps:locked", "app"]).ok();
    let unlock = sb.dokku(&["apps:unlock", "app"]).code(0);
    assert!(unlock.stderr.contains("A deploy may be in progress."), "{unlock:?}");
    sb.dokku(&["apps:locked", "app"]).code(1);
    // Without a lock file, apps:unlock fails as dokku's does.
    fails(sb.dokku(&["apps:unlock", "app"]), 1, "Unable to remove deploy lock");
    // The flock held on the deleted file guards no path: the next push makes a new one.
    sb.sandbox(&["deploy", "app"]).ok();
    drop(held);
    assert_eq!(restarts(&sb, "app"), ["deploy", "deploy"]);
    assert_eq!(sb.dokku(&["ps:report", "app", "--running"]).ok(), "true\n");
    sb.dokku(&["ps:stop", "app"]).ok();
}

#[test]
fn maintenance_enable_disable_report() {
    let sb = Sandbox::up("dokku-maintenance");
    sb.dokku(&["apps:create", "app"]).ok();
    let file = sb.dir.join("home/dokku/app/nginx.conf.d/maintenance.conf");
    assert_eq!(sb.dokku(&["maintenance:report", "app", "--maintenance-enabled"]).ok(), "false\n");
    assert!(sb.dokku(&["maintenance:enable", "app"]).ok().contains("Enabling maintenance mode for app"));
    assert!(file.is_file());
    assert!(sb.dokku(&["maintenance:enable", "app"]).ok().contains("Maintenance mode already enabled"));
    assert_eq!(sb.dokku(&["maintenance:report", "app", "--maintenance-enabled"]).ok(), "true\n");
    let report = sb.dokku(&["maintenance:report", "app"]).ok();
    assert!(
        report.starts_with("=====> app maintenance information\n       Maintenance enabled:           true"),
        "{report}"
    );
    sb.dokku(&["maintenance:disable", "app"]).ok();
    assert!(!file.exists());
    assert!(sb.dokku(&["maintenance:disable", "app"]).ok().contains("Maintenance mode already disabled"));
    // on/off still work, with the deprecation notice.
    let run = sb.dokku(&["maintenance:on", "app"]).code(0);
    assert!(run.stderr.contains("Deprecated: Please use maintenance:enable"), "{run:?}");
    assert!(file.is_file());
    let run = sb.dokku(&["maintenance:off", "app"]).code(0);
    assert!(run.stderr.contains("Deprecated: Please use maintenance:disable"), "{run:?}");
    assert!(!file.exists());
    // --app works; no app at all is exit 1.
    sb.dokku(&["--app", "app", "maintenance:enable"]).ok();
    assert!(file.is_file());
    fails(sb.dokku(&["maintenance:enable"]), 1, "Please specify an app to run the command on");
    sb.dokku(&["plugin:installed", "maintenance"]).ok();
    sb.dokku(&["plugin:installed", "nope"]).code(1);
}

#[test]
fn up_installs_the_checkout_as_a_clone_and_keeps_data_on_rerun() {
    let sb = Sandbox::up("dokku-up");
    let plugin = sb.lib_root().join("plugins/available/postgres-upgrade");
    assert_eq!(fs::read_link(plugin.join("update")).unwrap(), Path::new("install"));
    assert!(plugin.join("commands").is_file());
    assert!(plugin.join("bin/postgres-upgrade").is_file());
    assert!(!plugin.join("target").exists(), "ignored files are not copied");
    assert!(sb.lib_root().join("data/postgres-upgrade/bin/postgres-upgrade").is_file(), "install trigger ran");
    for core in ["apps", "config", "ps", "docker-options", "plugin"] {
        let link = enabled(&sb).join(core);
        assert!(fs::canonicalize(&link).unwrap().to_string_lossy().contains("core-plugins"), "{core}");
        assert!(sb.lib_root().join("core-plugins/enabled").join(core).exists(), "{core}");
    }
    // No file named `commands` anywhere but plugin roots.
    assert!(sb.lib_root().join("plugins/available/maintenance/commands").is_file());

    sb.dokku(&["apps:create", "keep"]).ok();
    sb.dokku(&["config:set", "keep", "K=v"]).ok();
    sb.sandbox(&["up"]).ok();
    assert_eq!(sb.dokku(&["config:get", "keep", "K"]).ok(), "v\n");

    // The wrappers work from any directory with nothing set.
    let out = Command::new(sb.dir.join("bin/dokku"))
        .args(["apps:list"])
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .current_dir("/")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "=====> My Apps\nkeep\n");
}

// ---------------------------------------------------------------- workload (needs postgres) ------

fn app_with_database(name: &str) -> Sandbox {
    let sb = Sandbox::up(name);
    sb.dokku(&["apps:create", "app"]).ok();
    sb.dokku(&["postgres:create", "db", "-I", "15"]).ok();
    sb.dokku(&["postgres:link", "db", "app"]).ok();
    sb
}

fn acks(sb: &Sandbox, kind: &str) -> usize {
    fs::read_to_string(sb.dir.join("run/app").join(format!("{kind}.acks"))).map(|s| s.lines().count()).unwrap_or(0)
}

#[test]
fn workload_needs_a_database() {
    let sb = Sandbox::up("dokku-workload-nodb");
    sb.dokku(&["apps:create", "app"]).ok();
    fails(sb.sandbox(&["workload", "app", "on"]), 1, "has no DATABASE_URL");
    fails(sb.sandbox(&["workload", "ghost", "on"]), 20, "App ghost does not exist");
}

#[test]
fn workload_writes_while_running_and_nothing_is_lost() {
    let sb = app_with_database("dokku-workload");
    sb.sandbox(&["workload", "app", "on"]).ok();
    sb.dokku(&["ps:start", "app"]).ok();
    sleep(Duration::from_millis(1200));
    sb.dokku(&["ps:stop", "app"]).ok();
    let (web, worker) = (acks(&sb, "web"), acks(&sb, "worker"));
    assert!(web > 5 && worker > 5, "web={web} worker={worker}");
    sleep(Duration::from_millis(300));
    assert_eq!((acks(&sb, "web"), acks(&sb, "worker")), (web, worker), "nothing writes after ps:stop");
    let n = check_numbers(&sb.sandbox(&["workload", "app", "check"]).ok());
    assert_eq!(n["acked"], (web + worker) as i64);
    assert_eq!(n["present"], n["acked"]);
    assert_eq!(n["lost"], 0);
    assert!(n["max_gap_ms"] > 0 && n["max_gap_ms"] < 1000, "{n:?}");
    assert_eq!(sb.sql("db", "SELECT count(DISTINCT process) FROM sandbox_workload"), "2");

    // Acknowledged rows that vanish are reported as lost (exit 1).
    sb.sql("db", "DELETE FROM sandbox_workload WHERE id IN (SELECT id FROM sandbox_workload ORDER BY id LIMIT 3)");
    let run = sb.sandbox(&["workload", "app", "check"]).code(1);
    assert_eq!(check_numbers(&run.stdout)["lost"], 3);
}

#[test]
fn workload_web_pauses_under_maintenance_worker_does_not() {
    let sb = app_with_database("dokku-workload-maint");
    sb.sandbox(&["workload", "app", "on"]).ok();
    sb.dokku(&["ps:start", "app"]).ok();
    sleep(Duration::from_millis(500));
    sb.dokku(&["maintenance:enable", "app"]).ok();
    sleep(Duration::from_millis(200));
    let (web, worker) = (acks(&sb, "web"), acks(&sb, "worker"));
    sleep(Duration::from_millis(800));
    let (web2, worker2) = (acks(&sb, "web"), acks(&sb, "worker"));
    assert_eq!(web2, web, "web sends no request while maintenance is on");
    assert!(worker2 >= worker + 5, "worker keeps writing: {worker} → {worker2}");
    sb.dokku(&["maintenance:disable", "app"]).ok();
    sleep(Duration::from_millis(600));
    assert!(acks(&sb, "web") > web2, "web resumes");
    sb.dokku(&["ps:stop", "app"]).ok();
    let n = check_numbers(&sb.sandbox(&["workload", "app", "check"]).ok());
    assert_eq!(n["lost"], 0);
    assert!(n["max_gap_ms"] < 1000, "worker kept the gap small: {n:?}");
}

#[test]
fn workload_survives_restarts_and_down_stops_it() {
    let sb = app_with_database("dokku-workload-link");
    sb.sandbox(&["workload", "app", "on"]).ok();
    sb.dokku(&["ps:start", "app"]).ok();
    sleep(Duration::from_millis(400));
    // Restarts keep appending to the same logs; down stops everything.
    sb.dokku(&["ps:restart", "app"]).ok();
    sleep(Duration::from_millis(400));
    sb.sandbox(&["down"]).ok();
    let after_down = acks(&sb, "web") + acks(&sb, "worker");
    sleep(Duration::from_millis(300));
    assert_eq!(acks(&sb, "web") + acks(&sb, "worker"), after_down);
    assert_eq!(restarts(&sb, "app"), ["start", "restart"]);
}

// ------------------------------------------- the dokku and dokku-maintenance releases imitated ---

/// What `sandbox up --dokku-version` and `--maintenance-version` change, as docs/dokku-versions.md
/// says each release behaves: where apps:lock and a push put the deploy lock and config:set the
/// app's config, the plugn each dokku ships, and which maintenance commands exist.
#[test]
fn each_imitated_release_keeps_its_files_and_commands_where_that_release_does() {
    for (dokku, maintenance, lock, config, plugn) in [
        ("0.25.7", "0.5.0", "home/dokku/memo/.deploy.lock", "home/dokku/memo/ENV", "0.8.2"),
        ("0.32.4", "0.6.0", "home/dokku/memo/.deploy.lock", "home/dokku/memo/ENV", "0.12.0"),
        ("0.34.9", "0.7.0", "var/lib/dokku/data/apps/memo/.deploy.lock", "home/dokku/memo/ENV", "0.15.3"),
        ("0.38.27", "0.10.1", "var/lib/dokku/data/apps/memo/.deploy.lock", "var/lib/dokku/config/memo/ENV", "0.17.1"),
    ] {
        let sb = Sandbox::up_with(
            &format!("sandbox-release-{dokku}"),
            &["--dokku-version", dokku, "--maintenance-version", maintenance],
        );
        assert_eq!(std::fs::read_to_string(sb.lib_root().join("STABLE_VERSION")).unwrap().trim(), dokku);
        let shipped = Command::new(sb.dir.join("bin/plugn")).arg("version").output().unwrap();
        assert_eq!(String::from_utf8_lossy(&shipped.stdout).trim(), format!("plugn: {plugn}"), "dokku {dokku}");
        sb.dokku(&["apps:create", "memo"]).ok();
        sb.dokku(&["config:set", "--no-restart", "memo", "MARK=here"]).ok();
        assert!(std::fs::read_to_string(sb.dir.join(config)).unwrap().contains("MARK"), "dokku {dokku}: {config}");
        sb.dokku(&["apps:lock", "memo"]).ok();
        assert!(sb.dir.join(lock).is_file(), "dokku {dokku}: {lock}");
        sb.dokku(&["apps:locked", "memo"]).ok();
        // A push refuses while the lock is held and deletes the file when done.
        sb.dokku(&["apps:unlock", "memo"]).ok();
        sb.sandbox(&["deploy", "memo"]).ok();
        assert!(!sb.dir.join(lock).exists(), "dokku {dokku}: the push left {lock}");

        let has = |command: &str| !sb.dokku(&[command, "memo"]).stderr.contains("is not a dokku command");
        let (report, enable) = (maintenance != "0.5.0", !["0.5.0", "0.6.0"].contains(&maintenance));
        assert_eq!(has("maintenance:report"), report, "maintenance {maintenance}: report");
        assert_eq!(has("maintenance:enable"), enable, "maintenance {maintenance}: enable");
        sb.dokku(&["maintenance:on", "memo"]).ok();
        assert!(sb.dir.join("home/dokku/memo/nginx.conf.d/maintenance.conf").is_file());
        let status = sb.dokku(&["maintenance", "memo"]);
        if maintenance == "0.5.0" {
            assert_eq!(status.stdout.lines().last().map(str::trim), Some("on"), "{status:?}");
        } else {
            assert!(status.stdout.contains("Usage: dokku maintenance"), "{status:?}");
        }
        sb.dokku(&["maintenance:off", "memo"]).ok();
    }
}

/// dokku older than the plugin supports is refused by name, before anything else is read.
#[test]
fn dokku_older_than_supported_is_refused_with_its_version() {
    let sb = Sandbox::up_with("sandbox-release-0.24", &["--dokku-version", "0.24.10"]);
    sb.dokku(&["apps:create", "memo"]).ok();
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--dry-run"]).code(1);
    assert!(run.stderr.contains("dokku 0.24.10 is older than 0.25.0"), "{}", run.stderr);
}
