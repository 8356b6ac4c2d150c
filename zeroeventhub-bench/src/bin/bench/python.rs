//! The Python reference: the interpreter of `target/py-venv` (or
//! `$ZEH_PYTHON`) running this crate's `python/producer.py` and
//! `python/consumer.py` on the `zeroeventhub` package from PyPI.

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// This crate's directory, where `python/` lives.
const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// A Python interpreter with the reference package and its server installed.
#[derive(Debug, Clone)]
pub(crate) struct Python {
    interpreter: PathBuf,
}

impl Python {
    /// The interpreter to use, or why the Python reference is skipped.
    pub(crate) fn find() -> Result<Python, String> {
        let interpreter = match env::var_os("ZEH_PYTHON") {
            Some(path) => PathBuf::from(path),
            None => Path::new(CRATE_DIR).join("../target/py-venv/bin/python"),
        };
        if !interpreter.is_file() {
            return Err(format!(
                "no Python interpreter at {} (set ZEH_PYTHON, or run `bash .ci/run` \
                 to create target/py-venv)",
                interpreter.display()
            ));
        }
        let imports = Command::new(&interpreter)
            .args(["-c", "import zeroeventhub, fastapi, uvicorn, httpx"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match imports {
            Ok(status) if status.success() => Ok(Python { interpreter }),
            _ => Err(format!(
                "{} cannot import zeroeventhub, fastapi, uvicorn and httpx \
                 (install tests/python/requirements.txt)",
                interpreter.display()
            )),
        }
    }

    fn script(&self, name: &str) -> Command {
        let mut command = Command::new(&self.interpreter);
        command.arg(Path::new(CRATE_DIR).join("python").join(name));
        command
    }

    /// The reference producer serving a feed of `events` events.
    pub(crate) fn server(&self, events: u64) -> Command {
        let mut command = self.script("producer.py");
        command
            .args(["--port", "0", "--events"])
            .arg(events.to_string());
        command
    }

    /// The reference consumer reading `events` events in pages of `page_size`.
    pub(crate) fn client(&self, url: &str, events: u64, page_size: u64) -> Command {
        let mut command = self.script("consumer.py");
        command
            .args(["--url", url, "--events"])
            .arg(events.to_string())
            .arg("--page-size")
            .arg(page_size.to_string());
        command
    }
}
