//! Resource identifiers in AWS's shapes (`eni-0a1b2c3d4e5f67890`, 17 hex digits), and MAC
//! addresses. Deterministic: the same world and the same calls give the same ids, so runs are
//! reproducible.

use serde::{Deserialize, Serialize};

/// A counter scrambled through splitmix64, so ids look like AWS's and never repeat.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdGen {
    next: u64,
}

pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A version-4 UUID's text shape (`xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx`) filled from two
/// scrambled numbers: AWS's request ids and Azure's GUIDs.
pub fn uuid_shaped(a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

impl IdGen {
    fn bump(&mut self) -> u64 {
        self.next += 1;
        splitmix64(self.next)
    }

    /// The next sequence number and, from it, 16 lowercase hex digits (ELBv2's ARN
    /// suffixes). The number orders resources by creation; the digits never repeat because
    /// splitmix64 is a bijection.
    pub fn sequenced(&mut self) -> (u64, String) {
        self.next += 1;
        (self.next, format!("{:016x}", splitmix64(self.next)))
    }

    /// `prefix-0` followed by 16 hex digits (AWS's long id format).
    pub fn id(&mut self, prefix: &str) -> String {
        format!("{prefix}-0{:016x}", self.bump())
    }

    /// A locally administered unicast MAC address.
    pub fn mac(&mut self) -> String {
        let v = self.bump();
        let b = v.to_be_bytes();
        format!(
            "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4]
        )
    }

    /// A request id in the UUID shape AWS uses.
    pub fn request_id(&mut self) -> String {
        let a = self.bump();
        uuid_shaped(a, splitmix64(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shapes_and_do_not_repeat() {
        let mut g = IdGen::default();
        let a = g.id("eni");
        let b = g.id("eni");
        assert_ne!(a, b);
        assert_eq!(a.len(), "eni-".len() + 17);
        assert!(g.mac().starts_with("02:"));
        assert_eq!(g.request_id().len(), 36);
    }

    #[test]
    fn sequenced_ids_count_up_and_do_not_repeat() {
        let mut g = IdGen::default();
        let ids: Vec<(u64, String)> = (0..1000).map(|_| g.sequenced()).collect();
        assert_eq!(ids[0].0, 1);
        assert_eq!(ids[999].0, 1000);
        let distinct: std::collections::BTreeSet<&String> = ids.iter().map(|(_, id)| id).collect();
        assert_eq!(distinct.len(), 1000);
        assert!(ids.iter().all(|(_, id)| id.len() == 16));
        // Reproducible: a fresh generator gives the same ids.
        assert_eq!(IdGen::default().sequenced(), ids[0]);
    }
}
