//! End-to-end tests of `voxwire say`: the real binary and the real offline voice.
//!
//! Each test runs the binary in its own temporary directory (so nothing lands in
//! the repository), with `VOXWIRE_*` and `RUST_LOG` cleared, and kills it after 60 s.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

struct Run {
    status: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

fn command(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_voxwire"));
    cmd.args(args).current_dir(dir).env_remove("RUST_LOG");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VOXWIRE_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(envs.iter().copied());
    cmd
}

/// Runs the binary to completion (or kills it after [`TIMEOUT`]).
fn voxwire(dir: &Path, args: &[&str], envs: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    let mut cmd = command(dir, args, envs);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start voxwire");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        // The program may stop reading early (bounded read): ignore a broken pipe.
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    collect(child)
}

fn collect(mut child: Child) -> Run {
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let status = wait_bounded(&mut child);
    Run {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned(),
    }
}

fn wait_bounded(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("voxwire did not finish within {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Samples and rate of a WAV file, checking it is 16-bit mono PCM.
fn read_wav(path: &Path) -> (Vec<i16>, u32) {
    let bytes = std::fs::read(path).expect("read wav");
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let reader = hound::WavReader::open(path).expect("parse wav");
    let spec = reader.spec();
    assert_eq!(spec.channels, 1);
    assert_eq!(spec.bits_per_sample, 16);
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    let samples = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .expect("samples");
    (samples, spec.sample_rate)
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

fn wav_seconds(path: &Path) -> f64 {
    let (samples, rate) = read_wav(path);
    samples.len() as f64 / f64::from(rate)
}

#[test]
fn hello_becomes_a_spoken_wav_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = voxwire(
        dir.path(),
        &["say", "Hello from voxwire", "-o", "hello.wav"],
        &[],
        None,
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    assert_eq!(files(dir.path()), ["hello.wav"]);
    let (samples, rate) = read_wav(&dir.path().join("hello.wav"));
    assert_eq!(rate, 22_050);
    let secs = samples.len() as f64 / f64::from(rate);
    assert!((0.8..=5.0).contains(&secs), "{secs} s");
    let level = rms(&samples);
    assert!(level > 300.0, "rms {level}");
    assert!(run.stderr.contains("voxwire: spoke "), "{}", run.stderr);
    assert!(run.stderr.contains(" via espeak ("), "{}", run.stderr);
    assert!(run.stderr.contains("first audio after "), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn raw_pcm_on_stdout_lasts_as_long_as_the_wav() {
    let dir = tempfile::tempdir().unwrap();
    let pcm = voxwire(
        dir.path(),
        &["say", "--format", "pcm", "--sample-rate", "24000", "Hi"],
        &[],
        None,
    );
    assert_eq!(pcm.status, Some(0), "{}", pcm.stderr);
    assert_eq!(pcm.stdout.len() % 2, 0);
    let pcm_secs = pcm.stdout.len() as f64 / 2.0 / 24_000.0;
    let samples: Vec<i16> = pcm
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert!(rms(&samples) > 300.0);

    let wav = voxwire(dir.path(), &["say", "Hi", "-o", "hi.wav"], &[], None);
    assert_eq!(wav.status, Some(0), "{}", wav.stderr);
    let wav_secs = wav_seconds(&dir.path().join("hi.wav"));
    let diff = (pcm_secs - wav_secs).abs() / wav_secs;
    assert!(diff < 0.02, "pcm {pcm_secs} s vs wav {wav_secs} s");
    assert_eq!(files(dir.path()), ["hi.wav"]);
}

#[test]
fn g711_formats_follow_the_extension_or_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let text = "Testing one two three";
    let wav = voxwire(dir.path(), &["say", text, "-o", "ref.wav"], &[], None);
    assert_eq!(wav.status, Some(0), "{}", wav.stderr);
    let ref_secs = wav_seconds(&dir.path().join("ref.wav"));

    let ulaw = voxwire(
        dir.path(),
        &["say", text, "-o", "x.ul", "--sample-rate", "8000"],
        &[],
        None,
    );
    assert_eq!(ulaw.status, Some(0), "{}", ulaw.stderr);
    let alaw = voxwire(
        dir.path(),
        &[
            "say",
            text,
            "-o",
            "y.bin",
            "--format",
            "alaw",
            "--sample-rate",
            "8000",
        ],
        &[],
        None,
    );
    assert_eq!(alaw.status, Some(0), "{}", alaw.stderr);
    for name in ["x.ul", "y.bin"] {
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        assert_ne!(&bytes[..4], b"RIFF", "{name} should be raw");
        let secs = bytes.len() as f64 / 8_000.0;
        assert!(
            (secs - ref_secs).abs() / ref_secs < 0.02,
            "{name}: {secs} s vs {ref_secs} s"
        );
    }
}

#[test]
fn wav_can_stream_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let run = voxwire(dir.path(), &["say", "--format", "wav", "Hi"], &[], None);
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    assert_eq!(&run.stdout[..4], b"RIFF");
    assert_eq!(&run.stdout[36..40], b"data");
    assert!(run.stdout.len() > 44 + 10_000);
    assert!(files(dir.path()).is_empty());
}

#[test]
fn text_comes_from_stdin_with_a_dash_or_no_argument() {
    let dir = tempfile::tempdir().unwrap();
    let input = b"Hello from standard input\n";
    let dash = voxwire(dir.path(), &["say", "-", "-o", "a.wav"], &[], Some(input));
    assert_eq!(dash.status, Some(0), "{}", dash.stderr);
    let bare = voxwire(dir.path(), &["say", "-o", "b.wav"], &[], Some(input));
    assert_eq!(bare.status, Some(0), "{}", bare.stderr);
    for name in ["a.wav", "b.wav"] {
        let secs = wav_seconds(&dir.path().join(name));
        assert!((0.8..=5.0).contains(&secs), "{name}: {secs} s");
    }
    assert_eq!(files(dir.path()), ["a.wav", "b.wav"]);
}

#[test]
fn a_known_voice_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let run = voxwire(
        dir.path(),
        &["say", "Good morning", "--voice", "en-gb", "-o", "gb.wav"],
        &[],
        None,
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    assert!(rms(&read_wav(&dir.path().join("gb.wav")).0) > 300.0);
}

/// One bad request: what to run, and the phrase its one error line must contain.
struct Bad {
    name: &'static str,
    args: Vec<&'static str>,
    envs: Vec<(&'static str, &'static str)>,
    stdin: Option<Vec<u8>>,
    phrase: &'static str,
}

fn bad(name: &'static str, args: &[&'static str], phrase: &'static str) -> Bad {
    Bad {
        name,
        args: args.to_vec(),
        envs: Vec::new(),
        stdin: None,
        phrase,
    }
}

#[test]
fn bad_requests_exit_2_with_a_specific_message_and_leave_no_file() {
    let cases = vec![
        bad(
            "empty text",
            &["say", "", "-o", "x.wav"],
            "the text is empty",
        ),
        bad(
            "whitespace text",
            &["say", "  \t ", "-o", "x.wav"],
            "the text is only whitespace",
        ),
        bad(
            "unknown voice",
            &["say", "Hello", "--voice", "no-such-voice", "-o", "x.wav"],
            "unknown voice `no-such-voice`",
        ),
        bad(
            "unknown provider",
            &["say", "Hello", "--provider", "nope", "-o", "x.wav"],
            "unknown provider `nope`: available providers are",
        ),
        bad(
            "missing directory",
            &["say", "Hello", "-o", "missing/dir/x.wav"],
            "does not exist",
        ),
        bad(
            "output is a directory",
            &["say", "Hello", "-o", "sub"],
            "is a directory",
        ),
        bad(
            "config is not TOML",
            &["say", "Hello", "--config", "sub/bad.toml", "-o", "x.wav"],
            "is not a valid voxwire config",
        ),
        bad(
            "config has an unknown key",
            &[
                "say",
                "Hello",
                "--config",
                "sub/unknown.toml",
                "-o",
                "x.wav",
            ],
            "unknown field `colour`",
        ),
        bad(
            "provider setting is unknown",
            &[
                "say",
                "Hello",
                "--config",
                "sub/setting.toml",
                "-o",
                "x.wav",
            ],
            "invalid settings for provider `espeak`",
        ),
        bad(
            "config file is missing",
            &["say", "Hello", "--config", "nowhere.toml", "-o", "x.wav"],
            "cannot read config file",
        ),
        bad(
            "sample rate out of range",
            &["say", "Hello", "--sample-rate", "100", "-o", "x.wav"],
            "sample rate 100 Hz is out of range",
        ),
        Bad {
            envs: vec![("VOXWIRE_MAX_TEXT_CHARS", "10")],
            ..bad(
                "text over the bound",
                &["say", "This sentence is too long", "-o", "x.wav"],
                "over the limit of 10",
            )
        },
        Bad {
            envs: vec![("VOXWIRE_MAX_TEXT_CHARS", "10")],
            stdin: Some(vec![b'a'; 100_000]),
            ..bad(
                "stdin over the bound",
                &["say", "-", "-o", "x.wav"],
                "longer than 40 bytes",
            )
        },
        Bad {
            stdin: Some(b" \n \n".to_vec()),
            ..bad(
                "whitespace on stdin",
                &["say", "-o", "x.wav"],
                "only whitespace",
            )
        },
        Bad {
            envs: vec![("VOXWIRE_CONFIG", "sub/bad.toml")],
            ..bad(
                "VOXWIRE_CONFIG is not TOML",
                &["say", "Hello", "-o", "x.wav"],
                "is not a valid voxwire config",
            )
        },
    ];
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("bad.toml"), "this is not toml\n").unwrap();
        std::fs::write(sub.join("unknown.toml"), "colour = 1\n").unwrap();
        std::fs::write(
            sub.join("setting.toml"),
            "[[chain]]\nprovider = \"espeak\"\ncolour = 1\n",
        )
        .unwrap();
        let before = (files(dir.path()), files(&sub));
        let run = voxwire(dir.path(), &case.args, &case.envs, case.stdin.as_deref());
        let name = case.name;
        assert_eq!(run.status, Some(2), "{name}: {}", run.stderr);
        assert!(
            run.stderr
                .lines()
                .any(|l| l.starts_with("voxwire: error: ") && l.contains(case.phrase)),
            "{name}: expected `{}` in:\n{}",
            case.phrase,
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{name}: wrote to stdout");
        assert_eq!(
            (files(dir.path()), files(&sub)),
            before,
            "{name}: left files behind"
        );
    }
}

#[test]
fn a_broken_chain_entry_fails_over_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("voxwire.toml"),
        "[[chain]]\nname = \"broken\"\nprovider = \"espeak\"\nengine = \"system\"\nprogram = \"/nonexistent/espeak-ng\"\n\n[[chain]]\nprovider = \"espeak\"\n",
    )
    .unwrap();
    let run = voxwire(
        dir.path(),
        &["say", "Hello there", "-o", "x.wav", "--verbose"],
        &[],
        None,
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("voxwire: broken failed (") && run.stderr.contains("; trying espeak"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("attempt 1:"), "{}", run.stderr);
    assert_eq!(files(dir.path()), ["voxwire.toml", "x.wav"]);
}

#[test]
fn a_failing_engine_exits_1_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    // A "program" that is not espeak-ng: it exits at once without audio.
    let run = voxwire(
        dir.path(),
        &["say", "Hello there", "-o", "x.wav"],
        &[
            ("VOXWIRE_CHAIN", "espeak"),
            ("VOXWIRE_ESPEAK_ENGINE", "system"),
            ("VOXWIRE_ESPEAK_PROGRAM", "/bin/false"),
        ],
        None,
    );
    assert!(
        matches!(run.status, Some(1) | Some(2)),
        "status {:?}: {}",
        run.status,
        run.stderr
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("voxwire: error: espeak")),
        "{}",
        run.stderr
    );
    assert!(files(dir.path()).is_empty());
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_and_deletes_the_temporary_file() {
    ctrl_c_stops(false);
}

