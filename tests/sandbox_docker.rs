//! The sandbox's docker emulation (tests/sandbox/docker/docker): images, real postgres
//! containers, the s3backup image and the sandbox-only verbs. Each test builds its own minimal
//! sandbox dir (just `DIR/bin/docker`), so it does not depend on `tests/sandbox/sandbox`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{Run, repo};

/// `target/sandboxes/docker-<name>` with a `bin/docker` wrapper; every server under it is
/// stopped, and its files removed, when this is dropped.
struct Dock {
    dir: PathBuf,
}

impl Dock {
    fn new(name: &str) -> Dock {
        let status = Command::new(repo().join("tests/sandbox/images")).status().expect("run tests/sandbox/images");
        assert!(status.success(), "tests/sandbox/images failed");
        let dir = repo().join("target/sandboxes").join(format!("docker-{name}"));
        if dir.join("bin/docker").exists() {
            let _ = Command::new(dir.join("bin/docker")).arg("sandbox-stop-all").status();
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove old sandbox");
        }
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let wrapper = dir.join("bin/docker");
        std::fs::write(
            &wrapper,
            format!(
                "#!/usr/bin/env bash\nSANDBOX_DIR={} exec {} \"$@\"\n",
                dir.display(),
                repo().join("tests/sandbox/docker/docker").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Dock { dir }
    }

    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        use std::io::Write;
        let mut command = Command::new(self.dir.join("bin/docker"));
        command
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The wrapper was just written by this process: a child another test thread forked
        // meanwhile holds its write descriptor until that child execs, and exec of the wrapper
        // fails with ETXTBSY until then. A moment later it runs.
        let mut tries = 0;
        let mut child = loop {
            match command.spawn() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                spawned => break spawned.expect("spawn docker"),
            }
        };
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        let out = child.wait_with_output().expect("wait docker");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn docker(&self, args: &[&str]) -> Run {
        self.run(args, None)
    }

    /// A data dir for a service, like dokku-postgres's `services/postgres/SVC/data`.
    fn data(&self, service: &str) -> PathBuf {
        let dir = self.dir.join("services").join(service).join("data");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `docker container create` the way dokku-postgres does it, then start; returns the id.
    fn service(&self, service: &str, image: &str, password: &str, extra: &[&str]) -> String {
        self.service_at(service, image, "/var/lib/postgresql/data", password, extra)
    }

    /// The same with the data dir mounted at `mount` (dokku-postgres: `/var/lib/postgresql`
    /// from 18 on, docs/dokku-postgres.md).
    fn service_at(&self, service: &str, image: &str, mount: &str, password: &str, extra: &[&str]) -> String {
        let data = self.data(service);
        let name = format!("dokku.postgres.{service}");
        let cidfile = self.dir.join("services").join(service).join("ID");
        let volume = format!("{}:{mount}", data.display());
        let env = format!("POSTGRES_PASSWORD={password}");
        let cid = format!("--cidfile={}", cidfile.display());
        let mut args = vec![
            "container",
            "create",
            "--name",
            &name,
            "--hostname",
            &name,
            "--label",
            "dokku=service",
            "--label",
            "dokku.service=postgres",
            &cid,
            "--restart",
            "always",
            "-v",
            &volume,
            "-e",
            &env,
            image,
        ];
        args.extend_from_slice(extra);
        let id = self.docker(&args).ok().trim().to_string();
        assert_eq!(std::fs::read_to_string(&cidfile).unwrap(), id, "--cidfile holds the id");
        self.docker(&["container", "start", &name]).ok();
        id
    }

    fn psql(&self, container: &str, sql: &str) -> Run {
        self.docker(&["exec", container, "psql", "-U", "postgres", "-Atc", sql])
    }

    fn inspect(&self, what: &str, format: &str) -> String {
        self.docker(&["inspect", "-f", format, what]).ok().trim().to_string()
    }
}

impl Drop for Dock {
    fn drop(&mut self) {
        let _ = Command::new(self.dir.join("bin/docker")).arg("sandbox-stop-all").status();
        support::discard(&self.dir);
    }
}

/// Processes whose command line mentions `needle` (read from /proc, like pgrep -f).
fn processes_mentioning(needle: &Path) -> Vec<String> {
    let needle = needle.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            // a zombie has an empty cmdline; it is not running anything
            if cmdline.contains(&needle) {
                found.push(format!("{name}: {cmdline}"));
            }
        }
    }
    found
}

