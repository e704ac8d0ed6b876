//! Finding, checking and loading `libonnxruntime` at run time.
//!
//! Nothing of ONNX Runtime is linked at build time: `ort`'s `load-dynamic`
//! opens the library on first use. The search order is the chain entry's
//! `runtime`, then `ORT_DYLIB_PATH` (`ort`'s own variable), then the library
//! inside an installed `onnxruntime` Python package (`pip install onnxruntime`).
//!
//! `ort` panics when the library cannot be opened or is too old, and one
//! process can load only one runtime, so the library is checked here first
//! (opened, `OrtGetApiBase` found, version read) and loaded once.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use voxwire_core::{ErrorKind, Phase, Result, TtsError};

use crate::PROVIDER_ID;

/// The ONNX Runtime minor version whose C API `ort` speaks; later runtimes serve it too.
pub const MIN_MINOR_VERSION: u32 = ort::MINOR_VERSION;
/// The longest the Python package look-up may take.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a runtime was found, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeSource {
    /// The chain entry's `runtime` setting.
    Setting,
    /// The `ORT_DYLIB_PATH` variable.
    Environment,
    /// An installed `onnxruntime` Python package.
    PythonPackage,
}

/// The library to load and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimePath {
    /// The `libonnxruntime` file.
    pub path: PathBuf,
    /// How it was found.
    pub source: RuntimeSource,
}

/// Finds the library: the setting, else `ORT_DYLIB_PATH`, else the Python package.
/// An explicit setting or variable is used as given (checked later), never skipped.
pub fn find(setting: Option<&Path>) -> Result<RuntimePath> {
    if let Some(path) = setting {
        return Ok(RuntimePath {
            path: path.to_path_buf(),
            source: RuntimeSource::Setting,
        });
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        return Ok(RuntimePath {
            path: PathBuf::from(path),
            source: RuntimeSource::Environment,
        });
    }
    python_package_library()
        .map(|path| RuntimePath {
            path,
            source: RuntimeSource::PythonPackage,
        })
        .ok_or_else(|| {
            runtime_error(
                ErrorKind::Config,
                "no ONNX Runtime library found: `runtime` is unset, ORT_DYLIB_PATH is unset, and python3 has no onnxruntime package".into(),
            )
            .with_hint(RUNTIME_HINT)
        })
}

/// How to get a runtime, for errors and `voxwire doctor`.
pub const RUNTIME_HINT: &str = "pip install onnxruntime (its wheel ships libonnxruntime.so), or set ORT_DYLIB_PATH or the entry's `runtime` to a libonnxruntime.so";

/// `<site-packages>/onnxruntime/capi/libonnxruntime.so*`, asking python3 where
/// the package is without importing it; looked up once per process.
fn python_package_library() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let dir = python_package_dir()?;
            library_in(&dir.join("capi"))
        })
        .clone()
}

fn python_package_dir() -> Option<PathBuf> {
    let script = "import importlib.util as u\ns = u.find_spec('onnxruntime')\nprint(list(s.submodule_search_locations)[0] if s and s.submodule_search_locations else '')";
    let mut child = Command::new("python3")
        .args(["-I", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < PYTHON_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    use std::io::Read;
    child
        .stdout
        .take()?
        .take(4096)
        .read_to_string(&mut out)
        .ok()?;
    let dir = out.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// The main runtime library in a directory (not `libonnxruntime_providers_*`).
pub fn library_in(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n == "libonnxruntime.so"
                    || n.starts_with("libonnxruntime.so.")
                    || n == "libonnxruntime.dylib"
                    || n == "onnxruntime.dll"
            })
        })
        .collect();
    found.sort();
    found.pop()
}

/// The runtime this process loaded, and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The library file.
    pub path: PathBuf,
    /// Its version string (`1.32.0`).
    pub version: String,
}

