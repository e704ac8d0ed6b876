//! Converting between encoded bytes and linear 16-bit samples.

use bytes::Bytes;

use super::g711;
use super::Encoding;

/// Decodes whole samples of `encoding` into linear 16-bit samples.
pub fn decode(encoding: Encoding, data: &[u8]) -> Vec<i16> {
    match encoding {
        Encoding::PcmS16le => data
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect(),
        Encoding::Mulaw => data.iter().map(|&b| g711::mulaw_to_linear(b)).collect(),
        Encoding::Alaw => data.iter().map(|&b| g711::alaw_to_linear(b)).collect(),
    }
}

/// Encodes linear 16-bit samples as `encoding`.
pub fn encode(encoding: Encoding, samples: &[i16]) -> Bytes {
    match encoding {
        Encoding::PcmS16le => {
            let mut out = Vec::with_capacity(samples.len() * 2);
            for s in samples {
                out.extend_from_slice(&s.to_le_bytes());
            }
            out.into()
        }
        Encoding::Mulaw => samples
            .iter()
            .map(|&s| g711::linear_to_mulaw(s))
            .collect::<Vec<u8>>()
            .into(),
        Encoding::Alaw => samples
            .iter()
            .map(|&s| g711::linear_to_alaw(s))
            .collect::<Vec<u8>>()
            .into(),
    }
}

/// Root-mean-square level of samples, 0.0 for silence up to 32768.0.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_round_trips_exactly() {
        let samples: Vec<i16> = vec![0, 1, -1, i16::MAX, i16::MIN, 1234];
        let bytes = encode(Encoding::PcmS16le, &samples);
        assert_eq!(decode(Encoding::PcmS16le, &bytes), samples);
    }

    #[test]
    fn rms_of_a_square_wave_is_its_amplitude() {
        let s: Vec<i16> = (0..100)
            .map(|i| if i % 2 == 0 { 1000 } else { -1000 })
            .collect();
        assert!((rms(&s) - 1000.0).abs() < 1e-9);
        assert_eq!(rms(&[]), 0.0);
    }
}
