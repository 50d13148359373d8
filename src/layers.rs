//! The layers of `src/`, lowest first. Data flows one way: what the host and the databases say
//! (host, facts), how it is copied (copy), what outlives a run (state), what is decided (plan),
//! what is done (steps), the commands (verbs). A module uses its own layer and those below it,
//! never one above; the test below reads every source file and fails on the first that does.

/// `error` and `output` are the edge every layer reports through.
pub const LAYERS: [&str; 9] = ["error", "output", "host", "facts", "copy", "state", "plan", "steps", "verbs"];

#[cfg(test)]
mod tests {
    use super::LAYERS;
    use std::path::{Path, PathBuf};

    fn files(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    /// The layer of a file: its folder under src/, or its own name for a file at the top.
    fn layer_of(src: &Path, file: &Path) -> Option<usize> {
        let first = file.strip_prefix(src).ok()?.components().next()?.as_os_str().to_string_lossy().into_owned();
        let name = first.trim_end_matches(".rs");
        LAYERS.iter().position(|l| *l == name)
    }

    /// What `text` uses of the crate, comments left out.
    fn uses(text: &str) -> Vec<String> {
        let path = regex::Regex::new(r"\bcrate::([a-z_]+)").unwrap();
        text.lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .flat_map(|l| path.captures_iter(l).map(|c| c[1].to_string()).collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn no_layer_uses_one_above_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        let mut wrong = Vec::new();
        for file in &all {
            // lib.rs and main.rs sit on top of everything.
            let Some(layer) = layer_of(&src, file) else { continue };
            for used in uses(&std::fs::read_to_string(file).unwrap()) {
                match LAYERS.iter().position(|l| *l == used) {
                    Some(target) if target <= layer => {}
                    Some(_) => wrong.push(format!("{} uses crate::{used}", file.strip_prefix(&src).unwrap().display())),
                    None => wrong.push(format!("{} uses crate::{used}, which is in no layer", file.display())),
                }
            }
        }
        assert!(all.len() > 20, "the source files were not found");
        assert!(wrong.is_empty(), "a layer uses one above it:\n{}", wrong.join("\n"));
    }

    #[test]
    fn the_check_sees_what_a_file_uses() {
        assert_eq!(
            uses("use crate::steps::Upgrade;\n// crate::verbs in a comment\nlet x = crate::host::env::Env;"),
            ["steps", "host"]
        );
    }
}