/// Some supervisors and harnesses start programs with SIGINT blocked (CI did):
/// Ctrl-C must stop `say` all the same.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_even_when_the_parent_blocked_sigint() {
    ctrl_c_stops(true);
}

/// Starts a long `say`, sends SIGINT once the temporary file exists, and
/// checks the exit status 130 and that no file is left; with `blocked` the
/// child starts with SIGINT in its signal mask.
#[cfg(unix)]
fn ctrl_c_stops(blocked: bool) {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let text = "This is a long text that keeps the voice busy for a while. ".repeat(1500);
    let mut command = command(dir.path(), &["say", "-", "-o", "long.wav"], &[]);
    if blocked {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
                libc::sigemptyset(set.as_mut_ptr());
                libc::sigaddset(set.as_mut_ptr(), libc::SIGINT);
                libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut());
                Ok(())
            });
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    drop(stdin);
    // The temporary file appears once Ctrl-C is being handled.
    let deadline = Instant::now() + TIMEOUT;
    while !files(dir.path()).iter().any(|f| f.contains(".tmp-")) {
        assert!(Instant::now() < deadline, "no temporary file appeared");
        assert!(child.try_wait().unwrap().is_none(), "finished too early");
        thread::sleep(Duration::from_millis(5));
    }
    thread::sleep(Duration::from_millis(200));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut stderr = child.stderr.take().unwrap();
    let status = wait_bounded(&mut child);
    let mut err = String::new();
    let _ = stderr.read_to_string(&mut err);
    assert_eq!(status, Some(130), "{err}");
    assert!(err.contains("voxwire: interrupted"), "{err}");
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

