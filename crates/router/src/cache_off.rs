//! The phrase cache left out (the `cache` feature is off, as in the
//! browser bundle): nothing is looked up or kept, and this compiles away.

use bytes::Bytes;
use tokio::sync::mpsc;
use voxwire_core::{SpanTimes, SynthesisRequest, TextSpan, WordTime};

use crate::attempt::PieceMsg;
use crate::piece::PieceJob;
use crate::Inner;

/// No cache can exist in this build.
pub(crate) enum PhraseCache {}

/// No settings digest is needed without a cache.
pub(crate) fn sound_of(_settings: &toml::Table) -> String {
    String::new()
}

/// Never plays anything: there is no cache.
pub(crate) async fn serve(_inner: &Inner, _job: &PieceJob, _tx: &mpsc::Sender<PieceMsg>) -> bool {
    false
}

/// No recording can exist in this build.
pub(crate) enum Recorder {}

impl Recorder {
    pub fn start(
        _inner: &Inner,
        _idx: usize,
        _job: &PieceJob,
        _request: &SynthesisRequest,
        _clean: bool,
    ) -> Option<Self> {
        None
    }

    pub fn push(
        &mut self,
        _data: &Bytes,
        _span: Option<TextSpan>,
        _times: Option<SpanTimes>,
        _words: &[WordTime],
    ) {
        match *self {}
    }

    pub async fn keep(self, _inner: &Inner) {
        match self {}
    }
}
