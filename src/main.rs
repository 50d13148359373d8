//! The plugin's one binary: every shim in subcommands/ execs it.

use postgres_upgrade::host::{env::Env, runner::SystemRunner};
use std::io::Write;

fn main() {
    let env = Env::from_process();
    // Diagnostics only, dokku-style ` ?     ` lines under --trace (DOKKU_TRACE=1).
    env_logger::Builder::new()
        .filter_level(if env.trace { log::LevelFilter::Debug } else { log::LevelFilter::Warn })
        .format(|buf, record| writeln!(buf, " ?     {}", record.args()))
        .target(env_logger::Target::Pipe(Box::new(postgres_upgrade::output::LogLines::default())))
        .init();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(postgres_upgrade::run(&argv, &env, &SystemRunner));
}
