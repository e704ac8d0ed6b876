//! Finding and loading the config: `--config`, else `$VOXWIRE_CONFIG`, else
//! `./voxwire.toml` when it exists, else the defaults; then `VOXWIRE_*` overrides.

use std::path::{Path, PathBuf};

use voxwire_core::Config;

use crate::exit::CliError;

/// The file looked for in the current directory when no config is named.
pub const DEFAULT_CONFIG_FILE: &str = "voxwire.toml";
/// The environment variable naming a config file.
pub const CONFIG_ENV: &str = "VOXWIRE_CONFIG";

/// A loaded config and the file it came from (`None` for the built-in defaults).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The effective configuration, environment overrides applied.
    pub config: Config,
    /// The file read, if any.
    pub source: Option<PathBuf>,
}

/// Loads the config as described in the module docs.
///
/// `vars` is the environment (pass `std::env::vars().collect()`); `cwd` is where
/// `voxwire.toml` is looked for. Any problem is a usage error (exit 2).
pub fn load(explicit: Option<&Path>, vars: &[(String, String)]) -> Result<LoadedConfig, CliError> {
    load_in(explicit, vars, Path::new("."))
}

/// [`load`], looking for the default file in `dir`.
pub fn load_in(
    explicit: Option<&Path>,
    vars: &[(String, String)],
    dir: &Path,
) -> Result<LoadedConfig, CliError> {
    let from_env = vars
        .iter()
        .find(|(k, v)| k == CONFIG_ENV && !v.is_empty())
        .map(|(_, v)| PathBuf::from(v));
    let source = match (explicit, from_env) {
        (Some(path), _) => Some(path.to_path_buf()),
        (None, Some(path)) => Some(path),
        (None, None) => {
            let default = dir.join(DEFAULT_CONFIG_FILE);
            default.is_file().then_some(default)
        }
    };
    let mut config = match &source {
        Some(path) => Config::from_file(path).map_err(|e| CliError::from_validation(&e))?,
        None => Config::default(),
    };
    config
        .apply_env(vars.iter().cloned())
        .map_err(|e| CliError::from_validation(&e))?;
    Ok(LoadedConfig { config, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_when_nothing_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load_in(None, &[], dir.path()).unwrap();
        assert!(loaded.source.is_none());
        assert_eq!(loaded.config, Config::default());
    }

    #[test]
    fn precedence_flag_then_env_then_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let cwd_file = dir.path().join(DEFAULT_CONFIG_FILE);
        std::fs::write(&cwd_file, "max_text_chars = 1\n").unwrap();
        let env_file = dir.path().join("env.toml");
        std::fs::write(&env_file, "max_text_chars = 2\n").unwrap();
        let flag_file = dir.path().join("flag.toml");
        std::fs::write(&flag_file, "max_text_chars = 3\n").unwrap();
        let env = vars(&[(CONFIG_ENV, env_file.to_str().unwrap())]);

        let got = load_in(Some(&flag_file), &env, dir.path()).unwrap();
        assert_eq!(got.config.max_text_chars, 3);
        let got = load_in(None, &env, dir.path()).unwrap();
        assert_eq!(got.config.max_text_chars, 2);
        let got = load_in(None, &[], dir.path()).unwrap();
        assert_eq!(got.config.max_text_chars, 1);
        assert_eq!(got.source.as_deref(), Some(cwd_file.as_path()));
    }

    #[test]
    fn bad_files_and_bad_overrides_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "this is not toml").unwrap();
        let err = load_in(Some(&bad), &[], dir.path()).unwrap_err();
        assert_eq!(err.status(), 2);
        assert!(
            err.message().contains("not a valid voxwire config"),
            "{err}"
        );

        let unknown = dir.path().join("unknown.toml");
        std::fs::write(&unknown, "colour = 1").unwrap();
        assert_eq!(
            load_in(Some(&unknown), &[], dir.path())
                .unwrap_err()
                .status(),
            2
        );

        let missing = dir.path().join("missing.toml");
        let err = load_in(Some(&missing), &[], dir.path()).unwrap_err();
        assert!(err.message().contains("cannot read config file"), "{err}");

        let env = vars(&[("VOXWIRE_MAX_TEXT_CHARS", "lots")]);
        assert_eq!(load_in(None, &env, dir.path()).unwrap_err().status(), 2);
    }

    #[test]
    fn environment_overrides_apply_on_top_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let env = vars(&[("VOXWIRE_MAX_TEXT_CHARS", "10")]);
        assert_eq!(
            load_in(None, &env, dir.path())
                .unwrap()
                .config
                .max_text_chars,
            10
        );
    }
}
