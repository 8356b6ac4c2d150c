//! The `zeh` binary (crate `zeroeventhub-cli`) for the follow workload:
//! built afresh when the suite runs under cargo, then taken from beside
//! this executable.

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// The workspace's root, where cargo builds `zeh`.
const WORKSPACE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The `zeh` to run, or why the follow workload is skipped.
///
/// Unless `quick`, when cargo started the suite (`$CARGO` is set), first
/// runs `$CARGO build -p zeroeventhub-cli --bin zeh` in this executable's
/// profile (`--release` unless this is a debug build), so `zeh` is never
/// stale. With `quick` (the smoke test under `cargo test`, where a nested
/// build would wait for the target directory's lock) nothing is built: a
/// `zeh` already there is used.
pub(crate) fn locate(quick: bool) -> Result<PathBuf, String> {
    let exe = env::current_exe().map_err(|error| format!("cannot locate bench: {error}"))?;
    let zeh = exe.with_file_name("zeh");
    match env::var_os("CARGO") {
        Some(cargo) if !quick => build(Path::new(&cargo))?,
        Some(_) => eprintln!("bench: --quick: zeh is not rebuilt"),
        None => eprintln!("bench: not started by cargo ($CARGO unset): zeh is not rebuilt"),
    }
    if zeh.is_file() {
        Ok(zeh)
    } else {
        Err(format!(
            "no zeh at {} (build it: cargo build{} -p zeroeventhub-cli --bin zeh)",
            zeh.display(),
            if cfg!(debug_assertions) {
                ""
            } else {
                " --release"
            }
        ))
    }
}

/// `cargo build -p zeroeventhub-cli --bin zeh` in this build's profile;
/// its progress goes to stderr.
fn build(cargo: &Path) -> Result<(), String> {
    let mut command = Command::new(cargo);
    command
        .current_dir(WORKSPACE_DIR)
        .args(["build", "-p", "zeroeventhub-cli", "--bin", "zeh"])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    eprintln!("bench: building zeh: {command:?}");
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!(
            "building zeh failed ({status}): see the cargo output on stderr"
        )),
        Err(error) => Err(format!("cannot run {}: {error}", cargo.display())),
    }
}