/// Checks the library and hands it to `ort`; the first library loaded stays
/// for the life of the process (a later, different path is refused).
pub fn load(runtime: &RuntimePath) -> Result<Loaded> {
    static LOADED: Mutex<Option<Loaded>> = Mutex::new(None);
    if !runtime.path.is_file() {
        return Err(runtime_error(
            ErrorKind::Config,
            format!(
                "the ONNX Runtime library {} does not exist",
                runtime.path.display()
            ),
        )
        .with_hint(RUNTIME_HINT));
    }
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(current) = loaded.as_ref() {
        if same_file(&current.path, &runtime.path) {
            return Ok(current.clone());
        }
        return Err(runtime_error(
            ErrorKind::Config,
            format!(
                "this process already loaded ONNX Runtime from {}; it cannot load a second one from {}",
                current.path.display(),
                runtime.path.display()
            ),
        )
        .with_hint("give every piper entry the same `runtime`"));
    }
    let version = check_library(&runtime.path)?;
    let path = runtime.path.display().to_string();
    let committed = std::panic::catch_unwind(|| {
        ort::init_from(path.clone())
            .with_name("voxwire-piper")
            .commit()
    });
    match committed {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(runtime_error(
                ErrorKind::Config,
                format!("ONNX Runtime at {path} would not start: {e}"),
            ))
        }
        Err(_) => {
            return Err(runtime_error(
                ErrorKind::Config,
                format!("ONNX Runtime at {path} could not be loaded"),
            )
            .with_hint(RUNTIME_HINT))
        }
    }
    let done = Loaded {
        path: runtime.path.clone(),
        version,
    };
    *loaded = Some(done.clone());
    Ok(done)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Opens the library, finds `OrtGetApiBase` and reads the version; refuses
/// runtimes older than the C API `ort` speaks.
fn check_library(path: &Path) -> Result<String> {
    let shown = path.display().to_string();
    if !path.is_file() {
        return Err(runtime_error(
            ErrorKind::Config,
            format!("the ONNX Runtime library {shown} does not exist"),
        )
        .with_hint(RUNTIME_HINT));
    }
    // SAFETY: loading a shared library runs its initialisers; this is the
    // library the user configured as ONNX Runtime, which `ort` would load anyway.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| {
        runtime_error(
            ErrorKind::Config,
            format!("{shown} is not a loadable library: {e}"),
        )
        .with_hint(RUNTIME_HINT)
    })?;
    type GetApiBase = unsafe extern "system" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release.
    let version = unsafe {
        let getter = library.get::<GetApiBase>(b"OrtGetApiBase").map_err(|_| {
            runtime_error(
                ErrorKind::Config,
                format!("{shown} is not ONNX Runtime (no OrtGetApiBase)"),
            )
            .with_hint(RUNTIME_HINT)
        })?;
        let base = getter();
        if base.is_null() {
            return Err(runtime_error(
                ErrorKind::Config,
                format!("{shown} returned no API"),
            ));
        }
        let raw = ((*base).GetVersionString)();
        if raw.is_null() {
            String::new()
        } else {
            CStr::from_ptr(raw).to_string_lossy().into_owned()
        }
    };
    let minor = version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    if !version.starts_with("1.") || minor < MIN_MINOR_VERSION {
        return Err(runtime_error(
            ErrorKind::Config,
            format!("ONNX Runtime at {shown} is version `{version}`; 1.{MIN_MINOR_VERSION} or later is needed"),
        )
        .with_hint("pip install --upgrade onnxruntime"));
    }
    // Keep it mapped: `ort` opens the same file next, and a reload would rerun initialisers.
    std::mem::forget(library);
    Ok(version)
}

fn runtime_error(kind: ErrorKind, message: String) -> TtsError {
    TtsError::new(kind, message)
        .with_provider(PROVIDER_ID)
        .with_phase(Phase::Config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_setting_wins_and_is_used_as_given() {
        let got = find(Some(Path::new("/nowhere/libonnxruntime.so"))).unwrap();
        assert_eq!(got.source, RuntimeSource::Setting);
        assert_eq!(got.path, Path::new("/nowhere/libonnxruntime.so"));
    }

    #[test]
    fn missing_and_foreign_libraries_are_refused_with_a_hint() {
        let err = check_library(Path::new("/nowhere/libonnxruntime.so")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(err.to_string().contains("pip install onnxruntime"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("libonnxruntime.so");
        std::fs::write(&fake, b"not an ELF file").unwrap();
        let err = check_library(&fake).unwrap_err();
        assert!(err.to_string().contains("not a loadable library"), "{err}");
    }

    #[test]
    fn the_library_in_a_capi_directory_is_found_and_providers_are_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libonnxruntime_providers_shared.so"), b"").unwrap();
        assert_eq!(library_in(dir.path()), None);
        std::fs::write(dir.path().join("libonnxruntime.so.1.32.0"), b"").unwrap();
        assert_eq!(
            library_in(dir.path()),
            Some(dir.path().join("libonnxruntime.so.1.32.0"))
        );
    }
}
