//! dokku postgres:upgrade: move an app's postgres service to a new image, blue-green.
//! `main` builds the environment and the runner; everything else starts at [`run`].
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod copy;
pub mod error;
pub mod facts;
pub mod host;
pub mod layers;
pub mod output;
pub mod plan;
pub mod state;
pub mod steps;
pub mod verbs;

use host::env::Env;
use host::runner::Runner;
use output::Out;
use plan::cli::{self, Format, Invocation};
use verbs::{recovery, report};

/// Runs one invocation and returns the exit code.
pub fn run(argv: &[String], env: &Env, runner: &dyn Runner) -> i32 {
    if let Some(code) = verbs::upgrade::pass_through(argv, env) {
        return code;
    }
    match cli::parse(argv) {
        Err(err) if err.use_stderr() => {
            Out::new(false, false).warn(&cli::mistake(&err, argv.first().map(String::as_str).unwrap_or_default()));
            1
        }
        Err(err) => {
            let _ = err.print();
            0
        }
        Ok(Invocation::Version) => {
            Out::new(false, false).line(&format!("postgres-upgrade {}", env!("CARGO_PKG_VERSION")));
            0
        }
        Ok(Invocation::Unknown(command)) => {
            Out::new(false, false).warn(&format!("Invalid plugin subcommand call: {}", output::shown(&command)));
            1
        }
        Ok(Invocation::Upgrade(args)) => verbs::upgrade::upgrade(&args, env, runner),
        Ok(Invocation::Status(args)) => {
            let out = Out::new(env.quiet, args.format == Format::Json);
            finish(&out, recovery::status(&args, env, runner, &out))
        }
        Ok(Invocation::Rollback(args)) => {
            let out = Out::new(env.quiet, args.format == Format::Json);
            finish(&out, recovery::rollback(&args, env, runner, &out))
        }
        Ok(Invocation::Finish(args)) => {
            let out = Out::new(env.quiet, false);
            finish(&out, verbs::reversible::finish(&args, env, runner, &out))
        }
        Ok(Invocation::Report(args)) => {
            let out = Out::new(env.quiet, false);
            finish(&out, report::report(env, runner, &out, args.target.as_deref(), args.json, args.field.as_deref()))
        }
        Ok(Invocation::Cleanup(args)) => {
            let out = Out::new(env.quiet, false);
            finish(&out, report::cleanup(env, runner, &out, &args.target, args.keep))
        }
    }
}

/// Prints an error the dokku way and turns it into the exit code.
fn finish(out: &Out, result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(err) => {
            out.warn(&format!("{err:#}"));
            error::exit_code(&err)
        }
    }
}

#[cfg(test)]
mod release_tests {
    /// The version a user sees in `plugin:list` (plugin.toml) is the one the binary says it is
    /// (`--version`, from Cargo.toml): the install trigger asks for it by that number.
    #[test]
    fn plugin_toml_and_cargo_toml_name_one_version() {
        let toml = include_str!("../plugin.toml");
        let plugin = toml.lines().find_map(|l| l.strip_prefix("version = ")).map(|v| v.trim_matches('"'));
        assert_eq!(plugin, Some(env!("CARGO_PKG_VERSION")), "plugin.toml and Cargo.toml disagree");
    }

    /// SHA256SUMS holds the sums of one version's binaries and names it on its first line
    /// (scripts/release-check reads it there).
    #[test]
    fn sha256sums_names_the_version_of_every_line() {
        let sums = include_str!("../SHA256SUMS");
        let first = sums.lines().next().unwrap_or_default();
        let named =
            first.strip_prefix("# SHA-256 of the release binaries of postgres-upgrade ").map(|r| r.split(' ').next());
        for line in sums.lines().filter(|l| !l.starts_with('#')) {
            let asset = line.split_whitespace().nth(1).unwrap_or_default();
            let version = named.flatten().unwrap_or_else(|| panic!("{line:?} but the first line names no version"));
            assert!(asset.starts_with(&format!("postgres-upgrade-{version}-linux-")), "{line:?} is not {version}'s");
        }
    }
}
