//! The voice model: ONNX Runtime sessions, a bounded number of syntheses at
//! once, each on a blocking thread (never on the async runtime's workers).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ort::session::Session;
use ort::value::Tensor;
use tokio::sync::Semaphore;
use voxwire_core::{ErrorKind, Phase, Result, TtsError};

use crate::voice::Scales;
use crate::PROVIDER_ID;

/// The most ids one inference takes (a long sentence is split before this).
pub const MAX_IDS: usize = 4_096;

/// One inference's input.
#[derive(Debug, Clone)]
pub struct Inference {
    /// `^ _ (phoneme _)* $`.
    pub ids: Vec<i64>,
    /// Noise, length and noise-width scales.
    pub scales: Scales,
    /// The speaker, for multi-speaker voices.
    pub speaker: Option<i64>,
}

/// Loaded sessions of one model; at most `max_concurrent` run at once.
pub struct Model {
    path: PathBuf,
    threads: usize,
    has_speaker_input: bool,
    /// Idle sessions; a synthesis takes one (or makes one) and puts it back.
    idle: Mutex<Vec<Session>>,
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("threads", &self.threads)
            .finish()
    }
}

impl Model {
    /// Loads the model once now (so a missing or corrupt file fails the build).
    pub fn load(
        path: &Path,
        threads: usize,
        max_concurrent: usize,
        queue_timeout: Duration,
    ) -> Result<Self> {
        let session = open_session(path, threads)?;
        let has_speaker_input = session.inputs.iter().any(|i| i.name == "sid");
        for needed in ["input", "input_lengths", "scales"] {
            if !session.inputs.iter().any(|i| i.name == needed) {
                return Err(model_error(
                    path,
                    format!("the model has no `{needed}` input: it is not a Piper voice"),
                ));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            threads,
            has_speaker_input,
            idle: Mutex::new(vec![session]),
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            queue_timeout,
        })
    }

    /// Runs one inference on a blocking thread once a slot is free; 16-bit PCM out.
    pub async fn synthesize(self: &Arc<Self>, job: Inference) -> Result<Vec<i16>> {
        if job.ids.len() > MAX_IDS {
            return Err(TtsError::new(
                ErrorKind::Internal,
                format!(
                    "{} phoneme ids in one piece (at most {MAX_IDS})",
                    job.ids.len()
                ),
            )
            .with_provider(PROVIDER_ID)
            .with_phase(Phase::Synthesize));
        }
        let permit = tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                TtsError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "every synthesis slot stayed busy for {} ms",
                        self.queue_timeout.as_millis()
                    ),
                )
                .with_provider(PROVIDER_ID)
                .with_phase(Phase::Synthesize)
                .with_hint("raise max_concurrent, or let the chain fail over")
            })?
            .map_err(|_| TtsError::new(ErrorKind::Internal, "the model was closed"))?;
        let model = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            model.run_blocking(&job)
        })
        .await
        .map_err(|e| {
            TtsError::new(
                ErrorKind::Internal,
                format!("the inference thread failed: {e}"),
            )
            .with_provider(PROVIDER_ID)
            .with_phase(Phase::Synthesize)
        })?
    }

    fn run_blocking(&self, job: &Inference) -> Result<Vec<i16>> {
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut session = match taken {
            Some(s) => s,
            None => open_session(&self.path, self.threads)?,
        };
        let result = run(&mut session, job, self.has_speaker_input).map_err(|e| {
            TtsError::new(ErrorKind::Internal, format!("inference failed: {e}"))
                .with_provider(PROVIDER_ID)
                .with_phase(Phase::Synthesize)
                .with_endpoint(self.path.display().to_string())
        });
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(session);
        let samples = result?;
        Ok(to_pcm16(&samples))
    }
}

fn open_session(path: &Path, threads: usize) -> Result<Session> {
    if !path.is_file() {
        return Err(model_error(
            path,
            format!("the voice model {} does not exist", path.display()),
        )
        .with_hint(crate::VOICE_HINT));
    }
    Session::builder()
        .and_then(|b| b.with_intra_threads(threads.max(1)))
        .and_then(|b| b.with_inter_threads(1))
        .and_then(|b| b.commit_from_file(path))
        .map_err(|e| {
            model_error(
                path,
                format!(
                    "ONNX Runtime cannot load the voice model {}: {e}",
                    path.display()
                ),
            )
            .with_hint("the .onnx file is damaged or not a model: download the voice again")
        })
}

fn run(session: &mut Session, job: &Inference, speaker_input: bool) -> ort::Result<Vec<f32>> {
    let n = job.ids.len();
    let input = Tensor::from_array(([1usize, n], job.ids.clone()))?;
    let lengths = Tensor::from_array(([1usize], vec![n as i64]))?;
    let scales = Tensor::from_array((
        [3usize],
        vec![job.scales.noise, job.scales.length, job.scales.noise_w],
    ))?;
    let outputs = if speaker_input {
        let sid = Tensor::from_array(([1usize], vec![job.speaker.unwrap_or(0)]))?;
        session.run(ort::inputs![
            "input" => input,
            "input_lengths" => lengths,
            "scales" => scales,
            "sid" => sid,
        ])?
    } else {
        session.run(ort::inputs![
            "input" => input,
            "input_lengths" => lengths,
            "scales" => scales,
        ])?
    };
    let (_, samples) = outputs[0].try_extract_tensor::<f32>()?;
    Ok(samples.to_vec())
}

/// Float samples in [-1, 1] to 16-bit PCM, clipping what is outside.
pub fn to_pcm16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|s| {
            let s = if s.is_finite() {
                s.clamp(-1.0, 1.0)
            } else {
                0.0
            };
            (s * 32_767.0).round() as i16
        })
        .collect()
}

fn model_error(path: &Path, message: String) -> TtsError {
    TtsError::new(ErrorKind::Config, message)
        .with_provider(PROVIDER_ID)
        .with_phase(Phase::Config)
        .with_endpoint(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_samples_clip_to_sixteen_bits() {
        assert_eq!(
            to_pcm16(&[0.0, 1.0, -1.0, 2.0, -7.0, f32::NAN, 0.5]),
            vec![0, 32_767, -32_767, 32_767, -32_767, 0, 16_384]
        );
    }
}
