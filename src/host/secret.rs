//! A key drawn at random for one run: what makes a sum of row digests something the data
//! cannot be tuned against (docs/fidelity.md, "The digest"). It lives in this process's memory
//! only: it reaches a server on psql's standard input, never in a process argument, a file, a
//! log line or a message (its `Debug` says `<secret>`).

use anyhow::{Context, Result};
use std::io::Read;

pub struct Secret(String);

impl Secret {
    /// 128 bits from the kernel's generator, as 32 hex digits (so that it is a plain SQL
    /// string: no quoting can go wrong).
    pub fn draw() -> Result<Secret> {
        let mut bytes = [0u8; 16];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .context("Unable to read /dev/urandom for this run's key")?;
        Ok(Secret(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// The key itself, for the script that sends it to a server.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with the key masked: what a server echoes back in an error stays secret.
    pub fn mask(&self, text: &str) -> String {
        text.replace(&self.0, "<key>")
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_new_hex_and_never_shown() {
        let (a, b) = (Secret::draw().unwrap(), Secret::draw().unwrap());
        assert_eq!(a.expose().len(), 32);
        assert!(a.expose().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "<secret>");
        assert_eq!(a.mask(&format!("LINE 1: '{}'", a.expose())), "LINE 1: '<key>'");
    }
}