/// A directory holding a stand-in `name` player that records its arguments
/// (`args`) and everything fed on its stdin (`audio`) into the directory.
#[cfg(unix)]
fn stand_in_player(name: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let bin = tempfile::tempdir().unwrap();
    let rec = bin.path().display().to_string();
    let script =
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{rec}/args'\nexec /bin/cat > '{rec}/audio'\n");
    let path = bin.path().join(name);
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// What the stand-in player was fed, as samples, and its arguments.
#[cfg(unix)]
fn fed(bin: &Path) -> (Vec<i16>, Vec<String>) {
    let audio = std::fs::read(bin.join("audio")).expect("the player was fed");
    assert_eq!(audio.len() % 2, 0);
    let samples = audio
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let args = std::fs::read_to_string(bin.join("args")).unwrap();
    (samples, args.lines().map(String::from).collect())
}

#[cfg(unix)]
#[test]
fn play_feeds_raw_pcm_to_the_player_found_on_path() {
    let dir = tempfile::tempdir().unwrap();
    let bin = stand_in_player("aplay");
    let path = bin.path().to_str().unwrap();
    let run = voxwire(
        dir.path(),
        &[
            "say",
            "--play",
            "--sample-rate",
            "16000",
            "Hello from voxwire",
        ],
        &[("PATH", path)],
        None,
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "nothing on stdout when playing");
    let (samples, args) = fed(bin.path());
    assert_eq!(
        args,
        ["-q", "-t", "raw", "-f", "S16_LE", "-r", "16000", "-c", "1", "-"]
    );
    assert!(rms(&samples) > 300.0, "the player was fed speech");
    // The same audio as a file gets (with the same PATH: the same engine).
    let wav = voxwire(
        dir.path(),
        &[
            "say",
            "--sample-rate",
            "16000",
            "Hello from voxwire",
            "-o",
            "h.wav",
        ],
        &[("PATH", path)],
        None,
    );
    assert_eq!(wav.status, Some(0), "{}", wav.stderr);
    let (file, _) = read_wav(&dir.path().join("h.wav"));
    let ratio = samples.len() as f64 / file.len() as f64;
    assert!(
        (0.98..=1.02).contains(&ratio),
        "{} vs {}",
        samples.len(),
        file.len()
    );
    assert!(run.stderr.contains("voxwire: spoke "), "{}", run.stderr);
    assert_eq!(files(dir.path()), ["h.wav"]);
}

#[cfg(unix)]
#[test]
fn a_terminal_on_stdout_plays_aloud_and_a_pipe_still_gets_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let bin = stand_in_player("pw-play");
    let path = bin.path().to_str().unwrap();
    // `script` gives the program a pseudo-terminal as stdout.
    let inner = format!("{} say Hi", env!("CARGO_BIN_EXE_voxwire"));
    let mut script = command(dir.path(), &[], &[("PATH", path), ("SHELL", "/bin/sh")]);
    let program = std::mem::replace(&mut script, Command::new("/usr/bin/script"));
    script
        .args(["-q", "-e", "-c", &inner, "/dev/null"])
        .current_dir(dir.path())
        .env_clear()
        .envs(program.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = collect(script.spawn().expect("start script"));
    assert_eq!(
        run.status,
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let (samples, args) = fed(bin.path());
    assert_eq!(
        args,
        ["--raw", "--format=s16", "--rate=22050", "--channels=1", "-"]
    );
    assert!(rms(&samples) > 300.0);
    let shown = String::from_utf8_lossy(&run.stdout);
    assert!(!shown.contains("refusing"), "{shown}");

    // A pipe keeps getting raw bytes, player or not.
    std::fs::remove_file(bin.path().join("audio")).unwrap();
    let piped = voxwire(dir.path(), &["say", "Hi"], &[("PATH", path)], None);
    assert_eq!(piped.status, Some(0), "{}", piped.stderr);
    assert!(!piped.stdout.is_empty());
    assert!(!bin.path().join("audio").exists(), "a pipe does not play");
}

#[cfg(unix)]
#[test]
fn no_player_found_says_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let run = voxwire(
        dir.path(),
        &["say", "--play", "Hi"],
        &[("PATH", empty.path().to_str().unwrap())],
        None,
    );
    assert_eq!(run.status, Some(2), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no audio player found"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("install"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

/// `--language en`, `en-US` and `fr` speak through the offline voice on both
/// engines (the system program and the embedded port), and `fr` is really
/// French: its audio differs from English of the same text.
#[test]
fn language_tags_speak_on_both_engines() {
    let text = "Bonjour, comment allez-vous aujourd'hui";
    for engine in ["system", "embedded"] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::write(
            dir.path().join("voxwire.toml"),
            format!(
                "[[chain]]\nprovider = \"espeak\"\nengine = \"{engine}\"\ndata_dir = {:?}\n",
                data.display().to_string()
            ),
        )
        .unwrap();
        let mut audio = Vec::new();
        for language in ["en", "en-US", "fr"] {
            let out = format!("{language}.wav");
            let run = voxwire(
                dir.path(),
                &["say", text, "--language", language, "-o", &out],
                &[],
                None,
            );
            assert_eq!(run.status, Some(0), "{engine} {language}: {}", run.stderr);
            assert!(
                run.stderr.contains(" via espeak ("),
                "{engine} {language}: {}",
                run.stderr
            );
            let (samples, rate) = read_wav(&dir.path().join(&out));
            let secs = samples.len() as f64 / f64::from(rate);
            assert!((0.8..=8.0).contains(&secs), "{engine} {language}: {secs} s");
            let level = rms(&samples);
            assert!(level > 300.0, "{engine} {language}: rms {level}");
            audio.push(samples);
        }
        assert_ne!(audio[0], audio[2], "{engine}: fr sounds like en");
    }
}

/// A chain entry's `name` is what the failover line calls it.
#[test]
fn failover_lines_use_the_entry_names() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("voxwire.toml"),
        "[[chain]]\nname = \"flaky\"\nprovider = \"espeak\"\nengine = \"system\"\nprogram = \"/bin/false\"\n\n[[chain]]\nname = \"steady\"\nprovider = \"espeak\"\nengine = \"system\"\n",
    )
    .unwrap();
    let run = voxwire(
        dir.path(),
        &["say", "Hello there", "-o", "x.wav"],
        &[],
        None,
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("voxwire: failed over from flaky to steady: "),
        "{}",
        run.stderr
    );
    // The entry that spoke is described as itself, not as the other espeak.
    assert!(
        run.stderr.contains(" via espeak (") && !run.stderr.contains("/bin/false);"),
        "{}",
        run.stderr
    );
    assert_eq!(files(dir.path()), ["voxwire.toml", "x.wav"]);
}