#[test]
fn pull_catalog_refs_and_fail_like_docker_for_others() {
    let d = Dock::new("pull");
    for r in [
        "postgres:15",
        "postgres:15.6",
        "postgres:15.8",
        "postgres:15.18",
        "postgis/postgis:15-3.3",
        "postgres:17",
        "postgres:17.0",
        "postgres:17.2",
        "postgres:17.5",
        "postgres:17.10",
        "postgres:11",
        "postgres:11.22",
        "postgres:12",
        "postgres:13",
        "postgres:14",
        "postgres:16",
        "postgres:16.15",
        "postgres:18",
        "postgres:18.4",
        "postgres:18.6",
    ] {
        let out = d.docker(&["pull", r]).ok();
        assert!(out.contains("Digest: sha256:"), "{r}: {out}");
        assert!(out.contains(&format!("Status: Downloaded newer image for {r}")), "{r}: {out}");
    }
    let again = d.docker(&["image", "pull", "postgres:15"]).ok();
    assert!(again.contains("Status: Image is up to date for postgres:15"), "{again}");

    let missing = d.docker(&["pull", "postgres:99.1"]).code(1);
    assert!(
        missing.stderr.contains("Error response from daemon: manifest for postgres:99.1 not found: manifest unknown"),
        "{}",
        missing.stderr
    );
    // `postgres` is `postgres:latest`, the newest major (18) as on the registry.
    let latest = d.docker(&["pull", "postgres"]).ok();
    assert!(latest.contains("Status: Downloaded newer image for postgres:latest"), "{latest}");
    assert!(d.inspect("postgres:latest", "{{json .Config.Env}}").contains(r#""PG_MAJOR=18""#));
    let alpine = d.docker(&["pull", "postgres:alpine"]).code(1);
    assert!(alpine.stderr.contains("manifest for postgres:alpine not found: manifest unknown"), "{}", alpine.stderr);
    let unknown = d.docker(&["pull", "nosuch/image:1"]).code(1);
    assert!(unknown.stderr.contains("pull access denied for nosuch/image"), "{}", unknown.stderr);

    let listed = d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).ok();
    assert!(listed.lines().any(|l| l == "postgis/postgis:15-3.3"), "{listed}");
    assert_eq!(listed.lines().count(), 21, "{listed}");
}

#[test]
fn image_inspect_gives_id_created_and_env() {
    let d = Dock::new("inspect");
    let before = d.docker(&["image", "inspect", "postgres:17.2"]).code(1);
    assert!(before.stderr.contains("No such image: postgres:17.2"), "{}", before.stderr);
    d.docker(&["pull", "postgres:17.2"]).ok();
    let json: serde_json::Value = serde_json::from_str(&d.docker(&["image", "inspect", "postgres:17.2"]).ok()).unwrap();
    let image = &json[0];
    let id = image["Id"].as_str().unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(image["RepoTags"][0], "postgres:17.2");
    assert!(image["Created"].as_str().unwrap().starts_with("2024-"), "{}", image["Created"]);
    let env: Vec<&str> = image["Config"]["Env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(env.contains(&"PG_MAJOR=17"), "{env:?}");
    assert!(env.iter().any(|e| e.starts_with("PG_VERSION=17.2")), "{env:?}");
    assert_eq!(d.docker(&["image", "inspect", "--format", "{{.Id}}", "postgres:17.2"]).ok().trim(), id);
    // deterministic per build: a second sandbox pulls the same id
    let other = Dock::new("inspect-2");
    other.docker(&["pull", "postgres:17.2"]).ok();
    assert_eq!(other.docker(&["image", "inspect", "-f", "{{.Id}}", "postgres:17.2"]).ok().trim(), id);
}

#[test]
fn postgres_15_and_17_containers_are_real_servers() {
    let d = Dock::new("servers");
    d.docker(&["pull", "postgres:15.8"]).ok();
    d.docker(&["pull", "postgres:17"]).ok();
    let unpulled = d.docker(&["create", "--name", "x", "postgres:17.5"]).code(1);
    assert!(unpulled.stderr.contains("Unable to find image"), "{}", unpulled.stderr);

    let id15 = d.service("a15", "postgres:15.8", "pw15", &["-c", "max_connections=123"]);
    let id17 = d.service("b17", "postgres:17", "pw17", &[]);
    assert_eq!(d.inspect("dokku.postgres.a15", "{{.State.Status}} {{.State.Running}}"), "running true");
    assert_eq!(d.inspect("dokku.postgres.a15", "{{.Id}}"), id15);
    assert_eq!(
        d.inspect("dokku.postgres.a15", "{{.Config.Image}} {{index .Config.Labels \"dokku.service\"}}"),
        "postgres:15.8 postgres"
    );
    assert_eq!(d.inspect("dokku.postgres.a15", "{{json .Config.Cmd}}"), r#"["-c","max_connections=123"]"#);

    let v15 = d.psql("dokku.postgres.a15", "show server_version").ok();
    assert!(v15.starts_with("15."), "{v15}");
    assert_eq!(d.psql("dokku.postgres.a15", "show max_connections").ok().trim(), "123");
    let v17 = d.psql(&id17[..12], "show server_version").ok();
    assert!(v17.starts_with("17."), "{v17}");
    // the image's own client tools: pg_dump of 17 against a 17 server
    let dump = d
        .docker(&[
            "exec",
            "-e",
            "PGPASSWORD=pw17",
            "dokku.postgres.b17",
            "pg_dump",
            "-Fc",
            "-h",
            "localhost",
            "-U",
            "postgres",
            "postgres",
        ])
        .ok();
    assert!(dump.starts_with("PGDMP"), "custom-format dump expected");
    // stdin only with -i
    let piped =
        d.run(&["exec", "-i", "dokku.postgres.a15", "psql", "-U", "postgres", "-At"], Some(b"select 40 + 2;\n"));
    assert_eq!(piped.ok().trim(), "42");

    // Each container has an address of its own, as on docker's bridge, which inspect reports
    // and where its server listens on 5432: one server reaches another there with the
    // password, as a subscription's conninfo does on a host (docs/networks.md).
    let a15 = d.docker(&["sandbox-address", "dokku.postgres.a15"]).ok().trim().to_string();
    let b17 = d.docker(&["sandbox-address", "dokku.postgres.b17"]).ok().trim().to_string();
    assert_ne!(a15, b17);
    assert!(a15.starts_with("127.") && a15 != "127.0.0.1", "{a15}");
    assert_eq!(d.inspect("dokku.postgres.a15", "{{.NetworkSettings.IPAddress}}"), a15);
    assert_eq!(d.inspect("dokku.postgres.a15", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"), a15);
    let conninfo = format!("host={a15} port=5432 user=postgres dbname=postgres connect_timeout=5");
    let reached =
        d.docker(&["exec", "-e", "PGPASSWORD=pw15", "dokku.postgres.b17", "psql", &conninfo, "-Atc", "show port"]);
    assert_eq!(reached.ok().trim(), "5432");
    let refused = d.docker(&["exec", "dokku.postgres.b17", "psql", "-w", &conninfo, "-Atc", "select 1"]).code(2);
    assert!(refused.stderr.contains("password"), "{}", refused.stderr);

    // stop, exec on a stopped container, rm rules
    d.docker(&["container", "stop", "dokku.postgres.a15"]).ok();
    assert_eq!(d.inspect("dokku.postgres.a15", "{{.State.Status}}"), "exited");
    let stopped = d.psql("dokku.postgres.a15", "select 1").code(1);
    assert!(stopped.stderr.contains(&format!("container {id15} is not running")), "{}", stopped.stderr);
    let busy = d.docker(&["container", "rm", "dokku.postgres.b17"]).code(1);
    assert!(busy.stderr.contains("container is running"), "{}", busy.stderr);
    d.docker(&["container", "rm", "-f", "dokku.postgres.b17"]).ok();
    let gone = d.docker(&["container", "inspect", "dokku.postgres.b17"]).code(1);
    assert!(gone.stderr.contains("No such container: dokku.postgres.b17"), "{}", gone.stderr);
    // the data survives: a new container on the same dir starts with it
    d.docker(&["container", "start", "dokku.postgres.a15"]).ok();
    assert_eq!(d.psql("dokku.postgres.a15", "select 7").ok().trim(), "7");
    let conflict = d.docker(&["create", "--name", "dokku.postgres.a15", "postgres:15.8"]).code(1);
    assert!(conflict.stderr.contains("is already in use by container"), "{}", conflict.stderr);
}

/// The major each tag's server reports, and whose client tools its image carries
/// (tests/sandbox/README.md): 11 to 13 have Debian's 15, every other image its own.
const MAJORS: &[(&str, &str, &str)] = &[
    ("11", "11", "15"),
    ("12", "12", "15"),
    ("13", "13", "15"),
    ("14", "14", "14"),
    ("15", "15", "15"),
    ("16", "16", "16"),
    ("17", "17", "17"),
    ("18", "18", "18"),
    ("18.4", "18", "18"),
    ("18.6", "18", "18"),
];

#[test]
fn every_major_from_11_to_18_is_a_real_server_with_its_image_s_clients() {
    let d = Dock::new("majors");
    for (tag, major, client) in MAJORS {
        let image = format!("postgres:{tag}");
        d.docker(&["pull", &image]).ok();
        let service = format!("v{}", tag.replace('.', "_"));
        let name = format!("dokku.postgres.{service}");
        let mount = if *major == "18" { "/var/lib/postgresql" } else { "/var/lib/postgresql/data" };
        d.service_at(&service, &image, mount, "pw", &[]);
        let version = d.psql(&name, "SELECT current_setting('server_version_num')::int / 10000").ok();
        assert_eq!(version.trim(), *major, "{image}");
        for tool in ["psql", "pg_dump", "pg_restore"] {
            let out = d.docker(&["exec", &name, tool, "--version"]).ok();
            assert!(out.contains(&format!("(PostgreSQL) {client}.")), "{image} {tool}: {out}");
        }
        // 18's initdb turns data checksums on by default; the image passes no flag either way.
        let checksums = d.psql(&name, "SHOW data_checksums").ok();
        assert_eq!(checksums.trim(), if *major == "18" { "on" } else { "off" }, "{image}");
        // Before 14 the server's password_encryption, and so the image's host method, is md5.
        let method = if major.parse::<u32>().unwrap() < 14 { "md5" } else { "scram-sha-256" };
        assert_eq!(d.psql(&name, "SHOW password_encryption").ok().trim(), method, "{image}");
        let over_tcp = d
            .docker(&[
                "exec",
                "-e",
                "PGPASSWORD=pw",
                &name,
                "psql",
                "-h",
                "localhost",
                "-U",
                "postgres",
                "-w",
                "-Atc",
                "select 1",
            ])
            .ok();
        assert_eq!(over_tcp.trim(), "1", "{image}");
        // The extensions the image carries, read from the image alone as the plugin's preflight
        // reads them (pg_config's share dir: src/host/mod.rs, image_extensions), are those its
        // server offers.
        let listed =
            d.docker(&["run", "--rm", &image, "sh", "-c", r#"ls -1 "$(pg_config --sharedir)/extension""#]).ok();
        let mut controls: Vec<&str> = listed.lines().filter_map(|f| f.strip_suffix(".control")).collect();
        controls.sort_unstable();
        let offered = d.psql(&name, "SELECT name FROM pg_available_extensions ORDER BY name::text COLLATE \"C\"").ok();
        assert_eq!(controls, offered.lines().collect::<Vec<_>>(), "{image}");
        // dokku-postgres's create turns SSL on (every image's server has it): certificates made
        // on the host, copied into PGDATA by a script that bash reads on stdin in a `run` of the
        // image, with the data and the certificates mounted at the image's own paths.
        let data = d.data(&service);
        let certs = d.dir.join("services").join(&service).join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        let made = Command::new("openssl")
            .args(["req", "-new", "-newkey", "rsa:2048", "-x509", "-days", "3650", "-nodes", "-batch"])
            .arg("-out")
            .arg(certs.join("server.crt"))
            .arg("-keyout")
            .arg(certs.join("server.key"))
            .output()
            .unwrap();
        assert!(made.status.success(), "{made:?}");
        d.docker(&["container", "stop", &name]).ok();
        let volume = format!("{}:{mount}", data.display());
        let certs_volume = format!("{}:/var/lib/postgresql/certs", certs.display());
        let enable = "set -e\ncd \"$PGDATA\"\ncp /var/lib/postgresql/certs/* .\nchown postgres:postgres server.key\n\
                      chmod 600 server.key\nsed -i 's/^#ssl = off/ssl = on/' postgresql.conf\nls /var/lib/postgresql\n";
        let args = ["container", "run", "--rm", "-i", "-v", &volume, "-v", &certs_volume, &image, "bash", "-s"];
        let listed = d.run(&args, Some(enable.as_bytes())).ok();
        // Only what the container mounts there: the host's own /var/lib/postgresql is not the image's.
        assert_eq!(listed, if *major == "18" { "18\ncerts\n" } else { "certs\ndata\n" }, "{image}");
        d.docker(&["container", "start", &name]).ok();
        assert_eq!(d.psql(&name, "SHOW ssl").ok().trim(), "on", "{image}");
        let pgdata = d.docker(&["exec", &name, "sh", "-c", "echo $PGDATA"]).ok();
        if *major == "18" {
            // The 18 layout: PGDATA is /var/lib/postgresql/18/docker, under the one mount.
            assert_eq!(pgdata.trim(), data.join("18/docker").to_string_lossy(), "{image}");
            assert_eq!(std::fs::read_to_string(data.join("18/docker/PG_VERSION")).unwrap().trim(), "18");
            assert!(!data.join("PG_VERSION").exists());
        } else {
            assert_eq!(std::fs::read_to_string(data.join("PG_VERSION")).unwrap().trim(), *major, "{image}");
        }
        d.docker(&["container", "rm", "-f", &name]).ok();
    }
    let env = d.inspect("postgres:18.4", "{{json .Config.Env}} {{json .Config.Volumes}}");
    assert!(env.contains(r#""PGDATA=/var/lib/postgresql/18/docker""#), "{env}");
    assert!(env.contains(r#""PG_VERSION=18.4-"#) && env.contains(r#"{"/var/lib/postgresql":{}}"#), "{env}");
    let env17 = d.inspect("postgres:17", "{{json .Config.Env}} {{json .Config.Volumes}}");
    assert!(env17.contains(r#""PGDATA=/var/lib/postgresql/data""#), "{env17}");
    assert!(env17.contains(r#"{"/var/lib/postgresql/data":{}}"#), "{env17}");
}

#[test]
fn an_18_image_refuses_a_17_cluster_and_an_unused_data_mount() {
    let d = Dock::new("pg18-refuses");
    d.docker(&["pull", "postgres:17"]).ok();
    d.docker(&["pull", "postgres:18"]).ok();
    // dokku-postgres's in-place upgrade 17 -> 18: the same data dir, now mounted one level up.
    d.service("old", "postgres:17", "pw", &[]);
    d.docker(&["container", "rm", "-f", "dokku.postgres.old"]).ok();
    std::fs::remove_file(d.dir.join("services/old/ID")).unwrap();
    d.service_at("old", "postgres:18", "/var/lib/postgresql", "pw", &[]);
    assert_eq!(d.inspect("dokku.postgres.old", "{{.State.Status}} {{.State.ExitCode}}"), "exited 1");
    let logs = d.docker(&["logs", "dokku.postgres.old"]).ok();
    assert!(logs.contains("Error: in 18+, these Docker images are configured to store database data"), "{logs}");
    assert!(logs.contains("there appears to be PostgreSQL data in:\n         /var/lib/postgresql\n"), "{logs}");
    let data = d.data("old");
    assert_eq!(std::fs::read_to_string(data.join("PG_VERSION")).unwrap().trim(), "17", "the 17 cluster is untouched");
    assert!(data.join("18/docker").is_dir(), "the entrypoint made PGDATA before it refused");
    assert!(!data.join("18/docker/PG_VERSION").exists());

    // An 18 image given the pre-18 mount (a tag whose major dokku-postgres cannot read, #383).
    d.service("pg18tag", "postgres:18", "pw", &[]);
    assert_eq!(d.inspect("dokku.postgres.pg18tag", "{{.State.Status}} {{.State.ExitCode}}"), "exited 1");
    let logs = d.docker(&["logs", "dokku.postgres.pg18tag"]).ok();
    assert!(logs.contains("/var/lib/postgresql/data (unused mount/volume)"), "{logs}");
}

#[test]
fn localhost_is_trusted_inside_and_other_containers_need_the_password() {
    let d = Dock::new("password");
    d.docker(&["pull", "postgres:15"]).ok();
    d.service("pw", "postgres:15", "s3cret", &[]);
    // Inside the container, as in the image: the socket and localhost are trusted.
    let inside =
        d.docker(&["exec", "dokku.postgres.pw", "psql", "-h", "localhost", "-U", "postgres", "-w", "-Atc", "select 1"]);
    assert_eq!(inside.ok().trim(), "1");
    assert_eq!(d.psql("dokku.postgres.pw", "select current_user").ok().trim(), "postgres");
    // From another container, over a link, with the env flags given (both docker forms).
    let linked = |env: &[&str]| {
        let mut args = vec!["run", "--rm", "--link", "dokku.postgres.pw:db"];
        args.extend_from_slice(env);
        args.extend(["postgres:15", "psql", "-h", "db", "-U", "postgres", "-w", "-Atc", "select 1"]);
        d.docker(&args)
    };
    let no_password = linked(&[]);
    assert_eq!(no_password.code, 2, "{no_password:?}");
    assert!(no_password.stderr.contains("password"), "{}", no_password.stderr);
    let wrong = linked(&["-e", "PGPASSWORD=nope"]);
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(wrong.stderr.contains("password authentication failed"), "{}", wrong.stderr);
    assert_eq!(linked(&["--env=PGPASSWORD=s3cret"]).ok().trim(), "1");
    // The address other containers use is the container's own, never localhost.
    let address = d.docker(&["sandbox-address", "dokku.postgres.pw"]).ok();
    assert!(address.starts_with("127.1.") && !address.starts_with("127.0.0.1"), "{address}");
}

#[test]
fn ambassadors_update_and_su_as_the_daemon_and_the_image_do_them() {
    let d = Dock::new("ambassador");
    d.docker(&["pull", "postgres:15"]).ok();
    d.docker(&["pull", "dokku/ambassador:0.8.2"]).ok();
    d.service("svc", "postgres:15", "pw", &[]);

    // `su - postgres` as root is a login shell of the image's postgres user, whose tools reach
    // the container's own server; only root switches users without a password.
    let made =
        d.docker(&["exec", "dokku.postgres.svc", "su", "-", "postgres", "-c", "createdb -E utf8 made && echo $HOME"]);
    assert_eq!(made.ok(), "/var/lib/postgresql\n");
    assert_eq!(
        d.psql("dokku.postgres.svc", "select count(*) from pg_database where datname = 'made'").ok().trim(),
        "1"
    );
    let refused =
        d.docker(&["exec", "-u", "postgres", "dokku.postgres.svc", "su", "-", "postgres", "-c", "true"]).code(1);
    assert!(refused.stderr.contains("su: Authentication failure"), "{refused:?}");

    // An ambassador: linked to the service, publishing a host port that no other running
    // container may publish too (nothing listens there in the sandbox).
    let run = |name: &str, port: &str| {
        let publish = format!("{port}:5432");
        let args = [
            "container",
            "run",
            "-d",
            "--link",
            "dokku.postgres.svc:postgres",
            "--name",
            name,
            "-p",
            &publish,
            "--restart",
            "always",
            "--label",
            "dokku=ambassador",
            "dokku/ambassador:0.8.2",
        ];
        d.docker(&args)
    };
    run("amb1", "127.0.0.1:4242").ok();
    assert_eq!(d.inspect("amb1", "{{.State.Status}}"), "running");
    assert_eq!(
        d.inspect("amb1", "{{json .HostConfig.PortBindings}}"),
        r#"{"5432/tcp":[{"HostIp":"127.0.0.1","HostPort":"4242"}]}"#
    );
    let taken = run("amb2", "4242").code(125);
    assert!(taken.stderr.contains("Bind for 0.0.0.0:4242 failed: port is already allocated"), "{taken:?}");
    assert_eq!(d.inspect("amb2", "{{.State.Status}}"), "created", "run created it before the start failed");
    d.docker(&["container", "stop", "amb1"]).ok();
    d.docker(&["container", "start", "amb2"]).ok();
    let held = d.docker(&["container", "start", "amb1"]).code(1);
    assert!(held.stderr.contains("port is already allocated"), "{held:?}");
    d.docker(&["container", "rm", "-f", "amb2"]).ok();
    d.docker(&["container", "stop", "dokku.postgres.svc"]).ok();
    let unlinked = d.docker(&["container", "start", "amb1"]).code(1);
    assert!(unlinked.stderr.contains("Cannot link to a non running container"), "{unlinked:?}");

    // update: the restart policy of an existing container (dokku-postgres sets `no` before rm).
    assert_eq!(d.inspect("dokku.postgres.svc", "{{.HostConfig.RestartPolicy.Name}}"), "always");
    assert_eq!(d.docker(&["container", "update", "--restart=no", "dokku.postgres.svc"]).ok(), "dokku.postgres.svc\n");
    assert_eq!(d.inspect("dokku.postgres.svc", "{{.HostConfig.RestartPolicy.Name}}"), "no");
    d.docker(&["container", "update", "--restart=sometimes", "dokku.postgres.svc"]).code(125);
    d.docker(&["container", "update", "--restart=no", "nosuch"]).code(1);
}

/// The entrypoint's host rule (docs/postgres-image.md): `POSTGRES_HOST_AUTH_METHOD` when the
/// env sets it, else the server's `password_encryption` with the container's arguments. A role
/// whose stored password is an md5 hash logs in only where the rule is md5; a SCRAM one logs in
/// under both. And `postgres --describe-config` runs as given, as the entrypoint lets it.
#[test]
fn the_host_rule_is_the_entrypoints_and_md5_hashes_log_in_only_under_md5() {
    let d = Dock::new("host-rule");
    d.docker(&["pull", "postgres:18"]).ok();
    let mount = "/var/lib/postgresql";
    d.service_at("scram", "postgres:18", mount, "pw", &[]);
    d.service_at("encryption", "postgres:18", mount, "pw", &["postgres", "-c", "password_encryption=md5"]);
    // The same as service_at, with the rule in the env.
    let data = d.data("md5env");
    let volume = format!("{}:{mount}", data.display());
    d.docker(&[
        "container",
        "create",
        "--name",
        "dokku.postgres.md5env",
        "-v",
        &volume,
        "-e",
        "POSTGRES_PASSWORD=pw",
        "-e",
        "POSTGRES_HOST_AUTH_METHOD=md5",
        "postgres:18",
    ])
    .ok();
    d.docker(&["container", "start", "dokku.postgres.md5env"]).ok();
    // Over the container's own address, as from any other container: localhost is trusted.
    let login = |container: &str, role: &str, password: &str| {
        let env = format!("PGPASSWORD={password}");
        let address = d.docker(&["sandbox-address", container]).ok().trim().to_string();
        d.docker(&[
            "exec", "-e", &env, container, "psql", "-h", &address, "-U", role, "-d", "postgres", "-w", "-Atc",
            "select 1",
        ])
    };
    for (service, md5_logs_in) in [("scram", false), ("encryption", true), ("md5env", true)] {
        let name = format!("dokku.postgres.{service}");
        d.psql(&name, "SET password_encryption = 'md5'; CREATE ROLE hashed_md5 LOGIN PASSWORD 'pw-m'").ok();
        d.psql(&name, "SET password_encryption = 'scram-sha-256'; CREATE ROLE hashed_scram LOGIN PASSWORD 'pw-s'").ok();
        let md5 = login(&name, "hashed_md5", "pw-m");
        assert_eq!(md5.code == 0, md5_logs_in, "{service}: {md5:?}");
        if !md5_logs_in {
            assert!(md5.stderr.contains("password authentication failed"), "{}", md5.stderr);
        }
        assert_eq!(login(&name, "hashed_scram", "pw-s").ok().trim(), "1", "{service}");
    }
    let described = d.docker(&["run", "--rm", "postgres:18", "postgres", "--describe-config"]).ok();
    assert!(described.lines().any(|l| l.starts_with("max_connections\tpostmaster\t")), "{described}");
    assert!(!described.contains("db_user_namespace"), "removed in 17");
}

#[test]
fn postgis_extension_is_creatable() {
    let d = Dock::new("postgis");
    d.docker(&["pull", "postgis/postgis:15-3.3"]).ok();
    d.service("geo", "postgis/postgis:15-3.3", "pw", &[]);
    d.psql("dokku.postgres.geo", "create extension postgis").ok();
    let listed = d
        .docker(&["run", "--rm", "postgis/postgis:15-3.3", "sh", "-c", r#"ls -1 "$(pg_config --sharedir)/extension""#])
        .ok();
    assert!(listed.lines().any(|f| f == "postgis.control"), "{listed}");
    let version = d.psql("dokku.postgres.geo", "select postgis_lib_version()").ok();
    assert!(version.starts_with("3."), "{version}");
}

#[test]
fn a_17_image_on_a_15_data_dir_exits_with_the_postgres_error() {
    let d = Dock::new("incompatible");
    d.docker(&["pull", "postgres:15.6"]).ok();
    d.docker(&["pull", "postgres:17.5"]).ok();
    d.service("up", "postgres:15.6", "pw", &[]);
    d.psql("dokku.postgres.up", "create table kept (x int)").ok();
    // dokku-postgres's in-place upgrade: remove the container, recreate it with the new image
    d.docker(&["container", "stop", "dokku.postgres.up"]).ok();
    d.docker(&["container", "rm", "dokku.postgres.up"]).ok();
    std::fs::remove_file(d.dir.join("services/up/ID")).unwrap();
    d.service("up", "postgres:17.5", "pw", &[]);
    assert_eq!(d.inspect("dokku.postgres.up", "{{.State.Status}} {{.State.Running}}"), "exited false");
    assert_ne!(d.inspect("dokku.postgres.up", "{{.State.ExitCode}}"), "0");
    let logs = d.docker(&["logs", "dokku.postgres.up"]).ok();
    assert!(logs.contains("database files are incompatible with server"), "{logs}");
    assert!(logs.contains("initialized by PostgreSQL version 15"), "{logs}");
    let address = d.docker(&["sandbox-address", "dokku.postgres.up"]).code(1);
    assert!(address.stderr.contains("is not running"), "{}", address.stderr);
    assert_eq!(d.inspect("dokku.postgres.up", "{{.NetworkSettings.IPAddress}}"), "");
}

#[test]
fn rebuild_publishes_a_new_build_that_only_a_pull_fetches() {
    let d = Dock::new("rebuild");
    d.docker(&["pull", "postgres:17.10"]).ok();
    let old = d.inspect("postgres:17.10", "{{.Id}}");
    let old_created = d.inspect("postgres:17.10", "{{.Created}}");
    d.service("r", "postgres:17.10", "pw", &[]);
    assert_eq!(d.inspect("dokku.postgres.r", "{{.Image}}"), old);

    let published = d.docker(&["sandbox-rebuild", "postgres:17.10"]).ok();
    assert_ne!(published.trim(), old);
    assert_eq!(d.inspect("postgres:17.10", "{{.Id}}"), old, "not pulled yet");
    let pulled = d.docker(&["pull", "postgres:17.10"]).ok();
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    let new = d.inspect("postgres:17.10", "{{.Id}}");
    assert_eq!(new, published.trim());
    assert_ne!(d.inspect("postgres:17.10", "{{.Created}}"), old_created);
    assert!(d.inspect("postgres:17.10", "{{.Created}}").starts_with("20"), "RFC3339");
    // the running container keeps its image; a recreated one gets the new build
    assert_eq!(d.inspect("dokku.postgres.r", "{{.Image}}"), old);
    assert_eq!(d.psql("dokku.postgres.r", "select 1").ok().trim(), "1");
    let rebuilt_unknown = d.docker(&["sandbox-rebuild", "postgres:17.99"]).code(1);
    assert!(rebuilt_unknown.stderr.contains("manifest unknown"), "{}", rebuilt_unknown.stderr);
}

#[test]
fn s3backup_writes_the_object_and_encrypts_it() {
    let d = Dock::new("s3backup");
    d.docker(&["pull", "postgres:15"]).ok();
    d.service("bk", "postgres:15", "pw", &[]);
    d.psql("dokku.postgres.bk", "create table t as select 1 as x").ok();
    let tmp = d.dir.join("backup-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let dump = Command::new(d.dir.join("bin/docker"))
        .args([
            "exec",
            "dokku.postgres.bk",
            "env",
            "PGPASSWORD=pw",
            "pg_dump",
            "-Fc",
            "--no-acl",
            "--no-owner",
            "-h",
            "localhost",
            "-U",
            "postgres",
            "-w",
            "postgres",
        ])
        .output()
        .unwrap();
    assert!(dump.status.success());
    std::fs::write(tmp.join("export"), &dump.stdout).unwrap();
    let volume = format!("{}:/backup", tmp.display());
    let base = [
        "run",
        "--rm",
        "-e",
        "AWS_ACCESS_KEY_ID=id",
        "-e",
        "AWS_SECRET_ACCESS_KEY=secret",
        "-e",
        "BUCKET_NAME=bucket",
        "-e",
        "BACKUP_NAME=postgres-bk",
        "-v",
        &volume,
    ];

    let mut plain = base.to_vec();
    plain.push("dokku/s3backup:0.18.0");
    let key = d.docker(&plain).ok().trim().to_string();
    let re = regex::Regex::new(r"^postgres-bk-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.tgz$").unwrap();
    assert!(re.is_match(&key), "{key}");
    let object = d.dir.join("s3/bucket").join(&key);
    let listing = Command::new("tar").arg("-tzf").arg(&object).output().unwrap();
    assert!(String::from_utf8_lossy(&listing.stdout).lines().any(|l| l == "backup/export"));

    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut encrypted = base.to_vec();
    encrypted.extend_from_slice(&["-e", "ENCRYPTION_KEY=hunter2", "dokku/s3backup:0.18.0"]);
    let key = d.docker(&encrypted).ok().trim().to_string();
    assert!(key.ends_with(".tgz.gpg") && key.starts_with("postgres-bk-"), "{key}");
    let object = d.dir.join("s3/bucket").join(&key);
    let gnupg = d.dir.join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    let decrypted = Command::new("gpg")
        .env("GNUPGHOME", &gnupg)
        .args(["--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "hunter2", "--decrypt"])
        .arg(&object)
        .output()
        .unwrap();
    assert!(decrypted.status.success(), "{}", String::from_utf8_lossy(&decrypted.stderr));
    assert_eq!(&decrypted.stdout[..2], &[0x1f, 0x8b], "a gzip inside");

    let no_credentials = d.docker(&[
        "run",
        "--rm",
        "-e",
        "BUCKET_NAME=bucket",
        "-e",
        "BACKUP_NAME=x",
        "-v",
        &volume,
        "dokku/s3backup:0.18.0",
    ]);
    assert_eq!(no_credentials.code, 1, "{no_credentials:?}");
}

#[test]
fn stop_all_leaves_nothing_running() {
    let d = Dock::new("stopall");
    d.docker(&["pull", "postgres:15"]).ok();
    d.docker(&["pull", "postgres:17"]).ok();
    d.service("one", "postgres:15", "pw", &[]);
    d.service("two", "postgres:17", "pw", &[]);
    assert!(!processes_mentioning(&d.dir).is_empty(), "servers should be running");
    assert_eq!(d.docker(&["ps", "-q"]).ok().lines().count(), 2);
    d.docker(&["sandbox-stop-all"]).ok();
    let left = processes_mentioning(&d.dir);
    assert!(left.is_empty(), "left running: {left:#?}");
    assert_eq!(d.docker(&["ps", "-q"]).ok().lines().count(), 0);
    assert_eq!(d.docker(&["ps", "-aq"]).ok().lines().count(), 2);
    let names = d.docker(&["ps", "-a", "--filter", "name=one", "--format", "{{.Names}} {{.State}}"]).ok();
    assert_eq!(names.trim(), "dokku.postgres.one exited");
}
