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
            let out = Out::new(env.quiet, false);
            finish(&out, recovery::rollback(&args, env, runner, &out))
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
