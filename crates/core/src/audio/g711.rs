//! G.711 µ-law and A-law, the telephony codecs xAI and phone stacks use.
//!
//! Straight from ITU-T G.711 (the classic Sun reference formulation): 14/13-bit
//! segments, bias 0x84 for µ-law, alternate-bit inversion 0x55 for A-law.

const MULAW_BIAS: i32 = 0x84;
const MULAW_CLIP: i32 = 32_635;

/// Encodes one linear sample as µ-law.
pub fn linear_to_mulaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm = pcm.min(MULAW_CLIP) + MULAW_BIAS;
    // The segment is the position of the highest set bit above bit 7.
    let exponent = match pcm >> 7 {
        0 => 0,
        high => (31 - (high as u32).leading_zeros()).min(7) as i32,
    };
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// Decodes one µ-law byte to a linear sample.
pub fn mulaw_to_linear(byte: u8) -> i16 {
    let b = !byte;
    let sign = b & 0x80;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0F);
    let magnitude = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

/// Encodes one linear sample as A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3; // A-law works on 13-bit magnitudes
    let mask = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    const SEGMENT_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let Some(segment) = SEGMENT_ENDS.iter().position(|&end| pcm <= end) else {
        return 0x7F ^ mask;
    };
    let shift = if segment < 2 { 1 } else { segment };
    let code = ((segment as i32) << 4) | ((pcm >> shift) & 0x0F);
    (code as u8) ^ mask
}

/// Decodes one A-law byte to a linear sample.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let b = byte ^ 0x55;
    let sign = b & 0x80;
    let segment = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0F);
    let magnitude = match segment {
        0 => (mantissa << 4) + 8,
        _ => ((mantissa << 4) + 0x108) << (segment - 1),
    };
    (if sign != 0 { magnitude } else { -magnitude }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_round_trips_within_quantization() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let back = mulaw_to_linear(linear_to_mulaw(s));
            let err = (i32::from(s) - i32::from(back)).abs();
            let allowed = (i32::from(s).abs() / 16).max(8) + 2;
            assert!(err <= allowed, "{s} -> {back} (err {err})");
        }
    }

    #[test]
    fn alaw_round_trips_within_quantization() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let back = alaw_to_linear(linear_to_alaw(s));
            let err = (i32::from(s) - i32::from(back)).abs();
            let allowed = (i32::from(s).abs() / 16).max(16) + 2;
            assert!(err <= allowed, "{s} -> {back} (err {err})");
        }
    }

    #[test]
    fn reference_codes() {
        // Silence encodes to the well-known idle patterns.
        assert_eq!(linear_to_mulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(mulaw_to_linear(0xFF), 0);
        assert_eq!(mulaw_to_linear(0x00), -32_124);
        assert_eq!(mulaw_to_linear(0x80), 32_124);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        // Full scale.
        assert_eq!(linear_to_mulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_mulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_decodes_and_reencodes_to_itself() {
        for b in 0..=255u8 {
            // 0x7F and 0xFF are -0/+0 in µ-law and both decode to 0.
            if b != 0x7F {
                assert_eq!(linear_to_mulaw(mulaw_to_linear(b)), b, "mulaw {b:#x}");
            }
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b, "alaw {b:#x}");
        }
    }
}
