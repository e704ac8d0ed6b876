//! The relay's metrics, rendered in the Prometheus text exposition format 0.0.4
//! for `GET /metrics`.
//!
//! Hand-rolled with atomics rather than a metrics crate: the set is small and
//! fixed, and the hot paths (sessions, utterances, audio, first-audio latency) stay
//! lock-free. Labelled counters sit behind a mutex, touched once per event.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The `Content-Type` of [`Metrics::render`]'s output, for the `/metrics` response.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the first-audio histogram buckets, in nanoseconds and as the
/// exact `le` label text (+Inf is implied).
const FIRST_AUDIO_BUCKETS: [(u128, &str); 11] = [
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
    (10_000_000_000, "10"),
];

/// A latency histogram with [`FIRST_AUDIO_BUCKETS`].
///
/// Each observation lands in exactly one slot (the last slot is "above every
/// bound"); rendering sums them up, so the buckets are always cumulative and
/// `_count` always equals the `+Inf` bucket, even mid-update.
#[derive(Default)]
struct Histogram {
    slots: [AtomicU64; 12],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, value: Duration) {
        let nanos = value.as_nanos();
        let slot = FIRST_AUDIO_BUCKETS
            .iter()
            .position(|(bound, _)| nanos <= *bound)
            .unwrap_or(FIRST_AUDIO_BUCKETS.len());
        if let Some(counter) = self.slots.get(slot) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
        // Saturate rather than wrap: a sum that went backwards would look like a reset.
        let _ = self
            .sum_nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sum| {
                Some(sum.saturating_add(nanos))
            });
    }

    fn render(&self, out: &mut String, name: &str) {
        let mut cumulative = 0u64;
        for (slot, (_, le)) in self.slots.iter().zip(FIRST_AUDIO_BUCKETS.iter()) {
            cumulative = cumulative.saturating_add(slot.load(Ordering::Relaxed));
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        if let Some(overflow) = self.slots.last() {
            cumulative = cumulative.saturating_add(overflow.load(Ordering::Relaxed));
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// The relay's counters, gauges and histogram; shared by every handler (put it in
/// an `Arc`) and rendered by `GET /metrics`.
#[derive(Default)]
pub struct Metrics {
    sessions_total: AtomicU64,
    sessions_active: AtomicU64,
    utterances_total: AtomicU64,
    audio_micros: AtomicU64,
    first_audio: Histogram,
    failovers: Mutex<BTreeMap<(String, String), u64>>,
    limit_breaches: Mutex<BTreeMap<&'static str, u64>>,
    auth_rejections: Mutex<BTreeMap<&'static str, u64>>,
    http_requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

/// Adds one to a labelled counter; a poisoned lock is still usable for counting.
fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    let count = map.entry(key).or_insert(0);
    *count = count.saturating_add(1);
}

/// A label value escaped per the exposition format: `\` → `\\`, `"` → `\"`,
/// newline → `\n`.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Writes the `# HELP` and `# TYPE` lines of one metric family.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl Metrics {
    /// Counts a WebSocket session that was accepted, for the total and the live gauge.
    pub fn session_opened(&self) {
        self.sessions_total.fetch_add(1, Ordering::Relaxed);
        self.sessions_active.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a session that ended, however it ended (the gauge never goes below zero).
    pub fn session_closed(&self) {
        let _ = self
            .sessions_active
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    /// Counts an utterance whose audio was delivered in full.
    pub fn utterance_done(&self) {
        self.utterances_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds seconds of audio delivered to clients; negative, NaN and infinite values are ignored.
    pub fn audio_seconds(&self, seconds: f64) {
        if !seconds.is_finite() || seconds <= 0.0 {
            return;
        }
        // `as` saturates; micro-second resolution is plenty for a running total.
        let micros = (seconds * 1e6).round() as u64;
        let _ = self
            .audio_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
                Some(total.saturating_add(micros))
            });
    }

    /// Records the time from a request to its first audio chunk, the latency users feel.
    pub fn first_audio(&self, latency: Duration) {
        self.first_audio.observe(latency);
    }

    /// Counts a failover away from `provider` for a reason of kind `reason_kind`.
    pub fn failover(&self, provider: &str, reason_kind: &str) {
        bump(
            &self.failovers,
            (provider.to_owned(), reason_kind.to_owned()),
        );
    }

    /// Counts a breach of the named limit (message size, rate, sessions, …).
    pub fn limit_breached(&self, limit: &'static str) {
        bump(&self.limit_breaches, limit);
    }

    /// Counts a refused credential, by reason (missing, unknown, expired, origin, …).
    pub fn auth_rejected(&self, reason: &'static str) {
        bump(&self.auth_rejections, reason);
    }

    /// Counts an HTTP request by route template and response status.
    pub fn requests(&self, route: &'static str, status: u16) {
        bump(&self.http_requests, (route, status));
    }

    /// Every metric in the Prometheus text format 0.0.4 (serve with [`CONTENT_TYPE`]).
    ///
    /// Each family has `# HELP` and `# TYPE` lines even before its first event;
    /// unlabelled metrics are always present, starting at zero.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);

        let name = "voxwire_sessions_total";
        header(&mut out, name, "counter", "WebSocket sessions opened.");
        let _ = writeln!(
            out,
            "{name} {}",
            self.sessions_total.load(Ordering::Relaxed)
        );

        let name = "voxwire_sessions_active";
        header(
            &mut out,
            name,
            "gauge",
            "WebSocket sessions currently open.",
        );
        let _ = writeln!(
            out,
            "{name} {}",
            self.sessions_active.load(Ordering::Relaxed)
        );

        let name = "voxwire_utterances_total";
        header(
            &mut out,
            name,
            "counter",
            "Utterances synthesized to the end.",
        );
        let _ = writeln!(
            out,
            "{name} {}",
            self.utterances_total.load(Ordering::Relaxed)
        );

        let name = "voxwire_audio_seconds_total";
        header(
            &mut out,
            name,
            "counter",
            "Seconds of audio delivered to clients.",
        );
        let seconds = self.audio_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name} {seconds}");

        let name = "voxwire_first_audio_seconds";
        header(
            &mut out,
            name,
            "histogram",
            "Time from a request to its first audio chunk.",
        );
        self.first_audio.render(&mut out, name);

        let name = "voxwire_failovers_total";
        header(
            &mut out,
            name,
            "counter",
            "Failovers away from a provider, by reason.",
        );
        for ((provider, reason), count) in self
            .failovers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "{name}{{provider=\"{}\",reason=\"{}\"}} {count}",
                escape_label(provider),
                escape_label(reason)
            );
        }

        let name = "voxwire_limit_breaches_total";
        header(
            &mut out,
            name,
            "counter",
            "Requests refused by a limit, by limit.",
        );
        for (limit, count) in self
            .limit_breaches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(out, "{name}{{limit=\"{}\"}} {count}", escape_label(limit));
        }

        let name = "voxwire_auth_rejections_total";
        header(&mut out, name, "counter", "Credentials refused, by reason.");
        for (reason, count) in self
            .auth_rejections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(out, "{name}{{reason=\"{}\"}} {count}", escape_label(reason));
        }

        let name = "voxwire_http_requests_total";
        header(
            &mut out,
            name,
            "counter",
            "HTTP requests, by route and status.",
        );
        for ((route, status), count) in self
            .http_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "{name}{{route=\"{}\",status=\"{status}\"}} {count}",
                escape_label(route)
            );
        }

        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks one sample line: `name{label="value",...} value` or `name value`.
    /// Returns the metric name, or why the line is invalid.
    fn parse_sample(line: &str) -> Result<&str, String> {
        let is_name_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
        let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
        let name_end = line
            .find(|c: char| !is_name_char(c))
            .ok_or_else(|| format!("no value: {line:?}"))?;
        let name = &line[..name_end];
        if !name.starts_with(is_name_start) {
            return Err(format!("bad metric name: {line:?}"));
        }
        let mut rest = &line[name_end..];
        if let Some(labels) = rest.strip_prefix('{') {
            let mut chars = labels.char_indices().peekable();
            let close = loop {
                // A label name, `=`, then a quoted value with escapes.
                let Some(&(start, c)) = chars.peek() else {
                    return Err(format!("unterminated labels: {line:?}"));
                };
                if c == '}' {
                    break start;
                }
                if !(c.is_ascii_alphabetic() || c == '_') {
                    return Err(format!("bad label name: {line:?}"));
                }
                while chars
                    .peek()
                    .is_some_and(|&(_, c)| is_name_char(c) && c != ':')
                {
                    chars.next();
                }
                if chars.next().map(|(_, c)| c) != Some('=') {
                    return Err(format!("expected '=': {line:?}"));
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    return Err(format!("expected '\"': {line:?}"));
                }
                loop {
                    match chars.next().map(|(_, c)| c) {
                        None | Some('\n') => return Err(format!("unterminated value: {line:?}")),
                        Some('\\') => match chars.next().map(|(_, c)| c) {
                            Some('\\' | '"' | 'n') => {}
                            _ => return Err(format!("bad escape: {line:?}")),
                        },
                        Some('"') => break,
                        Some(_) => {}
                    }
                }
                match chars.next() {
                    Some((_, ',')) => {}
                    Some((i, '}')) => break i,
                    _ => return Err(format!("expected ',' or '}}': {line:?}")),
                }
            };
            rest = &labels[close + 1..];
        }
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| format!("expected one space before the value: {line:?}"))?;
        let ok = matches!(value, "+Inf" | "-Inf" | "NaN") || value.parse::<f64>().is_ok();
        if !ok || value.contains(' ') {
            return Err(format!("bad value: {line:?}"));
        }
        Ok(name)
    }

    /// The whole exposition is parseable: comments are HELP/TYPE, every sample
    /// belongs to the family whose TYPE came last, and the text ends with a newline.
    fn assert_parseable(text: &str) {
        assert!(text.ends_with('\n'));
        let mut family: Option<(String, String)> = None;
        for line in text.lines() {
            if let Some(comment) = line.strip_prefix("# ") {
                let mut parts = comment.splitn(3, ' ');
                let keyword = parts.next().unwrap();
                let name = parts.next().unwrap();
                let rest = parts.next().unwrap();
                match keyword {
                    "HELP" => assert!(!rest.is_empty(), "{line}"),
                    "TYPE" => {
                        assert!(
                            ["counter", "gauge", "histogram", "summary", "untyped"].contains(&rest),
                            "{line}"
                        );
                        family = Some((name.to_owned(), rest.to_owned()));
                    }
                    _ => panic!("unexpected comment {line:?}"),
                }
                continue;
            }
            assert!(!line.is_empty(), "blank line in exposition");
            let name = parse_sample(line).unwrap();
            let (family_name, kind) = family.as_ref().expect("sample before any TYPE");
            if kind == "histogram" {
                let base = name
                    .strip_suffix("_bucket")
                    .or_else(|| name.strip_suffix("_sum"))
                    .or_else(|| name.strip_suffix("_count"))
                    .unwrap_or(name);
                assert_eq!(base, family_name, "{line}");
            } else {
                assert_eq!(name, family_name, "{line}");
            }
        }
    }

    fn has_line(text: &str, line: &str) -> bool {
        text.lines().any(|l| l == line)
    }

    #[test]
    fn empty_render_has_every_family() {
        let text = Metrics::default().render();
        assert_parseable(&text);
        for (name, kind) in [
            ("voxwire_sessions_total", "counter"),
            ("voxwire_sessions_active", "gauge"),
            ("voxwire_utterances_total", "counter"),
            ("voxwire_audio_seconds_total", "counter"),
            ("voxwire_first_audio_seconds", "histogram"),
            ("voxwire_failovers_total", "counter"),
            ("voxwire_limit_breaches_total", "counter"),
            ("voxwire_auth_rejections_total", "counter"),
            ("voxwire_http_requests_total", "counter"),
        ] {
            assert!(has_line(&text, &format!("# TYPE {name} {kind}")), "{name}");
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("# HELP {name} "))),
                "{name}"
            );
        }
        for line in [
            "voxwire_sessions_total 0",
            "voxwire_sessions_active 0",
            "voxwire_utterances_total 0",
            "voxwire_audio_seconds_total 0",
            "voxwire_first_audio_seconds_bucket{le=\"+Inf\"} 0",
            "voxwire_first_audio_seconds_sum 0",
            "voxwire_first_audio_seconds_count 0",
        ] {
            assert!(has_line(&text, line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn render_after_some_events() {
        let m = Metrics::default();
        m.session_opened();
        m.session_opened();
        m.session_opened();
        m.session_closed();
        m.utterance_done();
        m.utterance_done();
        m.audio_seconds(1.5);
        m.audio_seconds(0.25);
        m.audio_seconds(-3.0);
        m.audio_seconds(f64::NAN);
        m.audio_seconds(f64::INFINITY);
        m.failover("xai", "timeout");
        m.failover("xai", "timeout");
        m.failover("espeak", "unavailable");
        m.limit_breached("text_per_utterance");
        m.auth_rejected("expired");
        m.auth_rejected("origin");
        m.auth_rejected("origin");
        m.requests("/v1/tts", 200);
        m.requests("/v1/tts", 200);
        m.requests("/v1/tokens", 401);
        let text = m.render();
        assert_parseable(&text);
        for line in [
            "voxwire_sessions_total 3",
            "voxwire_sessions_active 2",
            "voxwire_utterances_total 2",
            "voxwire_audio_seconds_total 1.75",
            "voxwire_failovers_total{provider=\"espeak\",reason=\"unavailable\"} 1",
            "voxwire_failovers_total{provider=\"xai\",reason=\"timeout\"} 2",
            "voxwire_limit_breaches_total{limit=\"text_per_utterance\"} 1",
            "voxwire_auth_rejections_total{reason=\"expired\"} 1",
            "voxwire_auth_rejections_total{reason=\"origin\"} 2",
            "voxwire_http_requests_total{route=\"/v1/tokens\",status=\"401\"} 1",
            "voxwire_http_requests_total{route=\"/v1/tts\",status=\"200\"} 2",
        ] {
            assert!(has_line(&text, line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn sessions_active_never_negative() {
        let m = Metrics::default();
        m.session_closed();
        m.session_closed();
        assert!(has_line(&m.render(), "voxwire_sessions_active 0"));
        m.session_opened();
        assert!(has_line(&m.render(), "voxwire_sessions_active 1"));
    }

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        let observations = [
            Duration::ZERO,
            Duration::from_millis(5), // on a bound: le="0.005"
            Duration::from_millis(5) + Duration::from_nanos(1), // just above: le="0.01"
            Duration::from_millis(30),
            Duration::from_millis(30),
            Duration::from_millis(700),
            Duration::from_secs(10),
            Duration::from_secs(11),      // only +Inf
            Duration::from_secs(100_000), // only +Inf
        ];
        for d in observations {
            m.first_audio(d);
        }
        let text = m.render();
        assert_parseable(&text);
        let expected = [
            ("0.005", 2),
            ("0.01", 3),
            ("0.025", 3),
            ("0.05", 5),
            ("0.1", 5),
            ("0.25", 5),
            ("0.5", 5),
            ("1", 6),
            ("2.5", 6),
            ("5", 6),
            ("10", 7),
            ("+Inf", 9),
        ];
        for (le, count) in expected {
            let line = format!("voxwire_first_audio_seconds_bucket{{le=\"{le}\"}} {count}");
            assert!(has_line(&text, &line), "missing {line:?} in\n{text}");
        }
        assert!(has_line(&text, "voxwire_first_audio_seconds_count 9"));
        // The bucket values never decrease, in order.
        let buckets: Vec<u64> = text
            .lines()
            .filter(|l| l.starts_with("voxwire_first_audio_seconds_bucket"))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(buckets.len(), 12);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*buckets.last().unwrap(), observations.len() as u64);
        let sum_line = text
            .lines()
            .find(|l| l.starts_with("voxwire_first_audio_seconds_sum "))
            .unwrap();
        let sum: f64 = sum_line.rsplit(' ').next().unwrap().parse().unwrap();
        let expected_sum: f64 = observations.iter().map(Duration::as_secs_f64).sum();
        assert!((sum - expected_sum).abs() < 1e-6, "{sum} vs {expected_sum}");
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.failover("we\"ird\\pro\nvider", "line1\nline2");
        let text = m.render();
        assert_parseable(&text);
        assert!(has_line(
            &text,
            "voxwire_failovers_total{provider=\"we\\\"ird\\\\pro\\nvider\",reason=\"line1\\nline2\"} 1"
        ));
        assert_eq!(escape_label("plain"), "plain");
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn parser_rejects_bad_lines() {
        for bad in [
            "1metric 3",
            "metric",
            "metric  3",
            "metric abc",
            "metric{label=\"x} 1",
            "metric{label=x} 1",
            "metric{label=\"a\\tb\"} 1",
            "metric{9label=\"x\"} 1",
            "metric{label=\"x\"}1",
        ] {
            assert!(parse_sample(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "metric 3",
            "metric_total{a=\"1\",b=\"two\"} 4.5",
            "metric_bucket{le=\"+Inf\"} 0",
            "m{} +Inf",
        ] {
            assert!(parse_sample(good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn concurrent_updates_are_counted() {
        let m = std::sync::Arc::new(Metrics::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        m.utterance_done();
                        m.first_audio(Duration::from_millis(20));
                        m.requests("/v1/tts", 200);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = m.render();
        assert!(has_line(&text, "voxwire_utterances_total 4000"));
        assert!(has_line(&text, "voxwire_first_audio_seconds_count 4000"));
        assert!(has_line(
            &text,
            "voxwire_http_requests_total{route=\"/v1/tts\",status=\"200\"} 4000"
        ));
    }

    #[test]
    fn content_type_is_prometheus_text() {
        assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    }
}
